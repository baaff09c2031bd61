/**
 * The ledger in Redis (`state.store: redis`, CONTRACT §9): every relay adds to the same rows, so each
 * sees the team's totals and budgets hold across relays. One hash per UTC day:
 * `{prefix}usage:{day}`, field `{client}\0{provider}\0{model}\0{group}\0{counter}` (rows booked before
 * groups existed have no group part), added to with HINCRBY (token counts) and HINCRBYFLOAT (USD) in one
 * MULTI per batch, and `{prefix}spend:{day}`, field `{client}` or `\0{group}` (a group's pool), the day's
 * USD per client and group for the budgets. Both expire `usage.retention_days` after their day.
 */
import { Redis } from 'ioredis'
import type { RelayConfig } from '../config/types.js'
import { groupAccount } from './ledger.js'
import type { LedgerStore, SpendByDay } from './ledger.js'
import { addDays, COUNTERS, emptyRow, rowKey, utcDay } from './rows.js'
import type { Counter, LedgerRow } from './rows.js'

const DAY_S = 86_400

export class RedisLedgerStore implements LedgerStore {
  readonly kind = 'redis'
  readonly #redis: Redis
  readonly #prefix: string
  readonly #ttlS: number

  constructor(config: RelayConfig) {
    const { url, key_prefix, connect_timeout_ms, command_timeout_ms } = config.state.redis
    this.#prefix = key_prefix
    this.#ttlS = (config.usage.retention_days + 1) * DAY_S
    this.#redis = new Redis(url, {
      connectTimeout: connect_timeout_ms,
      // A batch is small; a slow Redis must not hold the next second's batch for long.
      commandTimeout: Math.max(command_timeout_ms, 2000),
      // While Redis is away a write fails at once and the ledger keeps the batch for later.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (times) => Math.min(100 * times, 2000),
    })
    this.#redis.on('error', () => {}) // the ledger logs a failing write once
    this.#connectMs = connect_timeout_ms
  }

  readonly #connectMs: number

  /** The first commands wait for the connection (up to connect_timeout_ms); later ones fail at once while it is down. */
  async #ready(): Promise<void> {
    if (this.#redis.status === 'ready') return
    await new Promise<void>((resolve, reject) => {
      const onReady = (): void => {
        clearTimeout(timer)
        resolve()
      }
      // Removed on timeout: a Redis that stays away must not collect a listener per second.
      const timer = setTimeout(() => {
        this.#redis.off('ready', onReady)
        reject(new Error(`redis not ready within ${this.#connectMs} ms`))
      }, this.#connectMs)
      this.#redis.once('ready', onReady)
    })
  }

  #usageKey = (day: string): string => `${this.#prefix}usage:${day}`
  #spendKey = (day: string): string => `${this.#prefix}spend:${day}`

  async add(rows: readonly LedgerRow[]): Promise<void> {
    await this.#ready()
    const multi = this.#redis.multi()
    const days = new Set<string>()
    for (const row of rows) {
      days.add(row.day)
      const base = `${row.client}\u0000${row.provider}\u0000${row.model}\u0000${row.group}\u0000`
      for (const c of COUNTERS) {
        if (row[c] === 0) continue
        if (c === 'cost_usd') multi.hincrbyfloat(this.#usageKey(row.day), base + c, row[c])
        else multi.hincrby(this.#usageKey(row.day), base + c, row[c])
      }
      if (row.cost_usd !== 0) {
        multi.hincrbyfloat(this.#spendKey(row.day), row.client, row.cost_usd)
        if (row.group !== '') multi.hincrbyfloat(this.#spendKey(row.day), groupAccount(row.group), row.cost_usd)
      }
    }
    for (const day of days) {
      const expireAt = Math.floor(Date.parse(`${day}T00:00:00Z`) / 1000) + this.#ttlS
      multi.expireat(this.#usageKey(day), expireAt)
      multi.expireat(this.#spendKey(day), expireAt)
    }
    const results = await multi.exec()
    const failed = results?.find(([err]) => err)
    if (!results || failed) throw new Error(`redis refused the batch: ${failed?.[0]?.message ?? 'transaction aborted'}`)
  }

  async read(since: string, until: string): Promise<LedgerRow[]> {
    await this.#ready()
    const days: string[] = []
    for (let day = since; day <= until && days.length < 4000; day = addDays(day, 1)) days.push(day)
    const pipeline = this.#redis.pipeline()
    for (const day of days) pipeline.hgetall(this.#usageKey(day))
    const results = (await pipeline.exec()) ?? []
    const rows = new Map<string, LedgerRow>()
    results.forEach(([err, hash], i) => {
      if (err) throw err
      const day = days[i]!
      for (const [field, value] of Object.entries(hash as Record<string, string>)) {
        const parts = field.split('\u0000')
        // Four parts: a row booked before groups existed.
        const [client, provider, model, group, counter] = (parts.length === 4 ? [...parts.slice(0, 3), '', parts[3]] : parts) as [string, string, string, string, string]
        if (!(COUNTERS as readonly string[]).includes(counter)) continue
        const key = rowKey({ day, client, provider, model, group })
        let row = rows.get(key)
        if (!row) rows.set(key, (row = emptyRow(day, client, provider, model, group)))
        row[counter as Counter] += Number(value)
      }
    })
    return [...rows.values()]
  }

  async spendSince(day: string): Promise<SpendByDay> {
    await this.#ready()
    const days: string[] = []
    for (let d = day, today = utcDay(Date.now()); d <= today; d = addDays(d, 1)) days.push(d)
    const pipeline = this.#redis.pipeline()
    for (const d of days) pipeline.hgetall(this.#spendKey(d))
    const results = (await pipeline.exec()) ?? []
    const spend: SpendByDay = new Map()
    results.forEach(([err, hash], i) => {
      if (err) throw err
      for (const [client, usd] of Object.entries(hash as Record<string, string>)) {
        let perDay = spend.get(client)
        if (!perDay) spend.set(client, (perDay = new Map()))
        perDay.set(days[i]!, Number(usd))
      }
    })
    return spend
  }

  /** Days expire on their own (EXPIREAT at each write). */
  async prune(): Promise<void> {}

  async close(): Promise<void> {
    this.#redis.disconnect()
  }
}
