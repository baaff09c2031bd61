/**
 * What tracing runs with (CONTRACT §1 `telemetry`, §11): each setting from the config file when it is
 * written there, else from the standard OTEL_* variable, else the contract's default. No endpoint from
 * either → undefined, and the tracing code is never loaded.
 *
 * The OTLP exporter reads OTEL_EXPORTER_OTLP_{,TRACES_}HEADERS and _TIMEOUT itself and lets what it is
 * given win, so only the config's own headers and timeout are passed on (exporter.ts).
 */
import type { OtlpProtocol, TelemetryConfig } from '../config/types.js'

export interface TracingSettings {
  /** The full URL spans are posted to (`…/v1/traces`). */
  readonly url: string
  readonly protocol: OtlpProtocol
  /** The config's headers (they may hold a collector's key: never logged). */
  readonly headers: Readonly<Record<string, string>>
  readonly timeoutMs: number | undefined
  readonly serviceName: string
  /** parentbased_traceidratio: the share of new traces kept; a caller's sampled flag always wins. */
  readonly sampleRatio: number
  readonly propagateUpstream: boolean
  readonly batch: {
    readonly maxQueueSize: number
    readonly maxExportBatchSize: number
    readonly scheduledDelayMillis: number
    readonly exportTimeoutMillis: number
  }
  /** Settings that could not be honoured as given (an unknown sampler, grpc): logged at start. */
  readonly warnings: readonly string[]
}

/** The contract's defaults, for what neither the file nor the environment says. */
const DEFAULT_PROTOCOL: OtlpProtocol = 'http/protobuf'
const DEFAULT_SERVICE_NAME = 'cc-relay'
const DEFAULT_TIMEOUT_MS = 10_000

/** The three OTLP/HTTP signals, each posted to `{base}/v1/{signal}`. */
export type OtlpSignal = 'traces' | 'metrics' | 'logs'
const SIGNAL_PATH = /\/v1\/(traces|metrics|logs)$/

/**
 * A base URL gets the signal's path, as OTEL_EXPORTER_OTLP_ENDPOINT does. A written endpoint that
 * already ends in one signal's path (`…/v1/traces`) names the collector: the other signals go beside it.
 */
function signalUrl(base: string, signal: OtlpSignal): string {
  return `${base.replace(/\/+$/, '').replace(SIGNAL_PATH, '')}/v1/${signal}`
}

/**
 * Where `signal` goes: the config's endpoint, else OTEL_EXPORTER_OTLP_{SIGNAL}_ENDPOINT as given, else
 * OTEL_EXPORTER_OTLP_ENDPOINT with the signal's path; undefined when none is set (or the SDK is
 * disabled by the environment: a written endpoint is the operator's word and is kept).
 */
export function otlpUrl(config: TelemetryConfig, signal: OtlpSignal, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (config.otlp.endpoint !== '') return signalUrl(config.otlp.endpoint, signal)
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return undefined
  const own = env[`OTEL_EXPORTER_OTLP_${signal.toUpperCase()}_ENDPOINT`]?.trim()
  if (own) return own
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim()
  return base ? signalUrl(base, signal) : undefined
}

/** `k=v,k2=v2` (values URL-encoded), the format of OTEL_EXPORTER_OTLP_HEADERS; malformed pairs are skipped. */
function headerList(value: string | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  for (const pair of (value ?? '').split(',')) {
    const eq = pair.indexOf('=')
    if (eq <= 0) continue
    try {
      out[pair.slice(0, eq).trim().toLowerCase()] = decodeURIComponent(pair.slice(eq + 1).trim())
    } catch {
      // A stray % in a value: that header is left out rather than sent garbled.
    }
  }
  return out
}

/**
 * The headers a post of `signal` carries, as the OTLP exporters merge them: OTEL_EXPORTER_OTLP_HEADERS,
 * then the signal's own variable, then the config's headers (they may hold a collector's key: never logged).
 */
export function otlpHeaders(config: TelemetryConfig, signal: OtlpSignal, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const written = Object.fromEntries(Object.entries(config.otlp.headers).map(([k, v]) => [k.toLowerCase(), v]))
  return { ...headerList(env.OTEL_EXPORTER_OTLP_HEADERS), ...headerList(env[`OTEL_EXPORTER_OTLP_${signal.toUpperCase()}_HEADERS`]), ...written }
}

