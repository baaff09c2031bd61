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
import { createHash } from 'node:crypto'
import type { HttpResponse } from 'uWebSockets.js'
import type { Route } from '../../plugins/sdk.js'
import { relayError } from '../shared/errors.js'
import { fault } from '../shared/faults.js'
import type { RelayErrorData } from '../shared/errors.js'
import { PROTOCOL } from '../shared/protocol.js'
import type { Lease, Outcome, RelayTask } from '../shared/protocol.js'
import type { RelayDeps } from './relay-handler.js'
import type { RequestLog } from './request-log.js'
import { sendError, sendJson, writeHead } from './respond.js'
import type { ResponseState } from './respond.js'
import type { Sniffed } from './sniff.js'
import { StreamBridge } from './stream-bridge.js'
import { affinityKey, sessionOf } from '../supervisor/affinity.js'
import { attemptScope } from '../supervisor/failure-scope.js'
import type { AttemptFacts } from '../supervisor/failure-scope.js'
import type { SharedReservation } from '../supervisor/shared/shared-state.js'
import { stripContextMarker } from '../supervisor/model-map.js'
import type { RuleChoice } from '../shared/protocol.js'
import { rulesOf } from './rules.js'
import { periodOf } from '../ledger/rows.js'

export interface RequestParts {
  readonly route: Route
  readonly query: string
  readonly headers: Record<string, string>
  readonly credential: Readonly<Record<string, string>>
  readonly body: Buffer
  readonly sniffed: Extract<Sniffed, { ok: true }>
  /** The team client's name (`server.auth.clients`), or ''. */
  readonly client: string
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
  /** Shared-window reservations (state.store: redis) of this request's leases, by lease id. */
  readonly #sharedReservations = new Map<number, SharedReservation>()
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
    this.#credentialHash = own === undefined ? undefined : createHash('sha256').update(own).digest('hex').slice(0, 12)
  }

  /** The routing rule this request matched (CONTRACT §8), decided once when it starts. */
  #rule: RuleChoice | undefined

  start(): void {
    this.#rule = this.#matchRule()
    if (this.#rule) this.#log.rule(this.#rule.name)
    if (this.#parts.client !== '' && (!this.#withinBudget() || !this.#admitClient())) return
    const shared = this.#deps.shared
    if (!shared) return this.#next()
    const client = this.#parts.client === '' ? undefined : this.#deps.config.server.auth.clients.find((c) => c.name === this.#parts.client)
    const session = this.#session()
    if (!client && !session) return this.#next()
    // Relays sharing state: the client's rpm/tpm hold across relays, and the session may have been
    // served by another relay last time. Both questions go to Redis at once.
    const clientId = client ? `client:${client.name}` : ''
    const clientWindows = client ? shared.admit(clientId, { rpm_limit: client.rpm_limit, tpm_limit: client.tpm_limit, itpm_limit: 0, otpm_limit: 0 }, this.#estimate()) : undefined
    const clientSlot = client && client.max_concurrent > 0 ? shared.takeSlot(clientId, client.max_concurrent) : undefined
    // Affinity is kept per session and matched rule (affinity.ts).
    const sticky = session ? affinityKey(session, this.#rule?.name) : undefined
    void Promise.all([clientWindows, clientSlot, sticky ? shared.recallSession(sticky) : undefined]).then(([verdict, slot, entry]) => {
      if (this.#log.finished) return
      if (typeof slot === 'string') this.#log.onDone(() => shared.freeSlot(clientId, slot))
      const refusal =
        verdict && !verdict.ok
          ? { ms: verdict.retryAfterMs, what: 'its rpm/tpm limit' }
          : slot === false
            ? { ms: 1000, what: `its max_concurrent of ${client!.max_concurrent}` }
            : undefined
      if (refusal) {
        if (verdict?.ok && verdict.reservation) shared.settle(verdict.reservation, { input: 0, output: 0 })
        this.#deps.telemetry.rateLimited('client')
        const seconds = Math.max(1, Math.ceil(refusal.ms / 1000))
        const error = relayError('rate_limited', `client ${client!.name} is at ${refusal.what} across relays; retry in ${seconds} s`)
        return this.#sendError(error, ['retry-after', String(seconds)])
      }
      if (verdict?.ok && verdict.reservation) {
        const reservation = verdict.reservation
        this.#log.onDone((outcome) => {
          const u = outcome?.usage
          shared.settle(reservation, { input: u ? u.input_tokens + u.cache_creation_input_tokens : 0, output: u?.output_tokens ?? 0 })
        })
      }
      if (entry && sticky) this.#deps.supervisor.applyShared({ type: 'affinity', session: sticky, ...entry, ttlMs: this.#deps.config.routing.affinity.ttl_ms })
      this.#next()
    }).catch((err: unknown) => this.#fault('attempts.shared_admission', err))
  }

  /** Relays sharing state: where this session was just served, for whichever relay takes its next turn. */
  #shareAffinity(): void {
    const session = this.#session()
    if (!session) return
    const sticky = affinityKey(session, this.#rule?.name)
    const entry = this.#deps.supervisor.state.affinity.get(sticky, Date.now())
    if (entry) this.#deps.shared!.rememberSession(sticky, entry.provider, entry.keyHash, entry.family, this.#deps.config.routing.affinity.ttl_ms)
  }

  /**
   * CONTRACT §9: a team client over its spend budget for the current UTC period gets 429 until the
   * period resets, with `x-should-retry: false` so the Anthropic SDKs do not retry (CONTRACT §6).
   */
  #withinBudget(): boolean {
    const { config, telemetry } = this.#deps
    const budget = config.server.auth.clients.find((c) => c.name === this.#parts.client)?.budget
    if (!budget || !telemetry.ledger) return true
    const now = Date.now()
    const spent = telemetry.ledger.spent(this.#parts.client, budget.period, now)
    if (spent < budget.usd) return true
    const seconds = Math.max(1, Math.ceil((periodOf(budget.period, now).resetsAt - now) / 1000))
    telemetry.rateLimited('budget')
    const error = relayError('rate_limited', `client ${this.#parts.client} is over its budget of $${budget.usd} per ${budget.period} (UTC): $${spent.toFixed(4)} spent; it resets in ${seconds} s`)
    this.#sendError(error, ['retry-after', String(seconds), 'x-should-retry', 'false'])
    return false
  }

  /** A team client's own limits, checked once per request (failover attempts are the relay's business). */
  #admitClient(): boolean {
    const { supervisor, telemetry } = this.#deps
    const estimate = this.#estimate()
    const reply = supervisor.admitClient(this.#parts.client, estimate.input + estimate.output)
    if (reply.ok) {
      const ticket = reply.ticket
      this.#log.onDone((outcome) => {
        const u = outcome?.usage
        supervisor.releaseClient(ticket, u ? u.input_tokens + u.cache_creation_input_tokens + u.output_tokens : 0)
      })
      return true
    }
    telemetry.rateLimited('client')
    this.#sendError(reply.error, ['retry-after', String(Math.max(1, Math.ceil(reply.retryAfterMs / 1000)))])
    return false
  }

  #matchRule(): RuleChoice | undefined {
    const rules = rulesOf(this.#deps.config)
    if (rules.size === 0) return undefined
    const { sniffed, client, headers } = this.#parts
    // The same input estimate the tpm reservations use (CONTRACT §8).
    return rules.match({ model: stripContextMarker(sniffed.model), inputTokens: this.#estimate().input, client, headers, body: sniffed.facts })
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
    const reply = this.#deps.supervisor.lease({
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
    })
    if (reply.ok) {
      if (this.#queuedAt !== undefined) this.#deps.telemetry.queueWait(Date.now() - this.#queuedAt)
      this.#queuedAt = undefined
      return this.#deps.shared ? this.#confirmShared(reply.lease) : this.#dispatch(reply.lease)
    }
    if (this.#last) return this.#sendLast()
    if (this.#lastFailure && reply.exhausted) return this.#sendError(this.#lastFailure)
    // CONTRACT §4: a model that is served, but by providers without a token counter, gets an estimate.
    // A rule's providers serve what it matches, whatever their model lists say.
    if (route === 'count_tokens' && reply.error.code === 'model_not_served' && (this.#rule !== undefined || this.#deps.supervisor.serves('messages', sniffed.model))) {
      return this.#sendEstimate()
    }
    const wait = reply.retryAfterMs ?? 0
    const queueLeft = this.#startedAt + this.#deps.config.routing.queue_timeout_ms - Date.now()
    if (reply.error.code === 'rate_limited' && queueLeft > 0) {
      // Wait for the earliest key to free up (or the queue time to end), then ask again.
      this.#queuedAt ??= Date.now()
      setTimeout(() => {
        try {
          this.#next()
        } catch (err) {
          this.#fault('attempts.queue', err)
        }
      }, Math.max(1, Math.min(wait, queueLeft)))
      return
    }
    const retryAfter = reply.retryAfterMs === undefined ? [] : ['retry-after', String(Math.max(1, Math.ceil(wait / 1000)))]
    if (reply.error.code === 'rate_limited') this.#deps.telemetry.rateLimited('key')
    this.#sendError(reply.error, retryAfter)
  }

  /**
   * `state.store: redis`: the key's windows are shared with the other relays, so the lease is confirmed
   * there first. A refusal cools the key here until the shared window frees up (a 429 the relay gives
   * itself: no attempt, no breaker count) and the next lease is asked for.
   */
  #confirmShared(lease: Lease): void {
    const shared = this.#deps.shared!
    const key = lease.key < 0 ? undefined : this.#deps.config.providers[lease.provider]?.keys[lease.key]
    const probe = lease.probe ? shared.admitProbe(this.#deps.config.providers[lease.provider]!.name, lease.probe.period, lease.probe.limit) : Promise.resolve(true)
    // A pooled key's lease is recorded as in flight by the same round trip (for least_loaded elsewhere).
    const admitted = key ? shared.admit(lease.keyId, key, this.#estimate(), lease.id) : Promise.resolve({ ok: true as const, reservation: undefined })
    void Promise.all([probe, admitted]).then(([probeAllowed, verdict]) => {
      const outcome = this.#noAttempt(lease)
      // The client left, or the request was ended meanwhile (a shutdown, a fault).
      const gone = this.#state.aborted || this.#log.finished
      if ((gone || !probeAllowed) && verdict.ok) {
        // Admitted, but it goes nowhere: give back the shared share and the in-flight record.
        if (verdict.reservation) shared.settle(verdict.reservation, { input: 0, output: 0 })
        if (lease.key >= 0) shared.leaseEnded(lease.keyId, lease.id)
      }
      if (gone) {
        this.#deps.supervisor.report(lease.id, { ...outcome, clientAborted: true })
        return this.#log.done(0, undefined)
      }
      if (!probeAllowed) {
        // Other relays already probe this circuit: leave it to them (status 0 frees the local probe slot).
        this.#probesTaken.add(lease.provider)
        this.#deps.supervisor.report(lease.id, outcome)
        return this.#next()
      }
      if (verdict.ok) {
        if (verdict.reservation) this.#sharedReservations.set(lease.id, verdict.reservation)
        this.#shareAffinity()
        return this.#dispatch(lease)
      }
      // The relay's own refusal: this key's shared window is full (key-scoped whatever the provider type).
      this.#deps.supervisor.report(lease.id, { ...outcome, status: 429, scope: 'key', rateHeaders: { 'retry-after-ms': String(verdict.retryAfterMs) } })
      this.#next()
    }).catch((err: unknown) => this.#fault('attempts.shared_lease', err))
  }

  #dispatch(lease: Lease): void {
    this.#attempts++
    this.#tried.add(lease.keyId)
    const { config, dispatch } = this.#deps
    const provider = config.providers[lease.provider]!
    const lane = dispatch.open(provider.type)
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
    const bridge = new StreamBridge(this.#res, this.#state, lane.port1, this.#requestId, {
      headHeaders: (ttfbMs) => [...debug, ...this.#overhead(Math.max(0, ttfbMs))],
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
        // between them), so only an attempt whose client has gone is closed here.
        if (!bridge.ended && this.#state.aborted) bridge.abandon()
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
    const keysAreCredentials = this.#deps.supervisor.state.providers[lease.provider]?.keysAreCredentials ?? true
    const scope = attemptScope({ ...facts, clientCredential: lease.forwardClientCredential, keysAreCredentials })
    if (scope === 'ok' || scope === 'final' || !this.#canRetry()) return false
    if (scope === 'refused') this.#refusedBy.add(lease.provider)
    if (scope === 'provider') this.#failedProviders.add(lease.provider)
    const shown = scope === 'refused' ? 'provider' : scope
    this.#deps.telemetry.failover(this.#requestId, providerName, shown, reason)
    this.#log.failover(providerName, shown, reason)
    return true
  }

  /** The outcome of a lease that reached no upstream. */
  #noAttempt(lease: Lease, providerName = this.#deps.config.providers[lease.provider]?.name ?? ''): Outcome {
    return {
      status: 0,
      provider: providerName,
      upstreamModel: lease.upstreamModel,
      ttfbMs: -1,
      usage: { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, cache_creation_1h_input_tokens: 0 },
      clientAborted: this.#state.aborted,
      rateHeaders: {},
    }
  }

  #settled(lease: Lease, providerName: string, outcome: Outcome | undefined): void {
    const settled = outcome ?? this.#noAttempt(lease, providerName)
    if (this.#deps.shared && lease.key >= 0) this.#deps.shared.leaseEnded(lease.keyId, lease.id)
    const reservation = this.#sharedReservations.get(lease.id)
    if (reservation) {
      this.#sharedReservations.delete(lease.id)
      const u = settled.usage
      this.#deps.shared!.settle(reservation, { input: u.input_tokens + u.cache_creation_input_tokens, output: u.output_tokens })
    }
    this.#deps.telemetry.attempt(providerName, settled.status, settled.ttfbMs)
    this.#log.trace?.attemptEnded(settled)
    this.#deps.supervisor.report(lease.id, settled)
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
        writeHead(this.#res, last.status, last.headers, this.#requestId, this.#overhead(0))
        this.#res.end(last.body)
      })
    }
    this.#log.done(last.status, undefined, undefined, this.#attempts)
  }

  #sendError(error: RelayErrorData, extraHeaders: readonly string[] = []): void {
    this.#log.done(sendError(this.#res, this.#state, error, this.#requestId, false, [...extraHeaders, ...this.#overhead(0)]), error, undefined, this.#attempts)
  }
}
