/**
 * A circuit breaker per provider: closed → open after `failure_threshold` consecutive failures (transport
 * errors, timeouts, 5xx, 529; not 4xx, which are the request's fault) → half-open after
 * `open_duration_ms`, admitting at most `half_open_probes` requests at a time → closed on a probe's
 * success, open again on a probe's failure.
 */
import type { CircuitBreakerConfig } from '../config/types.js'

export type BreakerState = 'closed' | 'open' | 'half_open'

export class Breaker {
  state: BreakerState = 'closed'
  failures = 0
  openUntil = 0
  probesInFlight = 0
  /** Counts half-open periods, so a probe from an earlier one cannot free a slot in the current one. */
  epoch = 0
  #config: CircuitBreakerConfig

  constructor(config: CircuitBreakerConfig) {
    this.#config = config
  }

  reconfigure(config: CircuitBreakerConfig): void {
    this.#config = config
  }

  /** Whether a request may go to this provider now; a half-open breaker counts the probe it admits. */
  admit(now: number): boolean {
    if (this.state === 'open' && now >= this.openUntil) {
      this.state = 'half_open'
      this.probesInFlight = 0
      this.epoch++
    }
    if (this.state === 'closed') return true
    if (this.state === 'open') return false
    if (this.probesInFlight >= this.#config.half_open_probes) return false
    this.probesInFlight++
    return true
  }

  /** Would `admit` succeed, without counting a probe. */
  available(now: number): boolean {
    if (this.state === 'closed') return true
    if (this.state === 'open') return now >= this.openUntil
    return this.probesInFlight < this.#config.half_open_probes
  }

  success(): void {
    this.state = 'closed'
    this.failures = 0
    this.probesInFlight = 0
  }

  failure(now: number): void {
    if (this.state === 'half_open' || ++this.failures >= this.#config.failure_threshold) {
      this.state = 'open'
      this.openUntil = now + this.#config.open_duration_ms
      this.probesInFlight = 0
    }
  }

  /** Another relay saw this provider fail: open until `until` (a later deadline here is kept). */
  openFor(until: number): void {
    if (this.state === 'open' && this.openUntil >= until) return
    this.state = 'open'
    this.openUntil = until
    this.probesInFlight = 0
  }

  /** A probe of half-open period `epoch` ended without telling anything about health (client gone, 4xx). */
  release(epoch: number): void {
    if (this.state === 'half_open' && epoch === this.epoch && this.probesInFlight > 0) this.probesInFlight--
  }
}
