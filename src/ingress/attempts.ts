/**
 * One client request's attempts: lease → exchange → outcome, and failover before the first byte.
 *
 * A 429, 5xx or 529 answer, a connect/reset failure or a first-byte timeout moves on to the next lease
 * (the next key of the provider, then the next provider), each key at most once, within
 * `routing.max_attempts` and `routing.failover_timeout_ms`. Other 4xx go back to the client: the request
 * itself is wrong. A 401/403 to a pooled key fails over (the supervisor marks the key unusable); to the
 * client's own credential it goes back verbatim (CONTRACT §3). When the attempts run out, the client gets
 * the last upstream answer verbatim (CONTRACT §6). When every key is busy, the request waits up to
 * `routing.queue_timeout_ms` for one, else gets 429 with `retry-after`.
 */
import { hash } from 'node:crypto'
import type { HttpResponse } from 'uWebSockets.js'
import type { Route } from '../../plugins/sdk.js'
import { AGAIN } from '../admission/admission.js'
import type { Admitted, Caller } from '../admission/admission.js'
import { isUpstreamRateHeader } from '../admission/budgets.js'
import { relayError } from '../shared/errors.js'
import { fault } from '../shared/faults.js'
import type { RelayErrorData } from '../shared/errors.js'
import { noAttemptOutcome, PROTOCOL } from '../shared/protocol.js'
import type { Lease, LeaseReply, Outcome, RelayTask } from '../shared/protocol.js'
import type { RelayDeps } from './relay-handler.js'
import type { RequestLog } from './request-log.js'
import { sendError, sendJson, writeHead } from './respond.js'
import type { ResponseState } from './respond.js'
import type { Sniffed } from './sniff.js'
import { StreamBridge } from './stream-bridge.js'
import { affinityKey, sessionOf } from '../supervisor/affinity.js'
import { attemptScope } from '../supervisor/failure-scope.js'
import type { AttemptFacts } from '../supervisor/failure-scope.js'
import { stripContextMarker } from '../supervisor/model-map.js'
import type { RuleChoice } from '../shared/protocol.js'
import { rulesOf } from './rules.js'

/** How long a settled task's channel may still deliver its final message after the client has gone. */
const ABANDON_GRACE_MS = 1000

export interface RequestParts {
  readonly route: Route
  readonly query: string
  readonly headers: Record<string, string>
  readonly credential: Readonly<Record<string, string>>
  readonly body: Buffer
  readonly sniffed: Extract<Sniffed, { ok: true }>
  /** Who is calling, as the admission door found them. */
  readonly caller: Caller
}

interface LastAnswer {
  readonly status: number
  readonly headers: readonly string[]
  readonly body: Uint8Array
}

export class Attempts {
  readonly #deps: RelayDeps
  readonly #res: HttpResponse
  readonly #state: ResponseState
  readonly #requestId: string
  readonly #log: RequestLog
  readonly #parts: RequestParts
  readonly #tried = new Set<string>()
  readonly #refusedBy = new Set<number>()
  /** Providers that failed this request provider-wide: the next attempt goes elsewhere first. */
  readonly #failedProviders = new Set<number>()
  readonly #startedAt = Date.now()
  #attempts = 0
  /** Time spent waiting on upstreams in attempts that failed over (not the relay's own time). */
  #upstreamMs = 0
  #bridge: StreamBridge | undefined
  /** Providers whose half-open probes other relays have all taken (state.store: redis). */
  readonly #probesTaken = new Set<number>()
  /** The admission's verdict: the group booked to, the usage-limit headers. */
  #admitted: Admitted | undefined
  /** When this request started waiting for a free key (routing.queue_timeout_ms). */
  #queuedAt: number | undefined
  #last: LastAnswer | undefined
  #lastFailure: RelayErrorData | undefined

  constructor(deps: RelayDeps, res: HttpResponse, state: ResponseState, requestId: string, log: RequestLog, parts: RequestParts) {
    this.#deps = deps
    this.#res = res
    this.#state = state
    this.#requestId = requestId
    this.#log = log
    this.#parts = parts
    const own = parts.credential.authorization ?? parts.credential['x-api-key']
    this.#credentialHash = own === undefined ? undefined : hash('sha256', own, 'hex').slice(0, 12)
  }

  /** The routing rule this request matched (CONTRACT §8), decided once when it starts. */
  #rule: RuleChoice | undefined

