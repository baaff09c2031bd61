/**
 * OpenTelemetry export (CONTRACT §11), loaded by main.ts only when an OTLP endpoint is configured:
 * with tracing off this file, the SDK and the exporters are never imported, and a request's only cost
 * is one `undefined` check (src/ingress/request-log.ts).
 *
 * A parent-based trace-id-ratio sampler, a resource from the config and OTEL_RESOURCE_ATTRIBUTES, and
 * the bounded batch export of export.ts. Each request gets a TraceRecorder (recorder.ts) that builds
 * its finished spans (span-data.ts) once, when it ends, and hands them to the export queue, which
 * encodes them there and then (batch.ts).
 */
import { diag, DiagLogLevel, ROOT_CONTEXT, SpanKind } from '@opentelemetry/api'
import type { Attributes } from '@opentelemetry/api'
import type { InstrumentationScope } from '@opentelemetry/core'
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources'
import type { Resource } from '@opentelemetry/resources'
import { RandomIdGenerator, SamplingDecision, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace-base'
import type { Sampler } from '@opentelemetry/sdk-trace-base'
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions'
import type { ProviderConfig } from '../config/types.js'
import type { Logger } from '../shared/log.js'
import type { Usage } from '../shared/protocol.js'
import { SEMCONV_VERSION, serverAttributes } from './attributes.js'
import { batchMaker } from './batch.js'
import { otlpExporter, SpanQueue } from './export.js'
import type { DropReason } from './export.js'
import { TraceRecorder } from './recorder.js'
import type { TracingSettings } from './settings.js'

export interface TracingDeps {
  readonly log: Logger
  readonly version: string
  /** A provider's API root (its `base_url`, else its plugin's default): `server.address` of its attempts. */
  readonly baseUrlOf: (provider: ProviderConfig) => string
  /** The estimated cost of `usage` on `model` from the running price table (undefined: no price). */
  readonly costOf: (model: string, usage: Usage) => number | undefined
  /** Spans lost (`cc_relay_telemetry_dropped_total`). */
  readonly dropped: (spans: number, reason: DropReason) => void
}

/** Export trouble is logged at most this often (a dead collector must not flood the log). */
const WARN_EVERY_MS = 60_000

/** A URL as it may be logged: no user info, no query (either may carry a collector's key). */
function shownUrl(url: string): string {
  try {
    const u = new URL(url)
    return `${u.protocol}//${u.host}${u.pathname}`
  } catch {
    return '(unparsable URL)'
  }
}

export class Tracing {
  readonly settings: TracingSettings
  /** The sampler of a trace the relay starts (a caller's sampled flag decides the others: recorder.ts). */
  readonly #root: Sampler
  readonly ids = new RandomIdGenerator()
  readonly deps: TracingDeps
  readonly queue: SpanQueue
  readonly resource: Resource
  readonly scope: InstrumentationScope
  readonly #servers = new WeakMap<ProviderConfig, Attributes>()
  #lastWarning = 0
  #unreported = 0

  constructor(settings: TracingSettings, deps: TracingDeps) {
    this.settings = settings
    this.deps = deps
    this.#root = new TraceIdRatioBasedSampler(settings.sampleRatio)
    // The SDK's own complaints (a failed export, a timeout) are counted and logged by the relay instead.
    diag.setLogger({ error: () => {}, warn: () => {}, info: () => {}, debug: () => {}, verbose: () => {} }, DiagLogLevel.NONE)
    this.resource = detectResources({ detectors: [envDetector] }).merge(
      resourceFromAttributes({ [ATTR_SERVICE_NAME]: settings.serviceName, [ATTR_SERVICE_VERSION]: deps.version }),
    )
    this.scope = { name: 'cc-relay', version: deps.version, schemaUrl: `https://opentelemetry.io/schemas/${SEMCONV_VERSION}` }
    const newBatch = batchMaker(settings.protocol, this.resource, this.scope, settings.batch.maxExportBatchSize)
    this.queue = new SpanQueue(settings.batch, newBatch, otlpExporter(settings), { dropped: (n, reason, detail) => this.#dropped(n, reason, detail) })
  }

  /** Whether a trace the relay starts is kept: parentbased_traceidratio's root sampler on its id. */
  sampleRoot(traceId: string): boolean {
    // always_on and always_off need no look at the id (the usual settings: skip the sampler's work).
    const ratio = this.settings.sampleRatio
    if (ratio >= 1) return true
    if (ratio <= 0) return false
    return this.#root.shouldSample(ROOT_CONTEXT, traceId, '', SpanKind.SERVER, {}, []).decision === SamplingDecision.RECORD_AND_SAMPLED
  }

  /** A recorder for one request, reading the caller's trace context and session from its headers. */
  begin(headers: Readonly<Record<string, string | undefined>>): TraceRecorder {
    return new TraceRecorder(this, headers)
  }

  /** `server.address` and `server.port` of a provider's attempts (worked out once per loaded config), into `into`. */
  serverOf(provider: ProviderConfig, into: Attributes): void {
    let found = this.#servers.get(provider)
    if (!found) {
      found = {}
      serverAttributes(this.deps.baseUrlOf(provider), found)
      this.#servers.set(provider, found)
    }
    for (const key in found) into[key] = found[key]
  }

  #dropped(spans: number, reason: DropReason, detail: string | undefined): void {
    this.deps.dropped(spans, reason)
    this.#unreported += spans
    const now = Date.now()
    if (now - this.#lastWarning < WARN_EVERY_MS) return
    this.#lastWarning = now
    this.deps.log.warn({ dropped_spans: this.#unreported, reason, collector: shownUrl(this.settings.url), ...(detail ? { error: detail } : {}) }, 'trace spans dropped: the collector is slow, failing or unreachable')
    this.#unreported = 0
  }

  /** Sends what is queued, for at most `ms` (a dead collector must not hold up a shutdown). */
  async shutdown(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))
    await Promise.race([this.queue.shutdown().catch(() => {}), deadline])
    clearTimeout(timer)
  }
}

/** Tracing with `settings` (settings.ts: undefined there means tracing is off and this file is not loaded). */
export function startTracing(settings: TracingSettings, deps: TracingDeps): Tracing {
  for (const warning of settings.warnings) deps.log.warn({}, warning)
  const tracing = new Tracing(settings, deps)
  deps.log.info(
    { collector: shownUrl(settings.url), protocol: settings.protocol, service_name: settings.serviceName, sample_ratio: settings.sampleRatio, propagate_upstream: settings.propagateUpstream, semconv: SEMCONV_VERSION },
    'tracing on',
  )
  return tracing
}