/** The config's timeout, else the signal's or the general OTEL_EXPORTER_OTLP_*TIMEOUT, else 10 s. */
export function otlpTimeoutMs(config: TelemetryConfig, signal: OtlpSignal, env: NodeJS.ProcessEnv = process.env): number {
  if (config.otlp.timeout_ms !== undefined) return config.otlp.timeout_ms
  return count(env, `OTEL_EXPORTER_OTLP_${signal.toUpperCase()}_TIMEOUT`, count(env, 'OTEL_EXPORTER_OTLP_TIMEOUT', DEFAULT_TIMEOUT_MS))
}

function endpointOf(config: TelemetryConfig, env: NodeJS.ProcessEnv): string | undefined {
  // The relay's own traces also follow OTEL_TRACES_EXPORTER=none, unless an endpoint is written.
  if (config.otlp.endpoint === '' && env.OTEL_TRACES_EXPORTER?.split(',').map((e) => e.trim()).includes('none')) return undefined
  return otlpUrl(config, 'traces', env)
}

function protocolOf(config: TelemetryConfig['otlp'], env: NodeJS.ProcessEnv, warnings: string[]): OtlpProtocol {
  if (config.protocol) return config.protocol
  const named = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL || env.OTEL_EXPORTER_OTLP_PROTOCOL || '').trim()
  if (named === '' || named === 'http/protobuf' || named === 'http/json') return (named || DEFAULT_PROTOCOL) as OtlpProtocol
  warnings.push(`OTLP protocol ${JSON.stringify(named)} is not supported (http/protobuf, http/json): using ${DEFAULT_PROTOCOL}`)
  return DEFAULT_PROTOCOL
}

/** OTEL_TRACES_SAMPLER/_ARG read as the ratio of a parent-based sampler (the relay always honours its caller). */
function ratioOf(config: TelemetryConfig, env: NodeJS.ProcessEnv, warnings: string[]): number {
  if (config.sample_ratio !== undefined) return config.sample_ratio
  const sampler = (env.OTEL_TRACES_SAMPLER ?? '').trim().toLowerCase()
  if (sampler === '' || sampler === 'always_on' || sampler === 'parentbased_always_on') return 1
  if (sampler === 'always_off' || sampler === 'parentbased_always_off') return 0
  if (sampler === 'traceidratio' || sampler === 'parentbased_traceidratio') {
    const arg = Number(env.OTEL_TRACES_SAMPLER_ARG ?? '1')
    if (Number.isFinite(arg) && arg >= 0 && arg <= 1) return arg
    warnings.push(`OTEL_TRACES_SAMPLER_ARG ${JSON.stringify(env.OTEL_TRACES_SAMPLER_ARG)} is not a ratio between 0 and 1: keeping every trace`)
    return 1
  }
  warnings.push(`OTEL_TRACES_SAMPLER ${JSON.stringify(sampler)} is not supported here (parentbased_traceidratio and the always_on/off forms are): keeping every trace`)
  return 1
}

/** A positive whole number from the environment, else `fallback`. */
function count(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const value = Number(env[name])
  return Number.isInteger(value) && value > 0 ? value : fallback
}

export function tracingSettings(telemetry: TelemetryConfig, env: NodeJS.ProcessEnv = process.env): TracingSettings | undefined {
  const url = endpointOf(telemetry, env)
  if (url === undefined) return undefined
  const warnings: string[] = []
  const maxQueueSize = count(env, 'OTEL_BSP_MAX_QUEUE_SIZE', 2048)
  return {
    url,
    protocol: protocolOf(telemetry.otlp, env, warnings),
    headers: telemetry.otlp.headers,
    timeoutMs: telemetry.otlp.timeout_ms,
    serviceName: telemetry.service_name ?? (env.OTEL_SERVICE_NAME?.trim() || DEFAULT_SERVICE_NAME),
    sampleRatio: ratioOf(telemetry, env, warnings),
    propagateUpstream: telemetry.propagate_upstream,
    batch: {
      maxQueueSize,
      maxExportBatchSize: Math.min(maxQueueSize, count(env, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', 512)),
      scheduledDelayMillis: count(env, 'OTEL_BSP_SCHEDULE_DELAY', 5000),
      exportTimeoutMillis: count(env, 'OTEL_BSP_EXPORT_TIMEOUT', 30_000),
    },
    warnings,
  }
}
