/**
 * OTLP/HTTP protobuf (`ExportTraceServiceRequest`, opentelemetry-proto trace/v1) from SpanData: each
 * span is encoded once, when its request ends, into its batch's buffer (so a queued span is bytes, not
 * objects the garbage collector must copy while they wait for the export); an export wraps a batch in
 * the resource and scope, encoded once at start.
 *
 * Field for field what the official serializer (@opentelemetry/otlp-transformer 0.223.1,
 * trace-serializer.js) writes, in its order, with its omissions (no trace_state when empty, no kind
 * when unspecified): test/tracing/otlp-proto.test.ts compares the bytes.
 */
import type { AttributeValue, Attributes } from '@opentelemetry/api'
import type { InstrumentationScope } from '@opentelemetry/core'
import type { SpanData } from './span-data.js'
import { FIXED32, FIXED64, LENGTH, ProtoWriter, VARINT } from './proto-writer.js'

/** The OTLP span flags: the W3C trace flags, and whether the parent's remoteness is known (it is) and true. */
const HAS_IS_REMOTE = 0x100
const IS_REMOTE = 0x200

/** The int64 range an integral number is sent as int_value within (else double_value). */
const MIN_INT64 = -(2 ** 63)
const MAX_INT64 = 2 ** 63

function anyValue(w: ProtoWriter, value: AttributeValue | undefined | null): void {
  switch (typeof value) {
    case 'string':
      w.tag(1, LENGTH)
      return w.string(value)
    case 'boolean':
      w.tag(2, VARINT)
      return w.uint32(value ? 1 : 0)
    case 'number':
      if (Number.isInteger(value) && value >= MIN_INT64 && value < MAX_INT64) {
        w.tag(3, VARINT)
        return w.int64(value)
      }
      w.tag(4, FIXED64)
      return w.double(value)
  }
  if (Array.isArray(value)) {
    w.tag(5, LENGTH)
    const array = w.begin()
    for (const item of value) {
      w.tag(1, LENGTH)
      const at = w.begin()
      anyValue(w, item)
      w.end(at)
    }
    w.end(array)
  }
  // Anything else (undefined, null) is an AnyValue with nothing set, as the official writer leaves it.
}

/** `repeated KeyValue` as field `field`. */
export function writeAttributes(w: ProtoWriter, attributes: Attributes, field: number): void {
  for (const key in attributes) {
    w.tag(field, LENGTH)
    const kv = w.begin()
    w.tag(1, LENGTH)
    w.string(key)
    w.tag(2, LENGTH)
    const value = w.begin()
    anyValue(w, attributes[key])
    w.end(value)
    w.end(kv)
  }
}

/** One `Span`, with its tag as field 2 of ScopeSpans. */
export function writeSpan(w: ProtoWriter, span: SpanData): void {
  w.tag(2, LENGTH)
  const at = w.begin()
  w.tag(1, LENGTH)
  w.hex(span.traceId)
  w.tag(2, LENGTH)
  w.hex(span.spanId)
  if (span.traceState) {
    w.tag(3, LENGTH)
    w.string(span.traceState)
  }
  if (span.parentSpanId) {
    w.tag(4, LENGTH)
    w.hex(span.parentSpanId)
  }
  w.tag(5, LENGTH)
  w.string(span.name)
  // The API's kinds start at INTERNAL = 0; the protocol's at UNSPECIFIED = 0.
  w.tag(6, VARINT)
  w.uint32(span.kind + 1)
  w.tag(7, FIXED64)
  w.hrTime(span.startTime)
  w.tag(8, FIXED64)
  w.hrTime(span.endTime)
  writeAttributes(w, span.attributes, 9)
  // dropped attributes, events and links: none (fields 10, 12, 14 written as 0, as the SDK writes them).
  w.tag(10, VARINT)
  w.uint32(0)
  w.tag(12, VARINT)
  w.uint32(0)
  w.tag(14, VARINT)
  w.uint32(0)
  w.tag(15, LENGTH)
  const status = w.begin()
  if (span.status.message) {
    w.tag(2, LENGTH)
    w.string(span.status.message)
  }
  w.tag(3, VARINT)
  w.uint32(span.status.code)
  w.end(status)
  w.tag(16, FIXED32)
  w.fixed32((span.traceFlags & 0xff) | HAS_IS_REMOTE | (span.parentSpanId && span.parentIsRemote ? IS_REMOTE : 0))
  w.end(at)
}

/**
 * What comes before and after a batch's spans in a request: ResourceSpans { resource, ScopeSpans {
 * scope, spans…, schema_url }, schema_url }, less the two lengths that depend on the spans.
 */
export interface Envelope {
  /** Resource (field 1 of ResourceSpans), tagged. */
  readonly resource: Buffer
  /** InstrumentationScope (field 1 of ScopeSpans), tagged. */
  readonly scope: Buffer
  /** ScopeSpans' schema_url (field 3), tagged, or empty. */
  readonly scopeTail: Buffer
  /** ResourceSpans' schema_url (field 3), tagged, or empty. */
  readonly resourceTail: Buffer
}

function tagged(build: (w: ProtoWriter) => void): Buffer {
  const w = new ProtoWriter(256)
  build(w)
  return Buffer.from(w.buf.subarray(0, w.pos))
}

export function envelope(resource: { readonly attributes: Attributes; readonly schemaUrl?: string | undefined }, scope: InstrumentationScope): Envelope {
  return {
    resource: tagged((w) => {
      w.tag(1, LENGTH)
      const at = w.begin()
      writeAttributes(w, resource.attributes, 1)
      w.tag(2, VARINT)
      w.uint32(0)
      w.end(at)
    }),
    scope: tagged((w) => {
      w.tag(1, LENGTH)
      const at = w.begin()
      w.tag(1, LENGTH)
      w.string(scope.name)
      if (scope.version) {
        w.tag(2, LENGTH)
        w.string(scope.version)
      }
      w.end(at)
    }),
    scopeTail: tagged((w) => {
      if (!scope.schemaUrl) return
      w.tag(3, LENGTH)
      w.string(scope.schemaUrl)
    }),
    resourceTail: tagged((w) => {
      if (!resource.schemaUrl) return
      w.tag(3, LENGTH)
      w.string(resource.schemaUrl)
    }),
  }
}

const varintSize = (n: number): number => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5)

function putVarint(out: Buffer, at: number, n: number): number {
  while (n > 0x7f) {
    out[at++] = (n & 0x7f) | 0x80
    n >>>= 7
  }
  out[at++] = n
  return at
}

/** The request body for a batch of encoded spans (writeSpan's output, back to back). */
export function exportRequest(env: Envelope, spans: Uint8Array): Uint8Array {
  const scopeSpans = env.scope.length + spans.length + env.scopeTail.length
  const resourceSpans = env.resource.length + 1 + varintSize(scopeSpans) + scopeSpans + env.resourceTail.length
  const out = Buffer.allocUnsafe(1 + varintSize(resourceSpans) + resourceSpans)
  out[0] = (1 << 3) | LENGTH
  let at = putVarint(out, 1, resourceSpans)
  at += env.resource.copy(out, at)
  out[at++] = (2 << 3) | LENGTH
  at = putVarint(out, at, scopeSpans)
  at += env.scope.copy(out, at)
  out.set(spans, at)
  at += spans.length
  at += env.scopeTail.copy(out, at)
  env.resourceTail.copy(out, at)
  return out
}
