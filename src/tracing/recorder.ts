/**
 * One request's trace, recorded as it runs and built when it ends: a SERVER span for the request and a
 * CLIENT span per upstream attempt, with the explicit times the request log already took (no context
 * propagation through async calls, no instrumentation of the HTTP stack).
 *
 * Ids are chosen before their spans exist: an attempt's span id goes upstream in its `traceparent` the
 * moment it is dispatched, and the request span (the attempts' parent) must have its id by then too.
 * A request refused before any attempt gets its request span alone, with the refusal as its error.
 */
import { isSpanContextValid, SpanKind, SpanStatusCode, TraceFlags } from '@opentelemetry/api'
import type { Attributes, SpanStatus } from '@opentelemetry/api'
import { parseTraceParent, TraceState } from '@opentelemetry/core'
import type { ProviderConfig } from '../config/types.js'
import type { RelayErrorData } from '../shared/errors.js'
import type { Lease, Outcome } from '../shared/protocol.js'
import {
  answerAttributes,
  ATTR_ERROR_TYPE,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  attemptErrorType,
  genAiProvider,
  operationOf,
  requestAttributes,
  spanName,
} from './attributes.js'
import { hrTimeOf } from './span-data.js'
import type { Tracing } from './tracing.js'

const UNSET: SpanStatus = { code: SpanStatusCode.UNSET }

/** Claude Code's session id is a UUID; anything much longer is not one and is cut. */
const MAX_CONVERSATION_ID = 128

interface AttemptRecord {
  readonly provider: ProviderConfig
  readonly keyId: string
  readonly spanId: string
  readonly startedAt: number
  endedAt: number
  readonly upstreamModel: string
  outcome: Outcome | undefined
  failoverScope: string | undefined
}

/** How the request ended, as RequestLog.done knows it. */
export interface RequestEnd {
  readonly route: string
  /** The model the client asked for. */
  readonly model: string
  readonly client: string
  readonly group: string
  readonly rule: string
  readonly requestId: string
  /** performance.now() when the request arrived. */
  readonly startedAt: number
  readonly status: number
  readonly error: RelayErrorData | undefined
  readonly outcome: Outcome | undefined
  readonly cost: number | undefined
  readonly clientAborted: boolean
}

export class TraceRecorder {
  readonly #tracing: Tracing
  readonly #traceparent: string | undefined
  readonly #tracestate: string | undefined
  readonly #conversation: string | undefined
  /** This request's ids, worked out on first need ('' until then). */
  #traceId = ''
  #spanId = ''
  /** The caller's span (from a valid traceparent), the request span's parent. */
  #callerSpanId: string | undefined
  /** The caller's tracestate as the SDK's TraceState keeps it (only with a valid traceparent). */
  #traceState: string | undefined
  #sampled = false
  readonly #attempts: AttemptRecord[] = []

  constructor(tracing: Tracing, headers: Readonly<Record<string, string | undefined>>) {
    this.#tracing = tracing
    this.#traceparent = headers['traceparent']
    this.#tracestate = headers['tracestate']
    this.#conversation = headers['x-claude-code-session-id']?.slice(0, MAX_CONVERSATION_ID) || undefined
  }

