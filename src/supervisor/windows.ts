/**
 * Sliding 60-second windows (issue: "N per minute means exactly N"): not fixed buckets, which admit up
 * to 2N across a bucket edge. Pure data plus functions of `now`; the reducer owns them.
 */

export const WINDOW_MS = 60_000

/** Request admissions: a ring of the last `limit` admission times. Admit when the oldest has aged out. */
export class RequestWindow {
  readonly limit: number
  readonly #times: number[]
  #next = 0

  constructor(limit: number) {
    this.limit = limit
    this.#times = new Array<number>(limit).fill(-Infinity)
  }

  /** Milliseconds until one more request may be admitted (0 = now). */
  waitMs(now: number): number {
    if (this.limit === 0) return 0
    return Math.max(0, this.#times[this.#next]! + WINDOW_MS - now)
  }

  admit(now: number): void {
    if (this.limit === 0) return
    this.#times[this.#next] = now
    this.#next = (this.#next + 1) % this.limit
  }

  /** Admissions in the last 60 s. */
  used(now: number): number {
    return this.#times.filter((t) => t > now - WINDOW_MS).length
  }

  /**
   * The same admissions under a new limit (a reload): a lowered limit must not hand out a fresh minute.
   * Unchanged limits keep this very window.
   */
  withLimit(limit: number): RequestWindow {
    if (limit === this.limit) return this
    const next = new RequestWindow(limit)
    if (limit === 0) return next
    const times = this.#times.filter((t) => Number.isFinite(t)).sort((a, b) => a - b).slice(-limit)
    for (const t of times) next.admit(t)
    return next
  }
}

interface TokenEntry {
  readonly at: number
  tokens: number
}

/**
 * Tokens per sliding minute. A request reserves an estimate when it is admitted; its real usage replaces
 * the estimate when it ends, so concurrent requests cannot jointly overshoot and finished ones count what
 * they really cost. The entry keeps its admission time either way.
 */
export class TokenWindow {
  readonly limit: number
  readonly #entries: TokenEntry[] = []
  #sum = 0

  constructor(limit: number) {
    this.limit = limit
  }

  #expire(now: number): void {
    let drop = 0
    while (drop < this.#entries.length && this.#entries[drop]!.at <= now - WINDOW_MS) this.#sum -= this.#entries[drop++]!.tokens
    if (drop) this.#entries.splice(0, drop)
  }

  used(now: number): number {
    this.#expire(now)
    return this.#sum
  }

  /** Milliseconds until `tokens` more fit (0 = now). A request larger than the whole limit fits an empty window. */
  waitMs(tokens: number, now: number): number {
    if (this.limit === 0) return 0
    this.#expire(now)
    let excess = this.#sum + Math.min(tokens, this.limit) - this.limit
    if (excess <= 0) return 0
    for (const e of this.#entries) {
      excess -= e.tokens
      if (excess <= 0) return e.at + WINDOW_MS - now
    }
    return WINDOW_MS
  }

  reserve(tokens: number, now: number): TokenEntry | undefined {
    if (this.limit === 0) return undefined
    const entry = { at: now, tokens }
    this.#entries.push(entry)
    this.#sum += tokens
    return entry
  }

  /** The same entries under a new limit (a reload); settling a reservation still works on the result. */
  withLimit(limit: number): TokenWindow {
    if (limit === this.limit) return this
    const next = new TokenWindow(limit)
    if (limit === 0) return next
    next.#entries.push(...this.#entries)
    next.#sum = this.#sum
    return next
  }

  /** Replaces a reservation with what the request really used. */
  settle(entry: TokenEntry | undefined, tokens: number, now: number): void {
    if (!entry) return
    this.#expire(now)
    if (!this.#entries.includes(entry)) return // already aged out
    this.#sum += tokens - entry.tokens
    entry.tokens = tokens
  }
}

export type { TokenEntry }
