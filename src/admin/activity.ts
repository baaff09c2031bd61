/**
 * What the relay has done lately, for the status page and `cc-relay status`: requests per second and
 * error rate over the last minute, the last failovers, and usage totals (requests, tokens, estimated
 * cost) per team client and per provider/model since start. Fed once per finished request on the main
 * thread; O(1) per request.
 */
import type { Usage } from '../shared/protocol.js'
import type { PriceTable } from './pricing.js'
import { RecentSessions } from './sessions.js'

/** One finished client request, as the request log sees it. */
export interface FinishedRequest {
  readonly route: string
  /** The team client's name (`server.auth.clients`), or '' for the shared key / no auth. */
  readonly client: string
  /**
   * False when the relay refused the caller before knowing who it is (draining, an address outside
   * allow_ips, a missing or wrong relay key): the request is in the traffic figures but in no client's
   * books. Absent counts as identified.
   */
  readonly identified?: boolean
  /** The team group it was booked to (CONTRACT §10), or ''. */
  readonly group: string
  /** The routing rule it matched (CONTRACT §8), or ''. */
  readonly rule: string
  readonly status: number
  /** Set when the relay (not the upstream) produced the error, or a stream ended in `event: error`. */
  readonly errorCode: string | undefined
  readonly provider: string | undefined
  readonly upstreamModel: string | undefined
  readonly usage: Usage | undefined
  /** Claude Code's `x-claude-code-session-id`, when it sent one. */
  readonly session?: string | undefined
}

export interface UsageTotals {
  requests: number
  errors: number
  input_tokens: number
  output_tokens: number
  cache_read_input_tokens: number
  cache_creation_input_tokens: number
  /** Estimated USD, of the requests whose model has a price. */
  cost_usd: number
  /** Requests whose model had no price (their cost is not in cost_usd). */
  unpriced_requests: number
}

export interface FailoverEvent {
  readonly at: number
  readonly request_id: string
  readonly provider: string
  /** Where the next attempt went: the same provider's next `key`, or another `provider` (CONTRACT §6). */
  readonly scope: 'key' | 'provider'
  /** The upstream status (`429`), an error before content (`overloaded_error`) or the relay's error code (`upstream_unreachable`). */
  readonly reason: string
}

const WINDOW_S = 60
const RECENT_FAILOVERS = 20

/**
 * An error (docs/operations.md "What counts as a request and an error"): every answer that is not a
 * success — 4xx (the relay's refusals included: a wrong key, a bad body, a policy, a limit), 5xx — and a
 * 2xx stream cut by `event: error`. A client that left before its answer (status 0) is not an error.
 */
export const isError = (r: Pick<FinishedRequest, 'status' | 'errorCode'>): boolean => r.status >= 400 || (r.status > 0 && r.errorCode !== undefined)

export const emptyTotals = (): UsageTotals => ({
  requests: 0,
  errors: 0,
  input_tokens: 0,
  output_tokens: 0,
  cache_read_input_tokens: 0,
  cache_creation_input_tokens: 0,
  cost_usd: 0,
  unpriced_requests: 0,
})

export class Activity {
  readonly startedAt = Date.now()
  prices: PriceTable
  /** Per-second request and error counts of the last minute, indexed by epoch second mod 60. */
  readonly #requests = new Uint32Array(WINDOW_S)
  readonly #errors = new Uint32Array(WINDOW_S)
  readonly #stamp = new Float64Array(WINDOW_S)
  readonly #failovers: FailoverEvent[] = []
  readonly byClient = new Map<string, UsageTotals>()
  /** Keyed `provider\u0000model`. */
  readonly byModel = new Map<string, UsageTotals & { provider: string; model: string }>()
  /** Claude Code sessions of the last hour (the status page's busiest sessions). */
  readonly sessions = new RecentSessions()
  /** Requests per routing rule that matched them, since start. */
  readonly ruleHits = new Map<string, number>()
  failoverCount = 0

  constructor(prices: PriceTable) {
    this.prices = prices
  }

  /** Books one finished request; returns its estimated cost (undefined: no price or no usage). */
  finished(r: FinishedRequest, now = Date.now()): number | undefined {
    const second = Math.floor(now / 1000)
    const slot = second % WINDOW_S
    if (this.#stamp[slot] !== second) {
      this.#stamp[slot] = second
      this.#requests[slot] = 0
      this.#errors[slot] = 0
    }
    const failed = isError(r)
    this.#requests[slot]!++
    if (failed) this.#errors[slot]!++
    const cost = r.usage && r.upstreamModel ? this.prices.costOf(r.upstreamModel, r.usage) : undefined
    if (r.rule) this.ruleHits.set(r.rule, (this.ruleHits.get(r.rule) ?? 0) + 1)
    if (r.identified === false) return cost
    if (r.session) this.sessions.record(r.session, r.client, r.usage, now)
    let client = this.byClient.get(r.client)
    if (!client) this.byClient.set(r.client, (client = emptyTotals()))
    add(client, r, failed, cost)
    if (r.provider && r.upstreamModel) {
      const key = `${r.provider}\u0000${r.upstreamModel}`
      let model = this.byModel.get(key)
      if (!model) this.byModel.set(key, (model = { provider: r.provider, model: r.upstreamModel, ...emptyTotals() }))
      add(model, r, failed, cost)
    }
    return cost
  }

  failover(event: FailoverEvent): void {
    this.failoverCount++
    this.#failovers.push(event)
    if (this.#failovers.length > RECENT_FAILOVERS) this.#failovers.shift()
  }

  /** Newest first. */
  recentFailovers(): readonly FailoverEvent[] {
    return [...this.#failovers].reverse()
  }

  /** Requests per second and the share of them that failed, over the last minute. */
  lastMinute(now = Date.now()): { requests_per_s: number; error_rate: number; window_s: number } {
    const second = Math.floor(now / 1000)
    let requests = 0
    let errors = 0
    for (let i = 0; i < WINDOW_S; i++) {
      if (this.#stamp[i]! > second - WINDOW_S) {
        requests += this.#requests[i]!
        errors += this.#errors[i]!
      }
    }
    // Until the relay has run a minute, the rate is over the time it has run.
    const span = Math.min(WINDOW_S, Math.max(1, (now - this.startedAt) / 1000))
    return { requests_per_s: requests / span, error_rate: requests ? errors / requests : 0, window_s: WINDOW_S }
  }
}

function add(totals: UsageTotals, r: FinishedRequest, failed: boolean, cost: number | undefined): void {
  totals.requests++
  if (failed) totals.errors++
  if (r.usage) {
    totals.input_tokens += r.usage.input_tokens
    totals.output_tokens += r.usage.output_tokens
    totals.cache_read_input_tokens += r.usage.cache_read_input_tokens
    totals.cache_creation_input_tokens += r.usage.cache_creation_input_tokens
  }
  const used = r.usage !== undefined && r.usage.input_tokens + r.usage.output_tokens > 0
  if (cost !== undefined) totals.cost_usd += cost
  else if (used) totals.unpriced_requests++
}
