/**
 * OTLP batches as Claude Code's exporters write them: made by the official OpenTelemetry JS SDKs
 * (spans, metrics, log records) and serialized by the official OTLP serializers, protobuf and JSON.
 * Each claims to come from `claims` (a forged `user.email` on the resource and on every record, the
 * impersonation the relay must undo) and carries markers the tests look for on the collector's side.
 */
import {
  JsonLogsSerializer,
  JsonMetricsSerializer,
  JsonTraceSerializer,
  ProtobufLogsSerializer,
  ProtobufMetricsSerializer,
  ProtobufTraceSerializer,
} from '@opentelemetry/otlp-transformer'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs'
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'

export type Signal = 'traces' | 'metrics' | 'logs'
export const SIGNALS: readonly Signal[] = ['traces', 'metrics', 'logs']

/** The markers each signal's batch carries (a span name, a metric name, a log body). */
export const MARKER: Record<Signal, string> = { traces: 'claude_code.tool_span', metrics: 'claude_code.token.usage', logs: 'claude_code.user_prompt' }

/** A reader the test collects from by hand (no timer). */
class PullReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

const resourceFor = (claims: string, tag: string) =>
  resourceFromAttributes({ 'service.name': 'claude-code', 'service.version': '2.1.332', 'user.email': claims, 'host.arch': 'x64', 'test.case': tag })
/** What Claude Code puts on every record (its "standard attributes"). */
const recordAttributes = (claims: string) => ({ 'user.email': claims, 'session.id': 'sess-42', 'terminal.type': 'tmux' })

/** One batch of `signal` claiming to be `claims`'s, its resource tagged `test.case: tag` (to find it at the collector). */
export async function batch(signal: Signal, encoding: 'protobuf' | 'json', claims: string, tag: string): Promise<Buffer> {
  const resource = resourceFor(claims, tag)
  const json = encoding === 'json'
  if (signal === 'traces') {
    const exporter = new InMemorySpanExporter()
    const provider = new BasicTracerProvider({ resource, spanProcessors: [new SimpleSpanProcessor(exporter)] })
    const span = provider.getTracer('com.anthropic.claude_code').startSpan(MARKER.traces, { attributes: recordAttributes(claims) })
    span.addEvent('tool.result', { 'user.email': claims, ok: true })
    span.end()
    const spans = exporter.getFinishedSpans()
    await provider.shutdown()
    return Buffer.from((json ? JsonTraceSerializer : ProtobufTraceSerializer).serializeRequest(spans)!)
  }
  if (signal === 'metrics') {
    const reader = new PullReader()
    const provider = new MeterProvider({ resource, readers: [reader] })
    const meter = provider.getMeter('com.anthropic.claude_code')
    meter.createCounter(MARKER.metrics).add(1234, { ...recordAttributes(claims), type: 'input', model: 'claude-sonnet-4-5' })
    meter.createHistogram('claude_code.latency').record(42, recordAttributes(claims))
    const { resourceMetrics } = await reader.collect()
    await provider.shutdown()
    return Buffer.from((json ? JsonMetricsSerializer : ProtobufMetricsSerializer).serializeRequest(resourceMetrics)!)
  }
  const exporter = new InMemoryLogRecordExporter()
  const provider = new LoggerProvider({ resource, processors: [new SimpleLogRecordProcessor({ exporter })] })
  provider.getLogger('com.anthropic.claude_code.events').emit({ body: MARKER.logs, severityNumber: 9 /* INFO */, attributes: { ...recordAttributes(claims), 'event.name': 'user_prompt', prompt_length: 17 } })
  const records = exporter.getFinishedLogRecords()
  await provider.shutdown()
  return Buffer.from((json ? JsonLogsSerializer : ProtobufLogsSerializer).serializeRequest(records)!)
}
