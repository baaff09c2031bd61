/**
 * `telemetry.client_telemetry: forward` (CONTRACT §12): a signed-in member's `POST /v1/{metrics,logs,
 * traces}` is read as OTLP/HTTP (protobuf or JSON, gzip allowed), stamped with their email (codec.ts)
 * and queued for the relay's OTLP collector (forwarder.ts, same endpoint and headers as the relay's
 * own traces, src/tracing/settings.ts). Loaded by main.ts only in that mode: with `discard`, neither
 * protobufjs nor this code is imported.
 */
import { gunzip } from 'node:zlib'
import type { TelemetryConfig } from '../../config/types.js'
import type { Logger } from '../../shared/log.js'
import { otlpHeaders, otlpTimeoutMs, otlpUrl } from '../../tracing/settings.js'
import type { OtlpSignal } from '../../tracing/settings.js'
import { stampBatch } from './codec.js'
import type { OtlpEncoding } from './codec.js'
import { TelemetryForwarder } from './forwarder.js'
import type { ForwardTarget, ForwarderHooks } from './forwarder.js'

export const SIGNALS: readonly OtlpSignal[] = ['traces', 'metrics', 'logs']

/** What the endpoint answers: 200 (queued, or nowhere to send it), or why the batch was refused. */
export type Taken = { readonly ok: true } | { readonly ok: false; readonly status: 400 | 413 | 415; readonly reason: string }

const CONTENT_TYPES: Record<string, OtlpEncoding> = { 'application/x-protobuf': 'protobuf', 'application/protobuf': 'protobuf', 'application/json': 'json' }
export const CONTENT_TYPE_OF: Record<OtlpEncoding, string> = { protobuf: 'application/x-protobuf', json: 'application/json' }

/** The encoding a Content-Type names (parameters such as charset ignored), if OTLP/HTTP has it. */
export function encodingOf(contentType: string | undefined): OtlpEncoding | undefined {
  return CONTENT_TYPES[(contentType ?? '').split(';')[0]!.trim().toLowerCase()]
}

/** A gzip body inflated, refusing one that inflates past `limit` (a small bomb must not cost memory). */
function inflate(body: Buffer, limit: number): Promise<Buffer | 'too_large' | 'corrupt'> {
  return new Promise((resolve) => {
    gunzip(body, { maxOutputLength: limit }, (err, out) => {
      if (!err) return resolve(out)
      resolve((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' ? 'too_large' : 'corrupt')
    })
  })
}

export class ClientTelemetry {
  readonly forwarder: TelemetryForwarder
  readonly #maxBodyBytes: () => number

  constructor(forwarder: TelemetryForwarder, maxBodyBytes: () => number) {
    this.forwarder = forwarder
    this.#maxBodyBytes = maxBodyBytes
  }

  /** Reads, stamps and queues one batch of `email`'s. Never throws on what the client sent. */
  async take(signal: OtlpSignal, headers: Readonly<Record<string, string>>, raw: Buffer, email: string): Promise<Taken> {
    // Nowhere to send this signal: answered as in discard mode, without reading it.
    if (!this.forwarder.has(signal)) return { ok: true }
    const encoding = encodingOf(headers['content-type'])
    if (!encoding) return { ok: false, status: 415, reason: `OTLP/HTTP bodies are application/x-protobuf or application/json, not ${JSON.stringify(headers['content-type'] ?? '')}` }
    const coding = (headers['content-encoding'] ?? 'identity').trim().toLowerCase()
    let body = raw
    if (coding === 'gzip') {
      const inflated = await inflate(raw, this.#maxBodyBytes())
      if (inflated === 'too_large') return { ok: false, status: 413, reason: `the inflated body exceeds ${this.#maxBodyBytes()} bytes` }
      if (inflated === 'corrupt') return { ok: false, status: 400, reason: 'the body is not valid gzip' }
      body = inflated
    } else if (coding !== 'identity' && coding !== '') return { ok: false, status: 415, reason: `content-encoding ${JSON.stringify(coding)} is not supported (gzip or none)` }
    const stamped = stampBatch(signal, encoding, body, email)
    if (!stamped.ok) return { ok: false, status: 400, reason: stamped.reason }
    this.forwarder.enqueue(signal, CONTENT_TYPE_OF[encoding], stamped.body)
    return { ok: true }
  }

  close(ms: number): Promise<void> {
    return this.forwarder.close(ms)
  }
}

/** The collector's address per signal, as the relay's own traces resolve theirs; a signal without one is absent. */
export function forwardTargets(telemetry: TelemetryConfig, env: NodeJS.ProcessEnv = process.env): Partial<Record<OtlpSignal, ForwardTarget>> {
  const targets: Partial<Record<OtlpSignal, ForwardTarget>> = {}
  for (const signal of SIGNALS) {
    const url = otlpUrl(telemetry, signal, env)
    if (url !== undefined) targets[signal] = { url, headers: otlpHeaders(telemetry, signal, env), timeoutMs: otlpTimeoutMs(telemetry, signal, env) }
  }
  return targets
}


/** Drops are logged at most this often (a dead collector must not flood the log). */
const WARN_EVERY_MS = 60_000

interface StartDeps {
  readonly log: Logger
  readonly metrics: { clientTelemetryForwarded(signal: string): void; clientTelemetryDropped(signal: string, reason: string): void }
  readonly maxBodyBytes: () => number
}

/** A URL as it may be logged: no user info, no query (either may carry a collector's key). */
function shownUrl(url: string): string {
  try {
    const u = new URL(url)
    return `${u.protocol}//${u.host}${u.pathname}`
  } catch {
    return '(unparsable URL)'
  }
}

/** main.ts's one call in forward mode: the forwarder with its counts and its (rate-limited) complaints. */
export function startClientTelemetry(telemetry: TelemetryConfig, deps: StartDeps, env: NodeJS.ProcessEnv = process.env): ClientTelemetry {
  const targets = forwardTargets(telemetry, env)
  const missing = SIGNALS.filter((s) => !targets[s])
  if (missing.length === SIGNALS.length) deps.log.warn({}, "telemetry.client_telemetry is forward but no OTLP endpoint is configured (telemetry.otlp.endpoint or OTEL_EXPORTER_OTLP_ENDPOINT): members' telemetry is discarded")
  else if (missing.length) deps.log.warn({ signals: missing }, "no OTLP endpoint for these signals: members' batches of them are discarded")
  let lastWarning = 0
  let unreported = 0
  const hooks: ForwarderHooks = {
    forwarded: (signal) => deps.metrics.clientTelemetryForwarded(signal),
    dropped: (signal, reason, detail) => {
      deps.metrics.clientTelemetryDropped(signal, reason)
      unreported++
      const now = Date.now()
      if (now - lastWarning < WARN_EVERY_MS) return
      lastWarning = now
      deps.log.warn({ dropped_batches: unreported, signal, reason, collector: shownUrl(targets[signal]?.url ?? ''), ...(detail ? { error: detail } : {}) }, "members' telemetry dropped: the collector is slow, failing or unreachable")
      unreported = 0
    },
  }
  deps.log.info({ signals: SIGNALS.filter((s) => targets[s]).map((s) => `${s} → ${shownUrl(targets[s]!.url)}`) }, "members' telemetry is forwarded, stamped with their email")
  return new ClientTelemetry(new TelemetryForwarder(targets, hooks), deps.maxBodyBytes)
}
