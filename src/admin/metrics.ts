/**
 * Prometheus metrics (`GET /metrics`, prom-client). Labels are low-cardinality and never carry a
 * secret: provider and team-client names come from the config, keys appear only as counts, and model
 * names are capped (a passthrough provider forwards whatever model a client sends, so after
 * MODEL_LABELS distinct values the rest are counted as `other`). Gauges that mirror the supervisor's
 * state (breakers, keys) are computed when scraped, not kept up to date on the hot path.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { Piscina } from 'piscina'
import type { Supervisor } from '../supervisor/supervisor.js'
import type { FinishedRequest } from './activity.js'
import { keyAvailable } from './status.js'

const MODEL_LABELS = 64
const BREAKER_VALUE = { closed: 0, half_open: 1, open: 2 } as const

/** What the metrics read from the running relay when scraped. */
export interface MetricsSources {
  readonly supervisor: () => Supervisor
  readonly activeRequests: () => number
  readonly pool: () => Piscina | undefined
}

export class RelayMetrics {
  readonly registry = new Registry()
  readonly #models = new Set<string>()
  readonly #requests: Counter<'route' | 'provider' | 'model' | 'status' | 'client'>
  readonly #duration: Histogram<'route' | 'provider'>
  readonly #ttfb: Histogram<'provider'>
  readonly #tokens: Counter<'provider' | 'model' | 'client' | 'kind'>
  readonly #cost: Counter<'provider' | 'client'>
  readonly #attempts: Counter<'provider' | 'status'>
  readonly #failovers: Counter<'provider' | 'reason'>
  readonly #rateLimited: Counter<'scope'>
  readonly #queueWait: Histogram<never>
  readonly #reloads: Counter<'result'>

  constructor(sources: MetricsSources) {
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry, prefix: 'cc_relay_' })
    this.#requests = new Counter({ name: 'cc_relay_requests_total', help: 'Client requests by route, serving provider, upstream model, final status and team client', labelNames: ['route', 'provider', 'model', 'status', 'client'], registers })
    this.#duration = new Histogram({
      name: 'cc_relay_request_duration_seconds',
      help: 'Whole request time, arrival to last byte',
      labelNames: ['route', 'provider'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
      registers,
    })
    this.#ttfb = new Histogram({
      name: 'cc_relay_time_to_first_byte_seconds',
      help: "Dispatch to the upstream's response head, per served request",
      labelNames: ['provider'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    })
    this.#tokens = new Counter({ name: 'cc_relay_tokens_total', help: 'Tokens reported in upstream usage, by kind (input, output, cache_read, cache_creation)', labelNames: ['provider', 'model', 'client', 'kind'], registers })
    this.#cost = new Counter({ name: 'cc_relay_estimated_cost_usd_total', help: 'Estimated cost from the price table (USD)', labelNames: ['provider', 'client'], registers })
    this.#attempts = new Counter({ name: 'cc_relay_upstream_attempts_total', help: 'Upstream attempts by provider and upstream status (0 = no answer)', labelNames: ['provider', 'status'], registers })
    this.#failovers = new Counter({ name: 'cc_relay_failovers_total', help: 'Attempts abandoned for another key or provider, by the provider left and why', labelNames: ['provider', 'reason'], registers })
    this.#rateLimited = new Counter({ name: 'cc_relay_rate_limited_total', help: "Requests the relay answered 429 itself: every key busy (scope=key) or a team client's own limit (scope=client)", labelNames: ['scope'], registers })
    this.#queueWait = new Histogram({ name: 'cc_relay_queue_wait_seconds', help: 'Time requests waited for a free key (routing.queue_timeout_ms)', buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60], registers })
    this.#reloads = new Counter({ name: 'cc_relay_config_reloads_total', help: 'Config reloads by result (applied, invalid)', labelNames: ['result'], registers })

    new Gauge({ name: 'cc_relay_active_requests', help: 'Client requests in flight (streams included)', registers, collect() { this.set(sources.activeRequests()) } })
    new Gauge({
      name: 'cc_relay_breaker_state',
      help: 'Circuit breaker per provider: 0 closed, 1 half-open, 2 open',
      labelNames: ['provider'],
      registers,
      collect() {
        this.reset()
        for (const p of sources.supervisor().state.providers) this.set({ provider: p.config.name }, BREAKER_VALUE[p.breaker.state])
      },
    })
    new Gauge({
      name: 'cc_relay_keys_available',
      help: 'Pooled keys per provider that can take a request now (not cooling down, not refused, under their limits)',
      labelNames: ['provider'],
      registers,
      collect() {
        this.reset()
        const now = Date.now()
        for (const p of sources.supervisor().state.providers) this.set({ provider: p.config.name }, p.keys.filter((k) => keyAvailable(k, now)).length)
      },
    })
    new Gauge({
      name: 'cc_relay_keys',
      help: 'Pooled keys per provider',
      labelNames: ['provider'],
      registers,
      collect() {
        this.reset()
        for (const p of sources.supervisor().state.providers) this.set({ provider: p.config.name }, p.keys.length)
      },
    })
    new Gauge({
      name: 'cc_relay_worker_pool_utilization',
      help: "Piscina's utilization of the worker pool (0–1); 0 when no provider needs worker threads",
      registers,
      collect() { this.set(sources.pool()?.utilization ?? 0) },
    })
    new Gauge({ name: 'cc_relay_worker_threads', help: 'Worker threads running', registers, collect() { this.set(sources.pool()?.threads.length ?? 0) } })
    new Gauge({ name: 'cc_relay_worker_queue_size', help: 'Tasks waiting for a worker thread', registers, collect() { this.set(sources.pool()?.queueSize ?? 0) } })
  }

  #model(model: string | undefined): string {
    if (!model) return ''
    if (this.#models.has(model)) return model
    if (this.#models.size >= MODEL_LABELS) return 'other'
    this.#models.add(model)
    return model
  }

  finished(r: FinishedRequest, durationMs: number, cost: number | undefined): void {
    const provider = r.provider ?? ''
    const model = this.#model(r.upstreamModel)
    this.#requests.inc({ route: r.route, provider, model, status: String(r.status), client: r.client })
    this.#duration.observe({ route: r.route, provider }, durationMs / 1000)
    if (r.usage) {
      const labels = { provider, model, client: r.client }
      if (r.usage.input_tokens) this.#tokens.inc({ ...labels, kind: 'input' }, r.usage.input_tokens)
      if (r.usage.output_tokens) this.#tokens.inc({ ...labels, kind: 'output' }, r.usage.output_tokens)
      if (r.usage.cache_read_input_tokens) this.#tokens.inc({ ...labels, kind: 'cache_read' }, r.usage.cache_read_input_tokens)
      if (r.usage.cache_creation_input_tokens) this.#tokens.inc({ ...labels, kind: 'cache_creation' }, r.usage.cache_creation_input_tokens)
    }
    if (cost) this.#cost.inc({ provider, client: r.client }, cost)
  }

  attempt(provider: string, status: number, ttfbMs: number): void {
    this.#attempts.inc({ provider, status: String(status) })
    if (ttfbMs >= 0) this.#ttfb.observe({ provider }, ttfbMs / 1000)
  }

  failover(provider: string, reason: string): void {
    this.#failovers.inc({ provider, reason })
  }

  rateLimited(scope: 'key' | 'client'): void {
    this.#rateLimited.inc({ scope })
  }

  queueWait(ms: number): void {
    this.#queueWait.observe(ms / 1000)
  }

  reload(result: 'applied' | 'invalid'): void {
    this.#reloads.inc({ result })
  }
}
