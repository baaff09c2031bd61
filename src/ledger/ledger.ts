/**
 * The usage ledger (CONTRACT §9, issue 16). Each request that reached an upstream is booked when its
 * answer ends: into the rows waiting to be written, and into each client's spend per day, which the
 * budgets read. Writing happens off the request path, once a second and at shutdown, in one batch
 * (a `kill -9` loses at most the last second). Reports merge what is written with what is waiting.
 *
 * The store is a file database on one relay, Redis hashes when relays share state, or nothing
 * (`usage.db: off`). A store that fails keeps the batch in memory and retries it next second; the
 * failure is logged once until a write succeeds again.
 */
import type { BudgetPeriod } from '../config/types.js'
import type { Logger } from '../shared/log.js'
import type { Usage } from '../shared/protocol.js'
import { addDays, addInto, emptyRow, periodOf, rowKey, utcDay } from './rows.js'
import type { LedgerRow } from './rows.js'

export interface LedgerStore {
  /** `file` (with its path), `redis` or `memory`: for the status page and logs. */
  readonly kind: string
  /** Rows of days `since` … `until` (inclusive, `YYYY-MM-DD`). */
  read(since: string, until: string): Promise<LedgerRow[]>
  /** Adds the rows' counters to what is stored (creating rows), durably, as one transaction. */
  add(rows: readonly LedgerRow[]): Promise<void>
  /** Drops rows of days before `day` (usage.retention_days). */
  prune(day: string): Promise<void>
  /**
   * A store other relays write too (Redis): every client's and group's spend per day since `day`, all
   * relays together. The ledger reads it after each write, so budgets hold across relays.
   */
  spendSince?(day: string): Promise<SpendByDay>
  close(): Promise<void>
}

/** Spend account → UTC day → USD. An account is a client's name, or `groupAccount(name)` for a group's pool. */
export type SpendByDay = Map<string, Map<string, number>>

/** A group's pooled spend, kept beside the clients' (NUL never occurs in a configured name). */
export const groupAccount = (group: string): string => `\u0000${group}`

function addSpend(into: SpendByDay, account: string, day: string, usd: number): void {
  if (usd === 0) return
  let days = into.get(account)
  if (!days) into.set(account, (days = new Map()))
  days.set(day, (days.get(day) ?? 0) + usd)
}

/** A row's spend, for its client and (when it has one) its group. */
function addRowSpend(into: SpendByDay, row: Pick<LedgerRow, 'client' | 'group' | 'day'>, usd: number): void {
  addSpend(into, row.client, row.day, usd)
  if (row.group !== '') addSpend(into, groupAccount(row.group), row.day, usd)
}

/** Days of spend kept in memory for the budgets: enough for any month. */
const SPEND_DAYS = 32
const FLUSH_MS = 1000
const DAY_MS = 86_400_000
const PRUNE_EVERY_MS = 3_600_000

export interface BookedRequest {
  readonly client: string
  /** The team group the request was booked to ('' for none): its pooled budget counts it. */
  readonly group: string
  readonly provider: string
  readonly model: string
  readonly usage: Usage
  /** USD from the price table; 0 when the model has no price. */
  readonly cost: number
}

export class UsageLedger {
  readonly #store: LedgerStore
  readonly #log: Logger
  readonly #retentionDays: number
  /** Rows booked since the last write, by rowKey. */
  #pending = new Map<string, LedgerRow>()
  /**
   * What budgets are checked against: the spend the store has (read at start, and after each write
   * when other relays write it too) plus what this relay booked that the store does not have yet.
   */
  #stored: SpendByDay = new Map()
  readonly #unwritten: SpendByDay = new Map()
  #timer: NodeJS.Timeout | undefined
  #failing = false
  #lastPrune = 0
  #closed = false

  constructor(store: LedgerStore, log: Logger, retentionDays: number) {
    this.#store = store
    this.#log = log
    this.#retentionDays = retentionDays
  }

