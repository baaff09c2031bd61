/**
 * Per-IP limits on the sign-in steps a stranger can repeat (RFC 8628 §5.1: the user code is short, so
 * guessing it must be slow): a sliding window of attempts per peer address, on this relay.
 */
export class RateLimit {
  readonly #max: number
  readonly #windowMs: number
  readonly #hits = new Map<string, number[]>()

  constructor(max: number, windowMs: number) {
    this.#max = max
    this.#windowMs = windowMs
  }

  /** Counts an attempt from `peer`; false when it is over the limit (the attempt is still counted). */
  allow(peer: string, now = Date.now()): boolean {
    const since = now - this.#windowMs
    const hits = (this.#hits.get(peer) ?? []).filter((t) => t > since)
    hits.push(now)
    this.#hits.set(peer, hits)
    // Bounded: forget peers whose windows are over once the map grows.
    if (this.#hits.size > 10_000) for (const [p, h] of this.#hits) if ((h[h.length - 1] ?? 0) <= since) this.#hits.delete(p)
    return hits.length <= this.#max
  }
}
