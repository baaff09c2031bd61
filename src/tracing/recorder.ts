/**
 * One request's trace, recorded as it runs and built when it ends: a SERVER span for the request and a
 * CLIENT span per upstream attempt, with the explicit times the request log already took (no context
 * propagation through async calls, no instrumentation of the HTTP stack).
 *
 * Ids are chosen before their spans exist: an attempt's span id goes upstream in its `traceparent` the
 * moment it is dispatched, and the request span (the attempts' parent) must have its id by then too.
 * A request refused before any attempt gets its request span alone, with the refusal as its error.
 */
import { ROOT_CONTEXT, SpanKind, trace, TraceFlags } from '@opentelemetry/api'
import type { Attributes, SpanContext } from '@opentelemetry/api'
import { parseTraceParent, TraceState } from '@opentelemetry/core'
import { SamplingDecision } from '@opentelemetry/sdk-trace-base'
import type { ProviderConfig } from '../config/types.js'
import type { RelayErrorData } from '../shared/errors.js'
import type { Lease, Outcome } from '../shared/protocol.js'
import {
  answerAttributes,
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
import { finishedSpan } from './span.js'
import type { SpanParts } from './span.js'
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
  /** The caller's span (undefined: none, or not a valid traceparent) and this request's ids, worked out on first need. */
  #caller: SpanContext | undefined
  #context: SpanContext | undefined
  #sampled = false
  readonly #attempts: AttemptRecord[] = []

  constructor(tracing: Tracing, headers: Readonly<Record<string, string | undefined>>) {
    this.#tracing = tracing
    this.#traceparent = headers['traceparent']
    this.#tracestate = headers['tracestate']
    this.#conversation = headers['x-claude-code-session-id']?.slice(0, MAX_CONVERSATION_ID) || undefined
  }

  /** This request's span context (the caller's trace, or a new one), and whether it is sampled. */
  #request(): SpanContext {
    if (this.#context) return this.#context
    const parsed = this.#traceparent ? parseTraceParent(this.#traceparent) : null
    const { ids, sampler } = this.#tracing
    let parent = ROOT_CONTEXT
    if (parsed && trace.isSpanContextValid(parsed)) {
      const traceState = this.#tracestate ? new TraceState(this.#tracestate) : undefined
      this.#caller = { ...parsed, isRemote: true, ...(traceState ? { traceState } : {}) }
      parent = trace.setSpanContext(ROOT_CONTEXT, this.#caller)
    }
    const traceId = this.#caller?.traceId ?? ids.generateTraceId()
    // parentbased_traceidratio: the caller's sampled flag, else the ratio over the trace id.
    this.#sampled = sampler.shouldSample(parent, traceId, '', SpanKind.SERVER, {}, []).decision === SamplingDecision.RECORD_AND_SAMPLED
    this.#context = { traceId, spanId: ids.generateSpanId(), traceFlags: this.#sampled ? TraceFlags.SAMPLED : TraceFlags.NONE, ...(this.#caller?.traceState ? { traceState: this.#caller.traceState } : {}) }
    return this.#context
  }

  /**
   * An attempt is dispatched: its span id is chosen now. Returns the headers for its upstream request
   * (`traceparent`, and the caller's `tracestate`) when `propagate_upstream` is on.
   */
  attemptStarted(provider: ProviderConfig, lease: Lease): Readonly<Record<string, string>> | undefined {
    const request = this.#request()
    const spanId = this.#tracing.ids.generateSpanId()
    if (this.#sampled) this.#record(provider, lease, spanId)
    if (!this.#tracing.settings.propagateUpstream) return undefined
    const traceparent = `00-${request.traceId}-${spanId}-${this.#sampled ? '01' : '00'}`
    return this.#tracestate ? { traceparent, tracestate: this.#tracestate } : { traceparent }
  }

  /** What a sampled attempt's span will say about where it went. */
  #record(provider: ProviderConfig, lease: Lease, spanId: string): void {
    const attributes: Attributes = {
      [ATTR_GEN_AI_PROVIDER_NAME]: genAiProvider(provider.type),
      'cc_relay.provider': provider.name,
      'cc_relay.key_id': lease.keyId.slice(lease.keyId.indexOf('#') + 1),
      'cc_relay.attempt': this.#attempts.length + 1,
      ...this.#tracing.serverOf(provider),
    }
    this.#attempts.push({ spanId, startedAt: performance.now(), endedAt: -1, attributes, upstreamModel: lease.upstreamModel, outcome: undefined, failoverScope: undefined })
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
    const context = this.#request()
    if (!this.#sampled) return
    const now = performance.now()
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
    // The answer's model, id, stop reason and token counts are on the attempt span that got them, and
    // only there: a backend summing gen_ai.usage.* over a trace must not count them twice.
    if (r.cost !== undefined) attributes['cc_relay.cost_usd'] = r.cost
    // A SERVER span fails on a relay error, a 5xx, or a stream that ended in `event: error`.
    const errorType = r.error?.code ?? r.outcome?.endedInError ?? (r.status >= 500 ? String(r.status) : undefined)
    const { processor, resource, scope } = this.#tracing
    for (const attempt of this.#attempts) processor.onEnd(finishedSpan(this.#attemptSpan(attempt, r.route, context, now), resource, scope))
    processor.onEnd(
      finishedSpan(
        {
          name: spanName(r.route, r.model),
          kind: SpanKind.SERVER,
          context,
          parent: this.#caller,
          startedAt: r.startedAt,
          endedAt: now,
          attributes,
          error: errorType ? { type: errorType, message: r.error?.message } : undefined,
        },
        resource,
        scope,
      ),
    )
  }

  #attemptSpan(attempt: AttemptRecord, route: string, request: SpanContext, now: number): SpanParts {
    const attributes: Attributes = attempt.attributes
    attributes[ATTR_GEN_AI_OPERATION_NAME] = operationOf(route)
    attributes[ATTR_GEN_AI_REQUEST_MODEL] = attempt.upstreamModel
    const outcome = attempt.outcome
    if (outcome) {
      answerAttributes(outcome, attributes)
      if (outcome.status > 0) attributes[ATTR_HTTP_RESPONSE_STATUS_CODE] = outcome.status
      if (outcome.ttfeMs !== undefined && outcome.ttfeMs >= 0) attributes['cc_relay.ttfe_ms'] = round(outcome.ttfeMs)
      if (outcome.clientAborted) attributes['cc_relay.client_aborted'] = true
      const cost = this.#tracing.deps.costOf(attempt.upstreamModel, outcome.usage)
      if (cost) attributes['cc_relay.cost_usd'] = cost
    }
    if (attempt.failoverScope) attributes['cc_relay.failover_scope'] = attempt.failoverScope
    const errorType = outcome ? attemptErrorType(outcome) : '_OTHER'
    return {
      name: spanName(route, attempt.upstreamModel),
      kind: SpanKind.CLIENT,
      context: { traceId: request.traceId, spanId: attempt.spanId, traceFlags: request.traceFlags },
      parent: request,
      startedAt: attempt.startedAt,
      endedAt: attempt.endedAt >= 0 ? attempt.endedAt : now,
      attributes,
      error: errorType ? { type: errorType, message: undefined } : undefined,
    }
  }
}

const round = (ms: number): number => Math.round(ms * 100) / 100
