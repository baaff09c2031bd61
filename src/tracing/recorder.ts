/**
 * One request's trace, recorded as it runs and built when it ends: a SERVER span for the request and a
 * CLIENT span per upstream attempt, with the explicit times the request log already took (no context
 * propagation through async calls, no instrumentation of the HTTP stack).
 *
 * Ids are chosen before their spans exist: an attempt's span id goes upstream in its `traceparent` the
 * moment it is dispatched, and the request span (the attempts' parent) must have its id by then too.
 * A request refused before any attempt gets its request span alone, with the refusal as its error.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api'
import type { Attributes, Context, Span } from '@opentelemetry/api'
import { parseTraceParent, TraceState } from '@opentelemetry/core'
import { SamplingDecision } from '@opentelemetry/sdk-trace-base'
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
import type { Tracing } from './tracing.js'

/** Claude Code's session id is a UUID; anything much longer is not one and is cut. */
const MAX_CONVERSATION_ID = 128

interface AttemptRecord {
  readonly spanId: string
  readonly startedAt: number
  endedAt: number
  readonly attributes: Attributes
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
  /** The caller's context and this request's ids, worked out on first need. */
  #parent: Context | undefined
  #traceId = ''
  #spanId = ''
  #sampled = false
  readonly #attempts: AttemptRecord[] = []

  constructor(tracing: Tracing, headers: Readonly<Record<string, string | undefined>>) {
    this.#tracing = tracing
    this.#traceparent = headers['traceparent']
    this.#tracestate = headers['tracestate']
    this.#conversation = headers['x-claude-code-session-id']?.slice(0, MAX_CONVERSATION_ID) || undefined
  }

  /** The caller's span (a valid W3C `traceparent`) or none; this request's trace id, span id and sampling. */
  #context(): Context {
    if (this.#parent) return this.#parent
    const caller = this.#traceparent ? parseTraceParent(this.#traceparent) : null
    let parent = ROOT_CONTEXT
    if (caller && trace.isSpanContextValid(caller)) {
      const traceState = this.#tracestate ? new TraceState(this.#tracestate) : undefined
      parent = trace.setSpanContext(ROOT_CONTEXT, { ...caller, isRemote: true, ...(traceState ? { traceState } : {}) })
      this.#traceId = caller.traceId
    } else {
      this.#traceId = this.#tracing.ids.newTraceId()
    }
    this.#spanId = this.#tracing.ids.newSpanId()
    // Deterministic for a trace id and parent: the same decision the tracer reaches at the end.
    const decision = this.#tracing.sampler.shouldSample(parent, this.#traceId, '', SpanKind.SERVER, {}, []).decision
    this.#sampled = decision === SamplingDecision.RECORD_AND_SAMPLED
    this.#parent = parent
    return parent
  }

