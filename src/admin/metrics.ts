/**
 * Prometheus metrics (`GET /metrics`, prom-client). Labels are low-cardinality and never carry a
 * secret: provider and team-client names come from the config, keys appear only as counts, and model
 * names are capped (a passthrough provider forwards whatever model a client sends, so after
 * MODEL_LABELS distinct values the rest are counted as `other`). Gauges that mirror the supervisor's
 * state (breakers, keys) are computed when scraped, not kept up to date on the hot path.
 */
import { REFUSAL_REASONS } from '../admission/refusal.js'
import type { RefusalReason } from '../admission/refusal.js'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { Piscina } from 'piscina'
import type { Supervisor } from '../supervisor/supervisor.js'
import type { FinishedRequest } from './activity.js'
import type { UsageLedger } from '../ledger/ledger.js'
import { groupAccount } from '../ledger/ledger.js'
import { keyAvailable } from './status.js'
import { FAULT_BOUNDARIES } from '../shared/faults.js'

const MODEL_LABELS = 64

/**
 * Per-request counters summed in a Map under a string key and handed to prom-client only when scraped:
 * prom-client hashes a label object on every `inc`, which was most of the metrics' cost per request.
 */
class Sums<L extends string> {
  readonly #entries = new Map<string, { labels: Partial<Record<L, string>>; value: number }>()

  add(key: string, labels: () => Partial<Record<L, string>>, value: number): void {
    const entry = this.#entries.get(key)
    if (entry) entry.value += value
    else this.#entries.set(key, { labels: labels(), value })
  }

  /** A counter's `collect`: the running totals, as absolute values. */
  publish(counter: Counter<L>): void {
    counter.reset()
    for (const { labels, value } of this.#entries.values()) counter.inc(labels, value)
  }
}
const BREAKER_VALUE = { closed: 0, half_open: 1, open: 2 } as const

/** What the metrics read from the running relay when scraped. */
export interface MetricsSources {
  readonly supervisor: () => Supervisor
  readonly activeRequests: () => number
  readonly pool: () => Piscina | undefined
  readonly store: () => { readonly kind: string; readonly shared: boolean; readonly instances: number }
  readonly ledger: () => UsageLedger | undefined
  /** `state.store: redis` (bound at start): only then is there a shared state to be up or down. */
  readonly sharedStore: boolean
}

export class RelayMetrics {
  readonly registry = new Registry()
  readonly #models = new Set<string>()
  readonly #requests = new Sums<'route' | 'provider' | 'model' | 'status' | 'client' | 'rule'>()
  readonly #duration: Histogram<'route' | 'provider'>
  readonly #ttfb: Histogram<'provider'>
  readonly #tokens = new Sums<'provider' | 'model' | 'client' | 'kind'>()
  readonly #cost = new Sums<'provider' | 'client'>()
  readonly #attempts = new Sums<'provider' | 'status'>()
  readonly #failovers: Counter<'provider' | 'scope' | 'reason'>
  readonly #rateLimited: Counter<'scope'>
  readonly #refused: Counter<'reason'>
  readonly #queueWait: Histogram<never>
  readonly #reloads: Counter<'result'>
  readonly #internalErrors: Counter<'where'>
  readonly #telemetryDropped: Counter<'reason'>
  readonly #clientTelemetryForwarded: Counter<'signal'>
  readonly #clientTelemetryDropped: Counter<'signal' | 'reason'>

