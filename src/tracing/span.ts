/**
 * A finished span as the SDK's span processors and OTLP exporters take it (`ReadableSpan`), made in one
 * step from times already taken. The SDK's tracer would build the same thing through a live span (its
 * own clock, attribute sanitising and limits, a span object per span), which is what a span started
 * and ended in real time needs; a span built after the fact needs none of it, and the tracer's path
 * cost several times the relay's own CPU per request in the bench (docs/performance.md). The values
 * here come from recorder.ts only: strings, numbers, booleans and string arrays, never undefined.
 */
import { SpanStatusCode } from '@opentelemetry/api'
import type { Attributes, HrTime, SpanContext, SpanKind, SpanStatus } from '@opentelemetry/api'
import { hrTime, hrTimeDuration } from '@opentelemetry/core'
import type { InstrumentationScope } from '@opentelemetry/core'
import type { Resource } from '@opentelemetry/resources'
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base'

const UNSET: SpanStatus = { code: SpanStatusCode.UNSET }

export interface SpanParts {
  readonly name: string
  readonly kind: SpanKind
  readonly context: SpanContext
  readonly parent: SpanContext | undefined
  /** performance.now() marks. */
  readonly startedAt: number
  readonly endedAt: number
  readonly attributes: Attributes
  /** An error.type makes the span's status ERROR (with `message`, or the type, as its description). */
  readonly error: { readonly type: string; readonly message: string | undefined } | undefined
}

export function finishedSpan(parts: SpanParts, resource: Resource, scope: InstrumentationScope): ReadableSpan {
  const startTime: HrTime = hrTime(parts.startedAt)
  const endTime: HrTime = hrTime(Math.max(parts.startedAt, parts.endedAt))
  const { context, error, attributes } = parts
  if (error) attributes['error.type'] = error.type
  return {
    name: parts.name,
    kind: parts.kind,
    spanContext: () => context,
    ...(parts.parent ? { parentSpanContext: parts.parent } : {}),
    startTime,
    endTime,
    duration: hrTimeDuration(startTime, endTime),
    status: error ? { code: SpanStatusCode.ERROR, message: error.message ?? error.type } : UNSET,
    attributes,
    links: [],
    events: [],
    ended: true,
    resource,
    instrumentationScope: scope,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  }
}