  /**
   * An attempt is dispatched: its span id is chosen now. Returns the headers for its upstream request
   * (`traceparent`, and the caller's `tracestate`) when `propagate_upstream` is on.
   */
  attemptStarted(provider: ProviderConfig, lease: Lease): Readonly<Record<string, string>> | undefined {
    this.#context()
    const spanId = this.#tracing.ids.newSpanId()
    const attributes: Attributes = {
      [ATTR_GEN_AI_PROVIDER_NAME]: genAiProvider(provider.type),
      'cc_relay.provider': provider.name,
      'cc_relay.key_id': lease.keyId.slice(lease.keyId.indexOf('#') + 1),
      'cc_relay.attempt': this.#attempts.length + 1,
      ...this.#tracing.serverOf(provider),
    }
    this.#attempts.push({ spanId, startedAt: performance.now(), endedAt: -1, attributes, upstreamModel: lease.upstreamModel, outcome: undefined, failoverScope: undefined })
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

  /** The request ended: every span is built now, and handed to the batch export. */
  end(r: RequestEnd): void {
    const parent = this.#context()
    if (!this.#sampled) return
    const now = performance.now()
    const { tracer, ids } = this.#tracing
    const last = this.#attempts[this.#attempts.length - 1]
    const attributes = requestAttributes(r.route, r.model, this.#conversation)
    attributes['cc_relay.request_id'] = r.requestId
    if (r.client) attributes['cc_relay.client'] = r.client
    if (r.group) attributes['cc_relay.group'] = r.group
    if (r.rule) attributes['cc_relay.rule'] = r.rule
    if (r.status > 0) attributes[ATTR_HTTP_RESPONSE_STATUS_CODE] = r.status
    if (r.clientAborted) attributes['cc_relay.client_aborted'] = true
    if (last) {
      attributes[ATTR_GEN_AI_PROVIDER_NAME] = last.attributes[ATTR_GEN_AI_PROVIDER_NAME]!
      attributes['cc_relay.provider'] = last.attributes['cc_relay.provider']!
      attributes['cc_relay.attempt'] = this.#attempts.length
      const ttfe = last.outcome?.ttfeMs
      if (ttfe !== undefined && ttfe >= 0) attributes['cc_relay.ttfe_ms'] = round(last.startedAt - r.startedAt + ttfe)
    }
    answerAttributes(r.outcome, attributes)
    if (r.cost !== undefined) attributes['cc_relay.cost_usd'] = r.cost
    // A SERVER span fails on a relay error, a 5xx, or a stream that ended in `event: error`.
    const errorType = r.error?.code ?? r.outcome?.endedInError ?? (r.status >= 500 ? String(r.status) : undefined)
    const span = ids.with(this.#traceId, this.#spanId, () =>
      tracer.startSpan(spanName(r.route, r.model), { kind: SpanKind.SERVER, startTime: r.startedAt, attributes }, parent),
    )
    if (errorType) fail(span, errorType, r.error?.message)
    const inRequest = trace.setSpan(ROOT_CONTEXT, span)
    for (const attempt of this.#attempts) this.#attemptSpan(attempt, r.route, inRequest, now)
    span.end(now)
  }

  #attemptSpan(attempt: AttemptRecord, route: string, parent: Context, now: number): void {
    const { tracer, ids, deps } = this.#tracing
    const attributes: Attributes = { ...attempt.attributes, [ATTR_GEN_AI_OPERATION_NAME]: operationOf(route), [ATTR_GEN_AI_REQUEST_MODEL]: attempt.upstreamModel }
    const outcome = attempt.outcome
    if (outcome) {
      answerAttributes(outcome, attributes)
      if (outcome.status > 0) attributes[ATTR_HTTP_RESPONSE_STATUS_CODE] = outcome.status
      if (outcome.ttfeMs !== undefined && outcome.ttfeMs >= 0) attributes['cc_relay.ttfe_ms'] = round(outcome.ttfeMs)
      if (outcome.clientAborted) attributes['cc_relay.client_aborted'] = true
      const cost = deps.costOf(attempt.upstreamModel, outcome.usage)
      if (cost) attributes['cc_relay.cost_usd'] = cost
    }
    if (attempt.failoverScope) attributes['cc_relay.failover_scope'] = attempt.failoverScope
    const span = ids.with(this.#traceId, attempt.spanId, () =>
      tracer.startSpan(spanName(route, attempt.upstreamModel), { kind: SpanKind.CLIENT, startTime: attempt.startedAt, attributes }, parent),
    )
    const errorType = outcome ? attemptErrorType(outcome) : '_OTHER'
    if (errorType) fail(span, errorType, undefined)
    span.end(attempt.endedAt >= 0 ? attempt.endedAt : now)
  }
}

const round = (ms: number): number => Math.round(ms * 100) / 100

function fail(span: Span, errorType: string, message: string | undefined): void {
  span.setAttribute(ATTR_ERROR_TYPE, errorType)
  span.setStatus({ code: SpanStatusCode.ERROR, message: message ?? errorType })
}
