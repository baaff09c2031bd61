/**
 * Spans leave through the official OTLP exporter (http/protobuf or http/json) behind a
 * BatchSpanProcessor, off the request path. What the relay adds is the accounting CONTRACT §11 asks
 * for: a bounded queue whose overflow is dropped and counted, and a count of the spans lost in exports
 * that failed (a collector that is down, slow past its timeout, or answering 5xx). A request never
 * waits on any of it: `onEnd` is an array push or a counter increment.
 */
import { ExportResultCode } from '@opentelemetry/core'
import type { ExportResult } from '@opentelemetry/core'
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto'
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base'
import type { ReadableSpan, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base'
import { TraceFlags } from '@opentelemetry/api'
import type { TracingSettings } from './settings.js'

/** Why spans were lost: the queue was full, or the collector did not take an export. */
export type DropReason = 'queue_full' | 'export_failed'

export interface ExportHooks {
  dropped(spans: number, reason: DropReason, detail: string | undefined): void
}

/** Spans handed to the batch processor and not yet handed to the exporter: its queue's length. */
interface Queue {
  length: number
}

/** Counts what the exporter could not deliver, and keeps the queue's length. */
class CountingExporter implements SpanExporter {
  readonly #inner: SpanExporter
  readonly #queue: Queue
  readonly #hooks: ExportHooks

  constructor(inner: SpanExporter, queue: Queue, hooks: ExportHooks) {
    this.#inner = inner
    this.#queue = queue
    this.#hooks = hooks
  }

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.#queue.length -= spans.length
    this.#inner.export(spans, (result) => {
      if (result.code !== ExportResultCode.SUCCESS) this.#hooks.dropped(spans.length, 'export_failed', result.error?.message)
      done(result)
    })
  }

  shutdown(): Promise<void> {
    return this.#inner.shutdown()
  }

  forceFlush(): Promise<void> {
    return this.#inner.forceFlush?.() ?? Promise.resolve()
  }
}

/**
 * The batch processor with the drop counted here: the SDK's own processor drops silently (a debug
 * line), and the relay's metric must say how many.
 */
class BoundedProcessor implements SpanProcessor {
  readonly #inner: SpanProcessor
  readonly #queue: Queue
  readonly #max: number
  readonly #hooks: ExportHooks

  constructor(inner: SpanProcessor, queue: Queue, max: number, hooks: ExportHooks) {
    this.#inner = inner
    this.#queue = queue
    this.#max = max
    this.#hooks = hooks
  }

  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    // Spans the sampler dropped never reach a queue (the batch processor ignores them too).
    if ((span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return
    if (this.#queue.length >= this.#max) return this.#hooks.dropped(1, 'queue_full', undefined)
    this.#queue.length++
    this.#inner.onEnd(span)
  }

  forceFlush(): Promise<void> {
    return this.#inner.forceFlush()
  }

  shutdown(): Promise<void> {
    return this.#inner.shutdown()
  }
}

function otlpExporter(settings: TracingSettings): SpanExporter {
  const options = {
    url: settings.url,
    // Only the config's own: the exporter merges OTEL_EXPORTER_OTLP_*HEADERS under them.
    headers: { ...settings.headers },
    ...(settings.timeoutMs === undefined ? {} : { timeoutMillis: settings.timeoutMs }),
    // One export at a time is all the batch processor sends; a few spare for its shutdown flush.
    concurrencyLimit: 4,
  }
  return settings.protocol === 'http/json' ? new JsonExporter(options) : new ProtoExporter(options)
}

export function spanProcessor(settings: TracingSettings, hooks: ExportHooks): SpanProcessor {
  const queue: Queue = { length: 0 }
  const exporter = new CountingExporter(otlpExporter(settings), queue, hooks)
  const batch = new BatchSpanProcessor(exporter, settings.batch)
  return new BoundedProcessor(batch, queue, settings.batch.maxQueueSize, hooks)
}
