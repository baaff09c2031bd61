/**
 * The export queue (src/tracing/export.ts) with an exporter the test controls: full batches leave on
 * their own, the bound counts spans not yet handed to the exporter and turns the rest away (counted),
 * a failed export's spans are counted, and shutdown sends what is left.
 */
import t from 'tap'
import { ExportResultCode } from '@opentelemetry/core'
import type { ExportResult } from '@opentelemetry/core'
import { SpanKind, SpanStatusCode } from '@opentelemetry/api'
import type { Batch } from '../../src/tracing/batch.js'
import { SpanQueue } from '../../src/tracing/export.js'
import type { BatchExporter, DropReason } from '../../src/tracing/export.js'
import type { SpanData } from '../../src/tracing/span-data.js'
import { until } from '../helpers/wait.js'

const span = (name: string): SpanData => ({
  name, kind: SpanKind.SERVER, traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', parentSpanId: undefined, parentIsRemote: false,
  traceState: undefined, traceFlags: 1, startTime: [1, 0], endTime: [2, 0], attributes: {}, status: { code: SpanStatusCode.UNSET },
})

/** A batch that keeps its spans' names. */
class Names implements Batch {
  readonly names: string[] = []
  get count(): number {
    return this.names.length
  }
  add(s: SpanData): void {
    this.names.push(s.name)
  }
  body(): Uint8Array {
    return Buffer.from(this.names.join(','))
  }
}

/** An exporter whose exports wait until the test settles them. */
class Held implements BatchExporter {
  readonly sent: { names: string[]; done: (r: ExportResult) => void }[] = []
  shut = false
  export(batch: Batch, done: (r: ExportResult) => void): void {
    this.sent.push({ names: (batch as Names).names, done })
  }
  async shutdown(): Promise<void> {
    this.shut = true
  }
}

function queue(batch: { maxQueueSize: number; maxExportBatchSize: number; scheduledDelayMillis?: number }) {
  const exporter = new Held()
  const drops: Record<DropReason, number> = { queue_full: 0, export_failed: 0 }
  const q = new SpanQueue({ scheduledDelayMillis: 60_000, exportTimeoutMillis: 60_000, ...batch }, () => new Names(), exporter, { dropped: (n, reason) => (drops[reason] += n) })
  return { q, exporter, drops }
}

const ok: ExportResult = { code: ExportResultCode.SUCCESS }
const failed: ExportResult = { code: ExportResultCode.FAILED, error: new Error('500') }

t.test('a full batch leaves without waiting for the schedule, one export at a time', async (t) => {
  const { q, exporter, drops } = queue({ maxQueueSize: 100, maxExportBatchSize: 3 })
  for (const name of ['a', 'b', 'c', 'd', 'e', 'f', 'g']) q.add(span(name))
  await until('the first batch exported', async () => exporter.sent.length === 1)
  t.same(exporter.sent[0]!.names, ['a', 'b', 'c'])
  exporter.sent[0]!.done(ok)
  await until('the second batch exported', async () => exporter.sent.length === 2)
  t.same(exporter.sent[1]!.names, ['d', 'e', 'f'], 'the next full batch, once the first is settled')
  exporter.sent[1]!.done(failed)
  t.same(drops, { queue_full: 0, export_failed: 3 }, 'a failed export counts its spans')
  const closing = q.shutdown()
  await until('the rest exported at shutdown', async () => exporter.sent.length === 3)
  t.same(exporter.sent[2]!.names, ['g'], 'shutdown sends the part-filled batch')
  exporter.sent[2]!.done(ok)
  await closing
  t.ok(exporter.shut, 'and closes the exporter')
})

t.test('the bound counts spans not yet handed to the exporter; the rest are dropped and counted', async (t) => {
  const { q, exporter, drops } = queue({ maxQueueSize: 4, maxExportBatchSize: 2 })
  for (let i = 0; i < 10; i++) q.add(span(`s${i}`))
  t.same(drops.queue_full, 6, 'four taken, six turned away')
  await until('a batch exported', async () => exporter.sent.length === 1)
  // Two spans left the queue with the export in flight: room for two more.
  q.add(span('x'))
  q.add(span('y'))
  q.add(span('z'))
  t.same(drops.queue_full, 7)
  exporter.sent[0]!.done(ok)
  const closing = q.shutdown()
  for (let i = 1; i <= 2; i++) {
    await until(`export ${i + 1}`, async () => exporter.sent.length === i + 1)
    exporter.sent[i]!.done(ok)
  }
  await closing
  t.same(exporter.sent.map((s) => s.names), [['s0', 's1'], ['s2', 's3'], ['x', 'y']], 'every span taken was exported, in order')
  t.same(drops, { queue_full: 7, export_failed: 0 })
})

t.test('a part-filled batch leaves after the scheduled delay', async (t) => {
  const { q, exporter } = queue({ maxQueueSize: 10, maxExportBatchSize: 5, scheduledDelayMillis: 10 })
  q.add(span('only'))
  await until('the scheduled export', async () => exporter.sent.length === 1)
  t.same(exporter.sent[0]!.names, ['only'])
  exporter.sent[0]!.done(ok)
  await q.shutdown()
})
