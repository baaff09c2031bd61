/**
 * A batch of spans already encoded for the wire, in the configured protocol: `add` encodes a span the
 * moment its request ends (the objects it was made from die young, where the garbage collector's
 * scavenge costs nothing), and `body` is the whole export request, made once per batch.
 */
import type { Attributes } from '@opentelemetry/api'
import type { InstrumentationScope } from '@opentelemetry/core'
import type { OtlpProtocol } from '../config/types.js'
import { jsonEnvelope, jsonRequest, spanJson } from './otlp-json.js'
import type { JsonEnvelope } from './otlp-json.js'
import { envelope, exportRequest, writeSpan } from './otlp-proto.js'
import type { Envelope } from './otlp-proto.js'
import { ProtoWriter } from './proto-writer.js'
import type { SpanData } from './span-data.js'

export interface Batch {
  /** Spans in it. */
  readonly count: number
  add(span: SpanData): void
  body(): Uint8Array
}

class ProtoBatch implements Batch {
  count = 0
  readonly #env: Envelope
  readonly #w: ProtoWriter

  constructor(env: Envelope, expected: number) {
    this.#env = env
    // About 600 bytes a span (a request span and an attempt span with the GenAI attributes).
    this.#w = new ProtoWriter(Math.min(expected, 64) * 1024)
  }

  add(span: SpanData): void {
    writeSpan(this.#w, span)
    this.count++
  }

  body(): Uint8Array {
    return exportRequest(this.#env, this.#w.buf.subarray(0, this.#w.pos))
  }
}

class JsonBatch implements Batch {
  readonly #env: JsonEnvelope
  readonly #spans: string[] = []

  constructor(env: JsonEnvelope) {
    this.#env = env
  }

  get count(): number {
    return this.#spans.length
  }

  add(span: SpanData): void {
    this.#spans.push(spanJson(span))
  }

  body(): Uint8Array {
    return jsonRequest(this.#env, this.#spans)
  }
}

/** Makes empty batches of one protocol for one resource and scope (encoded once, here). */
export function batchMaker(protocol: OtlpProtocol, resource: { readonly attributes: Attributes; readonly schemaUrl?: string | undefined }, scope: InstrumentationScope, expected: number): () => Batch {
  if (protocol === 'http/json') {
    const env = jsonEnvelope(resource, scope)
    return () => new JsonBatch(env)
  }
  const env = envelope(resource, scope)
  return () => new ProtoBatch(env, expected)
}
