/**
 * Spans leave in batches, off the request path, through the official OTLP/HTTP exporter plumbing
 * (@opentelemetry/otlp-exporter-base: the OTEL_EXPORTER_OTLP_* headers and timeout, the retries with
 * backoff on 429/502/503/504, the limit on exports in flight) with the relay's own encoders in place of
 * the official serializer (batch.ts; the official one cost several µs per span in the bench).
 *
 * The queue is the batch processor of the SDK (OTEL_BSP_*: a batch leaves when it is full or
 * `scheduledDelayMillis` after its first span, one export at a time, each given `exportTimeoutMillis`),
 * with what CONTRACT §11 asks on top: its bound counts the spans not yet handed to the exporter, and the
 * spans it turns away, or that an export failed to deliver, are counted. A request never waits on any of
 * it: `add` encodes a span into the open batch, or counts it as dropped.
 */
import { ExportResultCode } from '@opentelemetry/core'
import type { ExportResult } from '@opentelemetry/core'
import { OTLPExporterBase } from '@opentelemetry/otlp-exporter-base'
import { convertLegacyHttpOptions, createOtlpHttpExportDelegate } from '@opentelemetry/otlp-exporter-base/node-http'
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer'
import type { IExportTraceServiceResponse, ISerializer } from '@opentelemetry/otlp-transformer'
import type { Batch } from './batch.js'
import type { TracingSettings } from './settings.js'
import type { SpanData } from './span-data.js'

/** Why spans were lost: the queue was full, or the collector did not take an export. */
export type DropReason = 'queue_full' | 'export_failed'

export interface ExportHooks {
  dropped(spans: number, reason: DropReason, detail: string | undefined): void
}

export interface BatchExporter {
  export(batch: Batch, done: (result: ExportResult) => void): void
  shutdown(): Promise<void>
}

/** The official OTLP/HTTP exporter, sending the batch's own bytes. */
export function otlpExporter(settings: TracingSettings): BatchExporter {
  const json = settings.protocol === 'http/json'
  const serializer: ISerializer<Batch, IExportTraceServiceResponse> = {
    serializeRequest: (batch) => batch.body(),
    deserializeResponse: (json ? JsonTraceSerializer : ProtobufTraceSerializer).deserializeResponse,
  }
  const options = {
    url: settings.url,
    // Only the config's own: the exporter merges OTEL_EXPORTER_OTLP_*HEADERS under them.
    headers: { ...settings.headers },
    ...(settings.timeoutMs === undefined ? {} : { timeoutMillis: settings.timeoutMs }),
    // One export at a time is all the queue sends; a few spare for its shutdown flush.
    concurrencyLimit: 4,
  }
  const http = convertLegacyHttpOptions(options, 'TRACES', 'v1/traces', { 'Content-Type': json ? 'application/json' : 'application/x-protobuf' })
  const metrics = { name: 'span' as const, countItems: (batch: Batch) => batch.count }
  return new OTLPExporterBase(createOtlpHttpExportDelegate(http, serializer, 'otlp_http_span_exporter', metrics, undefined))
}

export class SpanQueue {
  readonly #exporter: BatchExporter
  readonly #newBatch: () => Batch
  readonly #hooks: ExportHooks
  readonly #max: number
  readonly #batchSize: number
  readonly #delayMs: number
  readonly #timeoutMs: number
  /** Full batches waiting for the export in flight. */
  readonly #ready: Batch[] = []
  #open: Batch
  /** Spans taken and not yet handed to the exporter: what the bound counts. */
  #queued = 0
  #exporting = false
  #timer: NodeJS.Timeout | undefined
  #immediate: NodeJS.Immediate | undefined
  #idle: (() => void)[] = []
  /** Shutting down: a part-filled batch leaves at once too. */
  #closing = false

  constructor(settings: TracingSettings['batch'], newBatch: () => Batch, exporter: BatchExporter, hooks: ExportHooks) {
    this.#exporter = exporter
    this.#newBatch = newBatch
    this.#hooks = hooks
    this.#max = settings.maxQueueSize
    this.#batchSize = settings.maxExportBatchSize
    this.#delayMs = settings.scheduledDelayMillis
    this.#timeoutMs = settings.exportTimeoutMillis
    this.#open = newBatch()
  }

  add(span: SpanData): void {
    if (this.#queued >= this.#max) return this.#hooks.dropped(1, 'queue_full', undefined)
    this.#queued++
    this.#open.add(span)
    if (this.#open.count >= this.#batchSize) {
      this.#ready.push(this.#open)
      this.#open = this.#newBatch()
    }
    this.#schedule()
  }

  #schedule(): void {
    if (this.#exporting) return
    if (this.#ready.length > 0 || (this.#closing && this.#open.count > 0)) {
      // A full batch leaves on the next turn of the loop, not inside the request that filled it.
      this.#immediate ??= setImmediate(this.#flush)
      return
    }
    if (this.#timer === undefined && this.#open.count > 0) this.#timer = setTimeout(this.#flush, this.#delayMs).unref()
  }

  /** Hands the next batch (a full one, else the open one) to the exporter. */
  readonly #flush = (): void => {
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#immediate = undefined
    if (this.#exporting) return
    let batch = this.#ready.shift()
    if (!batch && this.#open.count > 0) {
      batch = this.#open
      this.#open = this.#newBatch()
    }
    if (!batch) return this.#wentIdle()
    this.#queued -= batch.count
    this.#exporting = true
    let settled = false
    const next = (): void => {
      if (settled) return
      settled = true
      clearTimeout(timeout)
      this.#exporting = false
      if (this.#ready.length > 0 || this.#open.count > 0) this.#schedule()
      else this.#wentIdle()
    }
    // An export that outlives its time is not waited for (the next batch may go); its result still counts.
    const timeout = setTimeout(next, this.#timeoutMs).unref()
    const count = batch.count
    this.#exporter.export(batch, (result) => {
      if (result.code !== ExportResultCode.SUCCESS) this.#hooks.dropped(count, 'export_failed', result.error?.message)
      next()
    })
  }

  #wentIdle(): void {
    for (const resolve of this.#idle.splice(0)) resolve()
  }

  /** Sends everything taken so far, then closes the exporter. */
  async shutdown(): Promise<void> {
    this.#closing = true
    while (this.#exporting || this.#ready.length > 0 || this.#open.count > 0) {
      const idle = new Promise<void>((resolve) => this.#idle.push(resolve))
      if (!this.#exporting) this.#flush()
      await idle
    }
    await this.#exporter.shutdown()
  }
}
