/**
 * The one place request events go on the main thread: each feeds the status page's books (Activity)
 * and the Prometheus metrics, so the two never disagree about what happened.
 */
import type { ModelPrice } from '../config/types.js'
import { Activity } from './activity.js'
import type { FinishedRequest } from './activity.js'
import { RelayMetrics } from './metrics.js'
import type { MetricsSources } from './metrics.js'
import { PriceTable } from './pricing.js'

export class Telemetry {
  readonly activity: Activity
  readonly metrics: RelayMetrics

  constructor(pricing: Readonly<Record<string, ModelPrice>>, sources: MetricsSources) {
    this.activity = new Activity(new PriceTable(pricing))
    this.metrics = new RelayMetrics(sources)
  }

  /** A reload's new price table applies to requests that finish from now on. */
  setPricing(pricing: Readonly<Record<string, ModelPrice>>): void {
    this.activity.prices = new PriceTable(pricing)
  }

  finished(r: FinishedRequest, durationMs: number): void {
    // Priced once: the books and the metrics get the same figure.
    this.metrics.finished(r, durationMs, this.activity.finished(r))
  }

  /** One upstream attempt ended (the request may go on to another). */
  attempt(provider: string, status: number, ttfbMs: number): void {
    this.metrics.attempt(provider, status, ttfbMs)
  }

  /** An attempt given up for another: where the next one goes (`key` or `provider`, CONTRACT §6) and why. */
  failover(requestId: string, provider: string, scope: 'key' | 'provider', reason: string): void {
    this.activity.failover({ at: Date.now(), request_id: requestId, provider, scope, reason })
    this.metrics.failover(provider, scope, reason)
  }

  rateLimited(scope: 'key' | 'client'): void {
    this.metrics.rateLimited(scope)
  }

  queueWait(ms: number): void {
    this.metrics.queueWait(ms)
  }
}