  /**
   * The admission step (src/admission/) decides whether the request may go on: model policy, budgets,
   * the client's and its group's limits, and their shared counterparts across relays. With the memory
   * store it answers at once.
   */
  start(): void {
    this.#rule = this.#matchRule()
    if (this.#rule) this.#log.rule(this.#rule.name)
    const facts = { route: this.#parts.route, model: this.#parts.sniffed.model, estimate: this.#estimate(), sticky: this.#sticky() }
    this.#deps.admission.admit(this.#parts.caller, facts, (callback) => this.#log.onDone(callback), (verdict) =>
      this.#guard('attempts.admitted', () => {
        // A request ended meanwhile (a shutdown, a fault) starts nothing more.
        if (this.#log.finished) return
        if (!verdict.ok) {
          this.#log.refused(verdict.reason)
          // No group granted anything: the line names the caller's groups.
          this.#log.group(this.#parts.caller.profile.groups.join(', '))
          return this.#sendError(verdict.error, verdict.headers)
        }
        this.#admitted = verdict
        this.#log.group(verdict.group)
        this.#next()
      }),
    )
  }

  /** A callback's boundary: a fault ends this request with a 500, never the process or the caller's promise. */
  #guard(where: string, run: () => void): void {
    try {
      run()
    } catch (err) {
      this.#fault(where, err)
    }
  }

  #matchRule(): RuleChoice | undefined {
    const rules = rulesOf(this.#deps.config)
    if (rules.size === 0) return undefined
    const { sniffed, caller, headers } = this.#parts
    // The same input estimate the tpm reservations use (CONTRACT §8).
    return rules.match({ model: stripContextMarker(sniffed.model), inputTokens: this.#estimate().input, client: caller.profile.name, headers, body: sniffed.facts })
  }

  /** Token estimate for the windows: input ≈ body bytes / 4, output = max_tokens (4096 when absent). */
  #estimate(): { input: number; output: number } {
    // Asked for by every lease of the request: made once.
    this.#estimated ??= { input: Math.ceil(this.#parts.body.byteLength / 4), output: this.#parts.sniffed.maxTokens ?? 4096 }
    return this.#estimated
  }
  #estimated: { input: number; output: number } | undefined

  clientAborted(): void {
    // A request waiting in the queue notices on its next turn (#next).
    if (this.#bridge && !this.#bridge.ended) this.#bridge.clientAborted()
  }

  /**
   * Ends the request with `error` whatever it is doing (the shutdown path, and a fault's boundary): a
   * running attempt fails through its bridge (`event: error` once bytes have gone out), a request
   * between attempts or waiting for a key gets the error as its answer.
   */
  fail(error: RelayErrorData): void {
    if (this.#log.finished) return
    if (this.#bridge && !this.#bridge.ended) return this.#bridge.fail(error)
    this.#sendError(error)
  }

  /** A fault in this request's own code: reported, and the request ends with a 500 (never the process). */
  #fault(where: string, err: unknown): void {
    fault(where, err, this.#requestId)
    this.fail(relayError('internal', 'the relay failed while handling this request'))
  }

  #sessionId: string | undefined | null = null
  /** A short hash of the client's own credential, if it sent one (counted per login, never logged). */
  readonly #credentialHash: string | undefined

  /** The session's affinity key (kept per session and matched rule, affinity.ts), when affinity is on. */
  #sticky(): string | undefined {
    const session = this.#session()
    return session === undefined ? undefined : affinityKey(session, this.#rule?.name)
  }

  /** Read once per request, and only with affinity on. */
  #session(): string | undefined {
    if (this.#sessionId === null) {
      this.#sessionId = this.#deps.config.routing.affinity.enabled
        ? sessionOf(this.#parts.headers['x-claude-code-session-id'], this.#parts.sniffed.userId())
        : undefined
    }
    return this.#sessionId
  }

  #canRetry(): boolean {
    const routing = this.#deps.config.routing
    return this.#attempts < routing.max_attempts && Date.now() - this.#startedAt < routing.failover_timeout_ms
  }

  #next(): void {
    // A request ended meanwhile (a shutdown, a fault) starts nothing more.
    if (this.#log.finished) return
    if (this.#state.aborted) return this.#log.done(0, undefined)
    const { sniffed, route } = this.#parts
    const ask = {
      route,
      model: sniffed.model,
      hasClientCredential: this.#credentialHash !== undefined,
      clientCredentialHash: this.#credentialHash,
      tried: this.#tried,
      skipProviders: this.#refusedBy,
      avoidProviders: this.#failedProviders,
      probesTaken: this.#probesTaken,
      session: this.#session(),
      estimate: this.#estimate(),
      rule: this.#rule,
    }
    this.#deps.admission.lease(ask, this.#sticky(), (reply) => this.#guard('attempts.lease', () => this.#leased(reply)))
  }

  #leased(reply: LeaseReply | typeof AGAIN): void {
    if (reply === AGAIN) return this.#next()
    if (reply.ok) {
      // The client left, or the request was ended meanwhile, while the lease was being confirmed.
      if (this.#state.aborted || this.#log.finished) {
        this.#deps.admission.release(reply.lease)
        return this.#log.done(0, undefined)
      }
      if (this.#queuedAt !== undefined) this.#deps.telemetry.queueWait(Date.now() - this.#queuedAt)
      this.#queuedAt = undefined
      return this.#dispatch(reply.lease)
    }
    const { sniffed, route } = this.#parts
    if (this.#last) return this.#sendLast()
    if (this.#lastFailure && reply.exhausted) return this.#sendError(this.#lastFailure)
    // CONTRACT §4: a model that is served, but by providers without a token counter, gets an estimate.
    // A rule's providers serve what it matches, whatever their model lists say.
    if (route === 'count_tokens' && reply.error.code === 'model_not_served' && (this.#rule !== undefined || this.#deps.admission.serves('messages', sniffed.model))) {
      return this.#sendEstimate()
    }
    const wait = reply.retryAfterMs ?? 0
    const queueLeft = this.#startedAt + this.#deps.config.routing.queue_timeout_ms - Date.now()
    if (reply.error.code === 'rate_limited' && queueLeft > 0) {
      // Wait for the earliest key to free up (or the queue time to end), then ask again.
      this.#queuedAt ??= Date.now()
      setTimeout(() => this.#guard('attempts.queue', () => this.#next()), Math.max(1, Math.min(wait, queueLeft)))
      return
    }
    const retryAfter = reply.retryAfterMs === undefined ? [] : ['retry-after', String(Math.max(1, Math.ceil(wait / 1000)))]
    if (reply.error.code === 'rate_limited') this.#deps.telemetry.rateLimited('key')
    this.#sendError(reply.error, retryAfter)
  }

  #dispatch(lease: Lease): void {
    this.#attempts++
    this.#tried.add(lease.keyId)
    const { config, dispatch } = this.#deps
    const provider = config.providers[lease.provider]!
    const lane = dispatch.open(provider.type)
    this.#log.io(lane.io)
    const { route, query, headers, credential, body, sniffed } = this.#parts
    const task: RelayTask = {
      v: PROTOCOL,
      kind: 'relay',
      port: lane.port2,
      requestId: this.#requestId,
      route,
      query,
      headers,
      clientCredential: credential,
      body,
      modelSpan: sniffed.modelSpan,
      stream: sniffed.stream,
      maxTokens: sniffed.maxTokens,
      lease,
      // Tracing on: this attempt's span id is chosen now and goes upstream in its traceparent (CONTRACT §11).
      upstreamHeaders: this.#log.trace?.attemptStarted(provider, lease),
    }
    const debug = config.routing.debug
      ? [
          'x-cc-relay-provider', provider.name,
          'x-cc-relay-key-id', lease.keyId.slice(lease.keyId.indexOf('#') + 1),
          'x-cc-relay-attempts', String(this.#attempts),
          'x-cc-relay-strategy', config.routing.strategy,
          ...(this.#rule ? ['x-cc-relay-rule', this.#rule.name] : []),
        ]
      : []
    const usage = this.#admitted?.usageHeaders ?? []
    const bridge = new StreamBridge(this.#res, this.#state, lane.port1, this.#requestId, {
      // CONTRACT §10: a caller with a budget sees its usage, not the team key's quota.
      headHeaders: (ttfbMs, status) => [...debug, ...this.#overhead(Math.max(0, ttfbMs)), ...(status < 300 ? usage : [])],
      dropHeader: usage.length > 0 ? isUpstreamRateHeader : undefined,
      retryAnswer: (status, answerHeaders, answerBody, outcome) => {
        const reason = outcome.streamError ?? String(status)
        if (!this.#failover(lease, provider.name, { status, streamError: outcome.streamError, declared: outcome.scope }, reason)) return false
        this.#last = { status, headers: answerHeaders, body: answerBody }
        return true
      },
      retryFailure: (error) => {
        if (!this.#failover(lease, provider.name, { status: 0, errorCode: error.code }, error.code)) return false
        this.#lastFailure = error
        this.#last = undefined
        return true
      },
      settled: (outcome) => {
        // A failed-over attempt's wait was the upstream's; the final one's head is already written by now.
        if (outcome && outcome.ttfbMs > 0) this.#upstreamMs += outcome.ttfbMs
        lane.close()
        this.#settled(lease, provider.name, outcome)
      },
      retry: () => this.#next(),
      done: (status, error, outcome) => this.#log.done(status, error, outcome, this.#attempts),
    })
    this.#bridge = bridge
    lane.run(task).then(
      () => {
        // The task can settle before its channel's last messages are read (two channels, no ordering
        // between them), so only an attempt whose client has gone is closed here, and only after a grace:
        // the exchange's final message (with its outcome: the usage the ledger books, the provider the
        // request log names) is usually still on its way. Closed at once, a client that disconnected
        // from a worker-thread stream was booked as if no upstream had been reached (issue 27).
        if (!bridge.ended && this.#state.aborted) setTimeout(() => bridge.abandon(), ABANDON_GRACE_MS).unref()
      },
      (err: Error) => {
        const full = /queue is at limit/i.test(err.message)
        bridge.fail(full ? { code: 'overloaded', message: 'the relay is at capacity; retry shortly' } : { code: 'internal', message: 'a relay worker failed while serving this request' })
      },
    )
  }

  /**
   * Whether a failed attempt is taken back for another one, and where that one goes (failure-scope.ts):
   * a key-scoped failure to the provider's next key, a provider-wide one to another provider first, a
   * refusal of the content to any other provider; the request's own fault and the client's credential
   * never fail over (CONTRACT §3, §6).
   */
  #failover(lease: Lease, providerName: string, facts: Omit<AttemptFacts, 'clientCredential' | 'keysAreCredentials'>, reason: string): boolean {
    const scope = attemptScope({ ...facts, clientCredential: lease.forwardClientCredential, keysAreCredentials: lease.keysAreCredentials })
    if (scope === 'ok' || scope === 'final' || !this.#canRetry()) return false
    if (scope === 'refused') this.#refusedBy.add(lease.provider)
    if (scope === 'provider') this.#failedProviders.add(lease.provider)
    const shown = scope === 'refused' ? 'provider' : scope
    this.#deps.telemetry.failover(this.#requestId, providerName, shown, reason)
    this.#log.failover(providerName, shown, reason)
    return true
  }

  #settled(lease: Lease, providerName: string, outcome: Outcome | undefined): void {
    const settled = outcome ?? noAttemptOutcome(providerName, lease.upstreamModel, this.#state.aborted)
    this.#deps.telemetry.attempt(providerName, settled.status, settled.ttfbMs)
    this.#log.trace?.attemptEnded(settled)
    this.#deps.admission.settle(lease, settled)
  }

  /**
   * A local token count, flagged by `x-cc-relay-estimate: true`: about four bytes of request JSON per token,
   * which errs high for prose (Claude's tokenizer averages 3.5–4 characters) because keys and punctuation
   * count too. Good enough for Claude Code's context meter and auto-compact threshold, never billed.
   */
  #sendEstimate(): void {
    const tokens = Math.max(1, Math.ceil(this.#parts.body.byteLength / 4))
    sendJson(this.#res, this.#state, 200, `{"input_tokens":${tokens}}`, ['request-id', this.#requestId, 'x-cc-relay-request-id', this.#requestId, 'x-cc-relay-estimate', 'true', ...this.#overhead(0)])
    this.#log.done(200, undefined, undefined, this.#attempts)
  }

  /** CONTRACT §4 `x-cc-relay-overhead-ms`: the request's time so far minus the upstreams' time. */
  #overhead(currentUpstreamMs: number): string[] {
    const ms = Math.max(0, this.#log.elapsedMs() - this.#upstreamMs - currentUpstreamMs)
    return ['x-cc-relay-overhead-ms', ms.toFixed(2)]
  }

  /** Attempts ran out: the last upstream answer, exactly as it came. */
  #sendLast(): void {
    const last = this.#last!
    if (!this.#state.aborted) {
      this.#res.cork(() => {
        writeHead(this.#res, last.status, last.headers, this.#requestId, this.#overhead(0), this.#admitted?.usageHeaders.length ? isUpstreamRateHeader : undefined)
        this.#res.end(last.body)
      })
    }
    this.#log.done(last.status, undefined, undefined, this.#attempts)
  }

  #sendError(error: RelayErrorData, extraHeaders: readonly string[] = []): void {
    this.#log.done(sendError(this.#res, this.#state, error, this.#requestId, false, [...extraHeaders, ...this.#overhead(0)]), error, undefined, this.#attempts)
  }
}
