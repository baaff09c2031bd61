/**
 * Span ids chosen before their spans exist. An attempt's span id goes upstream in its `traceparent`
 * when the attempt is dispatched, but the span itself is built at the request's end (recorder.ts); the
 * SDK's tracer asks its IdGenerator for the ids, so this one hands out the id chosen earlier when one
 * is waiting, and random ones otherwise. Single-threaded: `preset` and the `startSpan` that consumes it
 * run back to back (`with`).
 */
import { RandomIdGenerator } from '@opentelemetry/sdk-trace-base'
import type { IdGenerator } from '@opentelemetry/sdk-trace-base'

export class PresetIds implements IdGenerator {
  readonly #random = new RandomIdGenerator()
  #traceId: string | undefined
  #spanId: string | undefined

  /** Fresh random ids, for spans that will be built later. */
  newTraceId(): string {
    return this.#random.generateTraceId()
  }

  newSpanId(): string {
    return this.#random.generateSpanId()
  }

  /** Runs `start` (one `startSpan`) with these ids waiting: its span id, and its trace id when it has no parent. */
  with<T>(traceId: string, spanId: string, start: () => T): T {
    this.#traceId = traceId
    this.#spanId = spanId
    try {
      return start()
    } finally {
      this.#traceId = undefined
      this.#spanId = undefined
    }
  }

  generateTraceId(): string {
    const id = this.#traceId ?? this.#random.generateTraceId()
    this.#traceId = undefined
    return id
  }

  generateSpanId(): string {
    const id = this.#spanId ?? this.#random.generateSpanId()
    this.#spanId = undefined
    return id
  }
}