  get kind(): string {
    return this.#store.kind
  }

  /** Rows booked and not yet in the store (a store that is away keeps them here until it answers). */
  get unwrittenRows(): number {
    return this.#pending.size
  }

  /** Seeds the budgets' spend from the store, then writes once a second. */
  async start(now = Date.now()): Promise<void> {
    const today = utcDay(now)
    try {
      for (const row of await this.#store.read(addDays(today, -SPEND_DAYS), today)) addRowSpend(this.#stored, row, row.cost_usd)
    } catch (err) {
      // A shared store that is away at start: its spend is read after the first write that succeeds.
      this.#log.warn({ store: this.#store.kind, err: (err as Error).message }, 'usage ledger: could not read the spend so far; budgets count from now until the store answers')
    }
    this.#timer = setInterval(() => void this.flush(), FLUSH_MS)
    this.#timer.unref()
  }

  /** One request's usage, when its answer has ended. */
  book(r: BookedRequest, now = Date.now()): void {
    if (this.#closed) return
    const day = this.#dayOf(now)
    const key = rowKey({ day, client: r.client, provider: r.provider, model: r.model, group: r.group })
    let row = this.#pending.get(key)
    if (!row) this.#pending.set(key, (row = emptyRow(day, r.client, r.provider, r.model, r.group)))
    row.requests++
    row.input_tokens += r.usage.input_tokens
    row.output_tokens += r.usage.output_tokens
    row.cache_read_input_tokens += r.usage.cache_read_input_tokens
    row.cache_creation_input_tokens += r.usage.cache_creation_input_tokens
    row.cost_usd += r.cost
    addRowSpend(this.#unwritten, row, r.cost)
  }

  /** The UTC day of `now`; formatting a date costs more than the rest of a booking, so it is kept. */
  #dayOf(now: number): string {
    if (now < this.#dayStart || now >= this.#dayStart + DAY_MS) {
      this.#dayStart = now - (now % DAY_MS)
      this.#day = utcDay(this.#dayStart)
    }
    return this.#day
  }
  #dayStart = -Infinity
  #day = ''

  /** A spend account's spend in the current `period` (UTC): a client's name, or `groupAccount(group)`. */
  spent(account: string, period: BudgetPeriod, now = Date.now()): number {
    const { start } = periodOf(period, now)
    let total = 0
    for (const spend of [this.#stored, this.#unwritten]) {
      const days = spend.get(account)
      if (days) for (const [day, usd] of days) if (day >= start) total += usd
    }
    return total
  }

  /** Every client's spend per UTC day over the last `days` days, oldest first (the status page's chart). */
  dailySpend(days: number, now = Date.now()): { day: string; cost_usd: number }[] {
    const today = utcDay(now)
    const out: { day: string; cost_usd: number }[] = []
    for (let i = days - 1; i >= 0; i--) out.push({ day: addDays(today, -i), cost_usd: 0 })
    const index = new Map(out.map((d, i) => [d.day, i]))
    for (const spend of [this.#stored, this.#unwritten]) {
      for (const [account, perDay] of spend) {
        // Groups' pools count the same requests again.
        if (account.startsWith('\u0000')) continue
        for (const [day, usd] of perDay) {
          const i = index.get(day)
          if (i !== undefined) out[i]!.cost_usd += usd
        }
      }
    }
    return out
  }

  /** Written rows and those still waiting, merged, for days `since` … `until`. */
  rows(since: string, until: string): Promise<LedgerRow[]> {
    // One at a time with the writes: a batch is either in the store or still pending when it is read.
    return this.#exclusive(async () => {
      const merged = new Map<string, LedgerRow>()
      const take = (row: LedgerRow): void => {
        if (row.day < since || row.day > until) return
        const key = rowKey(row)
        let into = merged.get(key)
        if (!into) merged.set(key, (into = emptyRow(row.day, row.client, row.provider, row.model, row.group)))
        addInto(into, row)
      }
      for (const row of await this.#store.read(since, until)) take(row)
      for (const row of this.#pending.values()) take(row)
      return [...merged.values()].sort((a, b) => (a.day === b.day ? rowKey(a).localeCompare(rowKey(b)) : a.day.localeCompare(b.day)))
    })
  }

  /** Writes what is waiting (the timer's job; also at shutdown). */
  flush(): Promise<void> {
    return this.#exclusive(async () => {
      if (this.#pending.size > 0) await this.#write()
      // Other relays' spend, for the budgets, even when this one has booked nothing.
      else if (this.#store.spendSince) await this.#refresh()
      await this.#prune()
    })
  }

  async #write(): Promise<void> {
    const batch = this.#pending
    this.#pending = new Map()
    try {
      await this.#store.add([...batch.values()])
      if (this.#failing) this.#log.info({ store: this.#store.kind }, 'usage ledger: writing again')
      this.#failing = false
    } catch (err) {
      // Kept, merged into what came meanwhile, for the next attempt.
      for (const [key, row] of batch) {
        const into = this.#pending.get(key)
        if (into) addInto(into, row)
        else this.#pending.set(key, row)
      }
      if (!this.#failing) this.#log.warn({ store: this.#store.kind, err: (err as Error).message }, 'usage ledger: write failed; usage is kept in memory and written when the store answers')
      this.#failing = true
      return
    }
    // The batch's spend is the store's now. A store other relays write is read back whole instead.
    const fresh = await this.#refresh()
    for (const row of batch.values()) {
      addRowSpend(this.#unwritten, row, -row.cost_usd)
      if (!fresh) addRowSpend(this.#stored, row, row.cost_usd)
    }
  }

  /** A shared store's spend of every relay (undefined: the store has no such thing, or did not answer). */
  async #refresh(): Promise<SpendByDay | undefined> {
    if (!this.#store.spendSince) return undefined
    const fresh = await this.#store.spendSince(addDays(utcDay(Date.now()), -SPEND_DAYS)).catch(() => undefined)
    if (fresh) this.#stored = fresh
    return fresh
  }

  #queue: Promise<unknown> = Promise.resolve()
  #exclusive<T>(run: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(run, run)
    this.#queue = next.catch(() => {})
    return next
  }

  /** The last write, then the store is let go. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#timer)
    await this.flush()
    await this.#store.close()
  }

  async #prune(): Promise<void> {
    const now = Date.now()
    if (now - this.#lastPrune < PRUNE_EVERY_MS) return
    this.#lastPrune = now
    try {
      await this.#store.prune(addDays(utcDay(now), -this.#retentionDays))
    } catch {
      // The next hour tries again; old rows cost only disk.
    }
    const oldest = addDays(utcDay(now), -SPEND_DAYS)
    for (const spend of [this.#stored, this.#unwritten]) for (const days of spend.values()) for (const day of days.keys()) if (day < oldest) days.delete(day)
  }
}

/** A store that keeps nothing (`usage.db: off`): reports show what this process booked since it started. */
export class MemoryStore implements LedgerStore {
  readonly kind = 'memory'
  readonly #rows = new Map<string, LedgerRow>()

  async read(since: string, until: string): Promise<LedgerRow[]> {
    return [...this.#rows.values()].filter((r) => r.day >= since && r.day <= until).map((r) => ({ ...r }))
  }

  async add(rows: readonly LedgerRow[]): Promise<void> {
    for (const row of rows) {
      const key = rowKey(row)
      const into = this.#rows.get(key)
      if (into) addInto(into, row)
      else this.#rows.set(key, { ...row })
    }
  }

  async prune(day: string): Promise<void> {
    for (const [key, row] of this.#rows) if (row.day < day) this.#rows.delete(key)
  }

  async close(): Promise<void> {}
}