  constructor(sources: MetricsSources) {
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry, prefix: 'cc_relay_' })
    const sums = this
    new Counter({ name: 'cc_relay_requests_total', help: 'Client requests by route, serving provider, upstream model, final status, team client and the routing rule that matched', labelNames: ['route', 'provider', 'model', 'status', 'client', 'rule'], registers, collect() { sums.#requests.publish(this) } })
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
    new Counter({ name: 'cc_relay_tokens_total', help: 'Tokens reported in upstream usage, by kind (input, output, cache_read, cache_creation)', labelNames: ['provider', 'model', 'client', 'kind'], registers, collect() { sums.#tokens.publish(this) } })
    new Counter({ name: 'cc_relay_estimated_cost_usd_total', help: 'Estimated cost from the price table (USD)', labelNames: ['provider', 'client'], registers, collect() { sums.#cost.publish(this) } })
    new Counter({ name: 'cc_relay_upstream_attempts_total', help: 'Upstream attempts by provider and upstream status (0 = no answer)', labelNames: ['provider', 'status'], registers, collect() { sums.#attempts.publish(this) } })
    this.#failovers = new Counter({
      name: 'cc_relay_failovers_total',
      help: 'Attempts abandoned for another key (scope=key) or another provider (scope=provider), by the provider left and why',
      labelNames: ['provider', 'scope', 'reason'],
      registers,
    })
    this.#rateLimited = new Counter({ name: 'cc_relay_rate_limited_total', help: "Requests the relay answered 429 itself: every key busy (scope=key), a team client's own limit (scope=client) or its spend budget (scope=budget)", labelNames: ['scope'], registers })
    this.#refused = new Counter({ name: 'cc_relay_refused_total', help: 'Requests the admission step refused before any lease (CONTRACT §10), by reason: draining, ip, auth, model_policy, budget, limit', labelNames: ['reason'], registers })
    // Every reason has a series from the start: 0 on a relay that refused nothing.
    for (const reason of REFUSAL_REASONS) this.#refused.inc({ reason }, 0)
    this.#queueWait = new Histogram({ name: 'cc_relay_queue_wait_seconds', help: 'Time requests waited for a free key (routing.queue_timeout_ms)', buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60], registers })
    this.#reloads = new Counter({ name: 'cc_relay_config_reloads_total', help: 'Config reloads by result (applied, invalid)', labelNames: ['result'], registers })
    this.#internalErrors = new Counter({
      name: 'cc_relay_internal_errors_total',
      help: 'Faults inside the relay caught at a boundary (the request they hit got an error; the relay kept serving), by where they were caught',
      labelNames: ['where'],
      registers,
    })
    for (const where of FAULT_BOUNDARIES) this.#internalErrors.inc({ where }, 0)
    this.#telemetryDropped = new Counter({
      name: 'cc_relay_telemetry_dropped_total',
      help: 'Trace spans lost on the way to the OTLP collector: its queue was full (reason=queue_full) or it did not take an export (reason=export_failed)',
      labelNames: ['reason'],
      registers,
    })
    // Signed-in members' own OTLP (CONTRACT §12, `client_telemetry: forward`), counted in batches (one POST each).
    this.#clientTelemetryForwarded = new Counter({
      name: 'cc_relay_client_telemetry_forwarded_total',
      help: "Signed-in members' OTLP batches (POST /v1/metrics|logs|traces) the collector took, stamped with the member's email",
      labelNames: ['signal'],
      registers,
    })
    this.#clientTelemetryDropped = new Counter({
      name: 'cc_relay_client_telemetry_dropped_total',
      help: "Signed-in members' OTLP batches lost on the way to the collector: the forwarding queue was full (reason=queue_full) or the collector did not take it (reason=export_failed)",
      labelNames: ['signal', 'reason'],
      registers,
    })

    new Gauge({
      name: 'cc_relay_budget_spent_usd',
      help: "A team client's spend in its budget's current UTC period (CONTRACT §9)",
      labelNames: ['client'],
      registers,
      collect() {
        this.reset()
        const ledger = sources.ledger()
        for (const c of sources.supervisor().state.config.server.auth.clients) if (c.budget) this.set({ client: c.name }, ledger?.spent(c.name, c.budget.period) ?? 0)
      },
    })
    new Gauge({
      name: 'cc_relay_budget_limit_usd',
      help: "A team client's spend budget per period (USD)",
      labelNames: ['client'],
      registers,
      collect() {
        this.reset()
        for (const c of sources.supervisor().state.config.server.auth.clients) if (c.budget) this.set({ client: c.name }, c.budget.usd)
      },
    })
    new Gauge({
      name: 'cc_relay_group_budget_spent_usd',
      help: "A team group's pooled spend (all its members) in its budget's current UTC period (CONTRACT §10)",
      labelNames: ['group'],
      registers,
      collect() {
        this.reset()
        const ledger = sources.ledger()
        for (const g of sources.supervisor().state.config.server.auth.groups) if (g.budget) this.set({ group: g.name }, ledger?.spent(groupAccount(g.name), g.budget.period) ?? 0)
      },
    })
    new Gauge({
      name: 'cc_relay_group_budget_limit_usd',
      help: "A team group's pooled spend budget per period (USD)",
      labelNames: ['group'],
      registers,
      collect() {
        this.reset()
        for (const g of sources.supervisor().state.config.server.auth.groups) if (g.budget) this.set({ group: g.name }, g.budget.usd)
      },
    })
    new Gauge({
      name: 'cc_relay_usage_unwritten_rows',
      help: 'Usage ledger rows booked and not yet in its store (grows while the store, Redis say, is away; written when it answers)',
      registers,
      collect() { this.set(sources.ledger()?.unwrittenRows ?? 0) },
    })
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
    // Only with state.store redis: a memory store was never shared, and a 0 there would read as an alarm.
    if (sources.sharedStore) {
      new Gauge({
        name: 'cc_relay_shared_state_up',
        help: 'state.store redis: 1 while limits are shared through Redis, 0 while this relay enforces them locally (Redis unavailable)',
        registers,
        collect() { this.set(sources.store().shared ? 1 : 0) },
      })
    }
    new Gauge({ name: 'cc_relay_instances', help: 'Relay instances sharing state (1 with the memory store)', registers, collect() { this.set(sources.store().instances) } })
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
    const { route, client, status, rule } = r
    // NUL never occurs in a label value from the config or a model name, so the keys cannot collide.
    const who = `${provider}\0${model}\0${client}`
    this.#requests.add(`${who}\0${route}\0${status}\0${rule}`, () => ({ route, provider, model, status: String(status), client, rule }), 1)
    this.#duration.observe({ route, provider }, durationMs / 1000)
    const u = r.usage
    if (u) {
      const tokens = (kind: string, n: number): void => {
        if (n) this.#tokens.add(`${who}\0${kind}`, () => ({ provider, model, client, kind }), n)
      }
      tokens('input', u.input_tokens)
      tokens('output', u.output_tokens)
      tokens('cache_read', u.cache_read_input_tokens)
      tokens('cache_creation', u.cache_creation_input_tokens)
    }
    if (cost) this.#cost.add(`${provider}\0${client}`, () => ({ provider, client }), cost)
  }

  attempt(provider: string, status: number, ttfbMs: number): void {
    this.#attempts.add(`${provider}\0${status}`, () => ({ provider, status: String(status) }), 1)
    if (ttfbMs >= 0) this.#ttfb.observe({ provider }, ttfbMs / 1000)
  }

  failover(provider: string, scope: 'key' | 'provider', reason: string): void {
    this.#failovers.inc({ provider, scope, reason })
  }

  rateLimited(scope: 'key' | 'client' | 'budget'): void {
    this.#rateLimited.inc({ scope })
  }

  refused(reason: RefusalReason): void {
    this.#refused.inc({ reason })
  }

  queueWait(ms: number): void {
    this.#queueWait.observe(ms / 1000)
  }

  internalError(where: string): void {
    this.#internalErrors.inc({ where })
  }

  telemetryDropped(spans: number, reason: string): void {
    this.#telemetryDropped.inc({ reason }, spans)
  }

  clientTelemetryForwarded(signal: string): void {
    this.#clientTelemetryForwarded.inc({ signal })
  }

  clientTelemetryDropped(signal: string, reason: string): void {
    this.#clientTelemetryDropped.inc({ signal, reason })
  }

  reload(result: 'applied' | 'invalid'): void {
    this.#reloads.inc({ result })
  }
}