  /** This request's trace (the caller's, or a new one) and span id, and whether it is sampled. */
  #request(): void {
    if (this.#traceId) return
    const { ids } = this.#tracing
    const parsed = this.#traceparent ? parseTraceParent(this.#traceparent) : null
    if (parsed && isSpanContextValid(parsed)) {
      // parentbased: a caller's sampled flag decides, whatever the ratio.
      this.#traceId = parsed.traceId
      this.#callerSpanId = parsed.spanId
      this.#sampled = (parsed.traceFlags & TraceFlags.SAMPLED) !== 0
      if (this.#tracestate) this.#traceState = new TraceState(this.#tracestate).serialize()
    } else {
      this.#traceId = ids.generateTraceId()
      this.#sampled = this.#tracing.sampleRoot(this.#traceId)
    }
    this.#spanId = ids.generateSpanId()
  }

  /**
   * An attempt is dispatched: its span id is chosen now. Returns the headers for its upstream request
   * (`traceparent`, and the caller's `tracestate`) when `propagate_upstream` is on.
   */
  attemptStarted(provider: ProviderConfig, lease: Lease): Readonly<Record<string, string>> | undefined {
    this.#request()
    const spanId = this.#tracing.ids.generateSpanId()
    if (this.#sampled) {
      this.#attempts.push({ provider, keyId: lease.keyId, spanId, startedAt: performance.now(), endedAt: -1, upstreamModel: lease.upstreamModel, outcome: undefined, failoverScope: undefined })
    }
    if (!this.#tracing.settings.propagateUpstream) return undefined
    const traceparent = `00-${this.#traceId}-${spanId}-${this.#sampled ? '01' : '00'}`
    return this.#tracestate ? { traceparent, tracestate: this.#tracestate } : { traceparent }
  }

  /** The running attempt was given up for another: where the next one goes (`key` or `provider`). */
  failedOver(scope: string): void {
    const current = this.#attempts[this.#attempts.length - 1]
    if (current) current.failoverScope = scope
  }

  /** The running attempt ended (its answer was relayed, or taken back for a failover). */
  attemptEnded(outcome: Outcome): void {
    const current = this.#attempts[this.#attempts.length - 1]
    if (!current || current.endedAt >= 0) return
    current.endedAt = performance.now()
    current.outcome = outcome
  }

  /** The request ended: every span is built now and encoded into the export queue's open batch. */
  end(r: RequestEnd): void {
    this.#request()
    if (!this.#sampled) return
    const now = performance.now()
    const end = hrTimeOf(now)
    const traceFlags = TraceFlags.SAMPLED
    const queue = this.#tracing.queue
    let attempt = 0
    for (const a of this.#attempts) {
      const { attributes, errorType } = this.#attemptAttributes(a, r.route, ++attempt)
      queue.add({
        name: spanName(r.route, a.upstreamModel),
        kind: SpanKind.CLIENT,
        traceId: this.#traceId,
        spanId: a.spanId,
        parentSpanId: this.#spanId,
        parentIsRemote: false,
        traceState: undefined,
        traceFlags,
        startTime: hrTimeOf(a.startedAt),
        endTime: a.endedAt >= 0 ? hrTimeOf(a.endedAt) : end,
        attributes,
        status: errorType ? { code: SpanStatusCode.ERROR, message: errorType } : UNSET,
      })
    }
    const attributes = requestAttributes(r.route, r.model, this.#conversation)
    attributes['cc_relay.request_id'] = r.requestId
    if (r.client) attributes['cc_relay.client'] = r.client
    if (r.group) attributes['cc_relay.group'] = r.group
    if (r.rule) attributes['cc_relay.rule'] = r.rule
    if (r.status > 0) attributes[ATTR_HTTP_RESPONSE_STATUS_CODE] = r.status
    if (r.clientAborted) attributes['cc_relay.client_aborted'] = true
    const last = this.#attempts[this.#attempts.length - 1]
    if (last) {
      attributes[ATTR_GEN_AI_PROVIDER_NAME] = genAiProvider(last.provider.type)
      attributes['cc_relay.provider'] = last.provider.name
      attributes['cc_relay.attempt'] = this.#attempts.length
      const ttfe = last.outcome?.ttfeMs
      if (ttfe !== undefined && ttfe >= 0) attributes['cc_relay.ttfe_ms'] = round(last.startedAt - r.startedAt + ttfe)
    }
    // The answer's model, id, stop reason and token counts are on the attempt span that got them, and
    // only there: a backend summing gen_ai.usage.* over a trace must not count them twice.
    if (r.cost !== undefined) attributes['cc_relay.cost_usd'] = r.cost
    // A SERVER span fails on a relay error, a 5xx, or a stream that ended in `event: error`.
    const errorType = r.error?.code ?? r.outcome?.endedInError ?? (r.status >= 500 ? String(r.status) : undefined)
    if (errorType) attributes[ATTR_ERROR_TYPE] = errorType
    queue.add({
      name: spanName(r.route, r.model),
      kind: SpanKind.SERVER,
      traceId: this.#traceId,
      spanId: this.#spanId,
      parentSpanId: this.#callerSpanId,
      parentIsRemote: this.#callerSpanId !== undefined,
      traceState: this.#traceState,
      traceFlags,
      startTime: hrTimeOf(r.startedAt),
      endTime: end,
      attributes,
      status: errorType ? { code: SpanStatusCode.ERROR, message: r.error?.message ?? errorType } : UNSET,
    })
  }

  #attemptAttributes(a: AttemptRecord, route: string, n: number): { attributes: Attributes; errorType: string | undefined } {
    const attributes: Attributes = {
      [ATTR_GEN_AI_PROVIDER_NAME]: genAiProvider(a.provider.type),
      'cc_relay.provider': a.provider.name,
      // The key's short hash (the lease names it `provider#hash`), never the key.
      'cc_relay.key_id': a.keyId.slice(a.keyId.indexOf('#') + 1),
      'cc_relay.attempt': n,
    }
    this.#tracing.serverOf(a.provider, attributes)
    attributes[ATTR_GEN_AI_OPERATION_NAME] = operationOf(route)
    attributes[ATTR_GEN_AI_REQUEST_MODEL] = a.upstreamModel
    const outcome = a.outcome
    if (outcome) {
      answerAttributes(outcome, attributes)
      if (outcome.status > 0) attributes[ATTR_HTTP_RESPONSE_STATUS_CODE] = outcome.status
      if (outcome.ttfeMs !== undefined && outcome.ttfeMs >= 0) attributes['cc_relay.ttfe_ms'] = round(outcome.ttfeMs)
      if (outcome.clientAborted) attributes['cc_relay.client_aborted'] = true
      const cost = this.#tracing.deps.costOf(a.upstreamModel, outcome.usage)
      if (cost) attributes['cc_relay.cost_usd'] = cost
    }
    if (a.failoverScope) attributes['cc_relay.failover_scope'] = a.failoverScope
    const errorType = outcome ? attemptErrorType(outcome) : '_OTHER'
    if (errorType) attributes[ATTR_ERROR_TYPE] = errorType
    return { attributes, errorType }
  }
}

const round = (ms: number): number => Math.round(ms * 100) / 100
