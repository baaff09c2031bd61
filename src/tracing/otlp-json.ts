/**
 * OTLP/HTTP JSON (`http/json`) from SpanData: the object the official JsonTraceSerializer
 * (@opentelemetry/otlp-transformer 0.223.1, createExportTraceServiceRequest with its JSON encoder)
 * builds for a span — hex ids, nanosecond times as decimal strings, integers as `intValue` — made as
 * JSON text when the span's request ends; an export joins a batch's texts inside the resource and scope.
 * test/tracing/otlp-json.test.ts parses both and compares them.
 */
import type { AttributeValue, Attributes, HrTime } from '@opentelemetry/api'
import type { InstrumentationScope } from '@opentelemetry/core'
import type { SpanData } from './span-data.js'

const HAS_IS_REMOTE = 0x100
const IS_REMOTE = 0x200

type AnyValue = { stringValue: string } | { intValue: number } | { doubleValue: number } | { boolValue: boolean } | { arrayValue: { values: AnyValue[] } } | Record<string, never>

function anyValue(value: AttributeValue | undefined | null): AnyValue {
  switch (typeof value) {
    case 'string':
      return { stringValue: value }
    case 'number':
      return Number.isInteger(value) ? { intValue: value } : { doubleValue: value }
    case 'boolean':
      return { boolValue: value }
  }
  if (Array.isArray(value)) return { arrayValue: { values: value.map(anyValue) } }
  return {}
}

export const keyValues = (attributes: Attributes): { key: string; value: AnyValue }[] => Object.keys(attributes).map((key) => ({ key, value: anyValue(attributes[key]) }))

/** Nanoseconds since the epoch, exactly (a double cannot hold them). */
const nanos = (time: HrTime): string => (BigInt(Math.trunc(time[0])) * 1_000_000_000n + BigInt(Math.trunc(time[1]))).toString()

/** One span as JSON text (JSON.stringify leaves out what is undefined, as it does for the official object). */
export function spanJson(span: SpanData): string {
  return JSON.stringify({
    traceId: span.traceId,
    spanId: span.spanId,
    parentSpanId: span.parentSpanId || undefined,
    traceState: span.traceState,
    name: span.name,
    kind: span.kind + 1,
    startTimeUnixNano: nanos(span.startTime),
    endTimeUnixNano: nanos(span.endTime),
    attributes: keyValues(span.attributes),
    droppedAttributesCount: 0,
    events: [],
    droppedEventsCount: 0,
    status: { code: span.status.code, message: span.status.message },
    links: [],
    droppedLinksCount: 0,
    flags: (span.traceFlags & 0xff) | HAS_IS_REMOTE | (span.parentSpanId && span.parentIsRemote ? IS_REMOTE : 0),
  })
}

/** The request's text before and after the spans' texts. */
export interface JsonEnvelope {
  readonly head: string
  readonly tail: string
}

export function jsonEnvelope(resource: { readonly attributes: Attributes; readonly schemaUrl?: string | undefined }, scope: InstrumentationScope): JsonEnvelope {
  const resourceSchema = resource.schemaUrl || undefined
  const head = `{"resourceSpans":[{"resource":${JSON.stringify({ attributes: keyValues(resource.attributes), droppedAttributesCount: 0, schemaUrl: resourceSchema })},"scopeSpans":[{"scope":${JSON.stringify({ name: scope.name, version: scope.version })},"spans":[`
  const scopeSchema = scope.schemaUrl === undefined ? '' : `,"schemaUrl":${JSON.stringify(scope.schemaUrl)}`
  const tail = `]${scopeSchema}}]${resourceSchema === undefined ? '' : `,"schemaUrl":${JSON.stringify(resourceSchema)}`}}]}`
  return { head, tail }
}

export const jsonRequest = (env: JsonEnvelope, spans: readonly string[]): Uint8Array => Buffer.from(`${env.head}${spans.join(',')}${env.tail}`, 'utf8')
