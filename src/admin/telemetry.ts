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
import type { UsageLedger } from '../ledger/ledger.js'
import type { Tracing } from '../tracing/tracing.js'
import type { RefusalReason } from '../admission/refusal.js'

export class Telemetry {
  readonly activity: Activity
  readonly metrics: RelayMetrics
  /** The usage ledger (CONTRACT §9), once its store is open. */
  ledger: UsageLedger | undefined
  /** OpenTelemetry export (CONTRACT §11); undefined when no OTLP endpoint is configured (src/tracing/ not loaded). */
  tracing: Tracing | undefined

  constructor(pricing: Readonly<Record<string, ModelPrice>>, sources: MetricsSources) {
    this.activity = new Activity(new PriceTable(pricing))
    this.metrics = new RelayMetrics(sources)
  }

  /** A reload's new price table applies to requests that finish from now on. */
  setPricing(pricing: Readonly<Record<string, ModelPrice>>): void {
    this.activity.prices = new PriceTable(pricing)
  }

  /** Books a finished request; returns its estimated cost (undefined: no price or no usage), for its trace. */
  finished(r: FinishedRequest, durationMs: number): number | undefined {
    // Priced once: the books, the ledger, the metrics and the trace get the same figure.
    const cost = this.activity.finished(r)
    this.metrics.finished(r, durationMs, cost)
    // Only a Messages request that reached an upstream is in the ledger; the relay's own refusals are not,
    // nor count_tokens calls (no tokens spent, no cost: booked, they would inflate `requests`).
    if (r.route === 'messages' && r.provider && r.upstreamModel && r.usage) this.ledger?.book({ client: r.client, group: r.group, provider: r.provider, model: r.upstreamModel, usage: r.usage, cost: cost ?? 0 })
    return cost
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

  rateLimited(scope: 'key' | 'client' | 'budget'): void {
    this.metrics.rateLimited(scope)
  }

  /** The admission step refused a request (CONTRACT §10): counted by reason. */
  refused(reason: RefusalReason): void {
    this.metrics.refused(reason)
  }

  queueWait(ms: number): void {
    this.metrics.queueWait(ms)
  }

  /** Trace spans lost on their way to the collector (CONTRACT §11). */
  telemetryDropped(spans: number, reason: string): void {
    this.metrics.telemetryDropped(spans, reason)
  }
}
