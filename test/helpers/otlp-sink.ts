/**
 * An OTLP/HTTP collector on loopback for all three signals (POST /v1/traces, /v1/metrics, /v1/logs),
 * as the relay's forwarding of members' telemetry reaches one: it keeps each export whole, decoded
 * with the official OTLP schema (protobuf) or as OTLP/JSON, and answers 200.
 */
import { createServer } from 'node:http'
import type { IncomingHttpHeaders, Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import protobuf from 'protobufjs'
import { OTLP_DESCRIPTOR } from '../../src/signin/otlp/schema.js'
import { until } from './wait.js'
import type { Signal } from './otlp-batches.js'

const ROOT = protobuf.Root.fromJSON(OTLP_DESCRIPTOR)
const TYPES: Record<Signal, protobuf.Type> = {
  traces: ROOT.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest'),
  metrics: ROOT.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest'),
  logs: ROOT.lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest'),
}
const RESOURCES: Record<Signal, string> = { traces: 'resourceSpans', metrics: 'resourceMetrics', logs: 'resourceLogs' }

type Json = Record<string, unknown>

export interface SinkExport {
  readonly signal: Signal
  readonly contentType: string
  readonly headers: IncomingHttpHeaders
  readonly body: Buffer
  /** The request as one camelCase tree (protobuf via toObject, 64-bit integers as strings). */
  readonly tree: Json
}

export function decode(signal: Signal, contentType: string, body: Buffer): Json {
  if (contentType.startsWith('application/json')) return JSON.parse(body.toString('utf8')) as Json
  const type = TYPES[signal]
  return type.toObject(type.decode(body), { longs: String, bytes: String, defaults: false }) as Json
}

/** A KeyValue list as a plain object (string, bool, int and double values). */
export function attributes(list: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const kv of (list as Json[] | undefined) ?? []) {
    const v = (kv.value ?? {}) as Json
    out[String(kv.key)] = v.stringValue ?? v.boolValue ?? (v.intValue !== undefined ? Number(v.intValue) : v.doubleValue)
  }
  return out
}

/** The resource attributes of each ResourceSpans/Metrics/Logs of an export. */
export function resourcesOf(e: SinkExport): Record<string, unknown>[] {
  return ((e.tree[RESOURCES[e.signal]] as Json[] | undefined) ?? []).map((r) => attributes((r.resource as Json | undefined)?.attributes))
}

/** Every value of `key` in any attribute list of the export, resource or record. */
export function valuesOf(e: SinkExport, key: string): unknown[] {
  const out: unknown[] = []
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(walk)
    if (typeof v !== 'object' || v === null) return
    const o = v as Json
    if (o.key === key && typeof o.value === 'object') out.push(attributes([o])[key])
    for (const child of Object.values(o)) walk(child)
  }
  walk(e.tree)
  return out
}

export class OtlpSink {
  readonly exports: SinkExport[] = []
  url = ''
  readonly #server: Server
  readonly #sockets = new Set<Socket>()

  constructor() {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const signal = /^\/v1\/(traces|metrics|logs)$/.exec(req.url ?? '')?.[1] as Signal | undefined
        if (!signal) return void res.writeHead(404).end()
        const contentType = String(req.headers['content-type'] ?? '')
        const body = Buffer.concat(chunks)
        try {
          this.exports.push({ signal, contentType, headers: req.headers, body, tree: decode(signal, contentType, body) })
        } catch (err) {
          return void res.writeHead(400, { 'content-type': 'text/plain' }).end(`undecodable: ${(err as Error).message}`)
        }
        const json = contentType.startsWith('application/json')
        res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' }).end(json ? '{}' : '')
      })
    })
    this.#server.on('connection', (s: Socket) => {
      this.#sockets.add(s)
      s.on('close', () => this.#sockets.delete(s))
    })
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.#server.listen(0, '127.0.0.1', r))
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`
    return this
  }

  /** The first export of `signal` that `match` accepts, once it has arrived. */
  async waitFor(what: string, signal: Signal, match: (e: SinkExport) => boolean, ms = 20_000): Promise<SinkExport> {
    let found: SinkExport | undefined
    await until(what, () => (found = this.exports.find((e) => e.signal === signal && match(e))) !== undefined, ms)
    return found!
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy()
    await new Promise<void>((r) => this.#server.close(() => r()))
  }
}
