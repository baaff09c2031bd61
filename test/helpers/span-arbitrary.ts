/**
 * Arbitrary spans for the encoder tests: SpanData as the relay's encoders take it, and the SDK's
 * ReadableSpan with the same facts, which the official @opentelemetry/otlp-transformer serializers take.
 */
import fc from 'fast-check'
import type { Attributes, AttributeValue, HrTime } from '@opentelemetry/api'
import { SpanKind, SpanStatusCode } from '@opentelemetry/api'
import { TraceState } from '@opentelemetry/core'
import type { InstrumentationScope } from '@opentelemetry/core'
import { resourceFromAttributes } from '@opentelemetry/resources'
import type { Resource } from '@opentelemetry/resources'
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base'
import type { SpanData } from '../../src/tracing/span-data.js'

const hex = (bytes: number) => fc.uint8Array({ minLength: bytes, maxLength: bytes }).map((b) => Buffer.from(b).toString('hex'))

/** Any text: ASCII, the whole of Unicode, lone surrogates; short (the fast path) and past 127 code units. */
const text = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }), fc.string({ minLength: 100, maxLength: 400 }), fc.string({ unit: 'binary', minLength: 100, maxLength: 300 }))

/** Numbers across the int/double split: small and 64-bit integers, negatives, -0, NaN, ±Infinity, 2^63. */
const number = fc.oneof(
  fc.integer(),
  fc.integer({ min: 0, max: 300 }),
  fc.maxSafeInteger(),
  fc.double(),
  fc.constantFrom(2 ** 32, 2 ** 32 - 1, -(2 ** 31), 2 ** 53, -(2 ** 53), 2 ** 63, -(2 ** 63), 2 ** 62 * 3, -0, Number.NaN, Infinity, -Infinity),
)

const value: fc.Arbitrary<AttributeValue> = fc.oneof(
  text,
  number,
  fc.boolean(),
  fc.array(text, { maxLength: 4 }),
  fc.array(number, { maxLength: 4 }),
  fc.array(fc.boolean(), { maxLength: 3 }),
)

export const attributes: fc.Arbitrary<Attributes> = fc.dictionary(text, value, { maxKeys: 30 }).map((d) => ({ ...d }))

/** Epoch times up to the fixed64 limit of the official writer (seconds × 1e9 + nanos within uint64). */
const time: fc.Arbitrary<HrTime> = fc.tuple(fc.oneof(fc.integer({ min: 0, max: 2 ** 32 }), fc.integer({ min: 1_700_000_000, max: 2_100_000_000 }), fc.integer({ min: 0, max: 18_446_744_072 })), fc.integer({ min: 0, max: 999_999_999 }))

/** A tracestate as the relay keeps it: what the SDK's TraceState makes of a header. */
const traceState = fc
  .array(fc.tuple(fc.stringMatching(/^[a-z][a-z0-9_\-*/]{0,10}$/), fc.stringMatching(/^[!-+\--<>-~]{1,12}$/)), { maxLength: 4 })
  .map((members) => new TraceState(members.map(([k, v]) => `${k}=${v}`).join(',')).serialize())

export const spanData: fc.Arbitrary<SpanData> = fc.record({
  name: text,
  kind: fc.constantFrom(SpanKind.INTERNAL, SpanKind.SERVER, SpanKind.CLIENT, SpanKind.PRODUCER, SpanKind.CONSUMER),
  traceId: hex(16),
  spanId: hex(8),
  parentSpanId: fc.option(hex(8), { nil: undefined }),
  parentIsRemote: fc.boolean(),
  traceState: fc.option(traceState, { nil: undefined }),
  traceFlags: fc.constantFrom(0, 1),
  startTime: time,
  endTime: time,
  attributes,
  status: fc.oneof(
    fc.constant({ code: SpanStatusCode.UNSET }),
    fc.record({ code: fc.constantFrom(SpanStatusCode.OK, SpanStatusCode.ERROR), message: fc.option(text, { nil: undefined }) }).map((s) => (s.message === undefined ? { code: s.code } : s)),
  ),
})

export const resourceArb: fc.Arbitrary<Resource> = fc
  .record({ attributes: fc.dictionary(text, fc.oneof(text, number, fc.boolean()), { maxKeys: 8 }) })
  .map(({ attributes }) => resourceFromAttributes({ ...attributes }))

export const scopeArb: fc.Arbitrary<InstrumentationScope> = fc.record(
  { name: text, version: fc.option(text, { nil: undefined }), schemaUrl: fc.option(fc.webUrl(), { nil: undefined }) },
  { requiredKeys: ['name'] },
)

/** The same span as the SDK's ReadableSpan, for the official serializers. */
export function readable(span: SpanData, resource: Resource, scope: InstrumentationScope): ReadableSpan {
  const context = {
    traceId: span.traceId,
    spanId: span.spanId,
    traceFlags: span.traceFlags,
    ...(span.traceState === undefined ? {} : { traceState: new TraceState(span.traceState) }),
  }
  return {
    name: span.name,
    kind: span.kind,
    spanContext: () => context,
    ...(span.parentSpanId ? { parentSpanContext: { traceId: span.traceId, spanId: span.parentSpanId, traceFlags: span.traceFlags, ...(span.parentIsRemote ? { isRemote: true } : {}) } } : {}),
    startTime: span.startTime,
    endTime: span.endTime,
    duration: [0, 0],
    status: span.status,
    attributes: span.attributes,
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
