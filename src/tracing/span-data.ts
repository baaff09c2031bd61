/**
 * A finished span as the relay's own OTLP encoders take it (otlp-proto.ts, otlp-json.ts): only what a
 * span built after the fact has — no events, no links, nothing dropped — with ids as the hex strings
 * the W3C header carries. The SDK's `ReadableSpan` carries the same facts through a live-span object
 * (a `spanContext()` closure, the resource and scope on every span); test/tracing/otlp-*.test.ts
 * proves that the bytes made from one of these equal the official serializer's from the ReadableSpan
 * with the same facts.
 *
 * Attribute values here come from recorder.ts only: strings, numbers, booleans and string arrays,
 * never undefined (the encoders also take arrays of numbers and booleans).
 */
import type { Attributes, HrTime, SpanKind, SpanStatus } from '@opentelemetry/api'
import { addHrTimes, millisToHrTime } from '@opentelemetry/core'

export interface SpanData {
  readonly name: string
  readonly kind: SpanKind
  /** 32 lowercase hex digits. */
  readonly traceId: string
  /** 16 lowercase hex digits. */
  readonly spanId: string
  /** The parent's span id; undefined for a root span. */
  readonly parentSpanId: string | undefined
  /** The parent is the caller's span (from its `traceparent`), not one of the relay's. */
  readonly parentIsRemote: boolean
  /** The caller's `tracestate`, as the SDK's TraceState serializes it; undefined or '' when none. */
  readonly traceState: string | undefined
  readonly traceFlags: number
  readonly startTime: HrTime
  readonly endTime: HrTime
  readonly attributes: Attributes
  readonly status: SpanStatus
}

/** The epoch time of `performance.timeOrigin`, taken once (core's hrTime() reads it on every call). */
const ORIGIN: HrTime = millisToHrTime(performance.timeOrigin)

/** A performance.now() mark as epoch HrTime: what `hrTime(mark)` of @opentelemetry/core gives. */
export const hrTimeOf = (mark: number): HrTime => addHrTimes(ORIGIN, millisToHrTime(mark))
