/**
 * An OTLP/HTTP trace receiver on loopback, as a collector would be: it decodes `http/protobuf` (with
 * protobufjs, from the message layout of the OTLP trace protocol) and `http/json`, and keeps every span
 * in one shape. `mode` makes it a collector that fails: answering 500, or never answering.
 */
import { createServer } from 'node:http'
import type { IncomingHttpHeaders, Server, ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import protobuf from 'protobufjs'
import { until } from './wait.js'

export interface ReceivedSpan {
  readonly traceId: string
  readonly spanId: string
  /** '' for a root span. */
  readonly parentSpanId: string
  readonly traceState: string
  readonly name: string
  readonly kind: 'internal' | 'server' | 'client' | 'producer' | 'consumer' | 'unspecified'
  readonly startNs: bigint
  readonly endNs: bigint
  readonly attributes: Readonly<Record<string, unknown>>
  readonly status: { readonly code: 'unset' | 'ok' | 'error'; readonly message: string }
  readonly resource: Readonly<Record<string, unknown>>
  readonly scope: string
}

export interface ReceivedExport {
  readonly contentType: string
  readonly headers: IncomingHttpHeaders
  readonly body: Buffer
}

// The OTLP trace protocol's messages (opentelemetry-proto, trace/v1 and common/v1): field numbers and types.
const field = (id: number, type: string, rule?: 'repeated') => ({ id, type, ...(rule ? { rule } : {}) })
const ROOT = protobuf.Root.fromJSON({
  nested: {
    ExportTraceServiceRequest: { fields: { resourceSpans: field(1, 'ResourceSpans', 'repeated') } },
    ResourceSpans: { fields: { resource: field(1, 'Resource'), scopeSpans: field(2, 'ScopeSpans', 'repeated'), schemaUrl: field(3, 'string') } },
    Resource: { fields: { attributes: field(1, 'KeyValue', 'repeated') } },
    ScopeSpans: { fields: { scope: field(1, 'Scope'), spans: field(2, 'Span', 'repeated'), schemaUrl: field(3, 'string') } },
    Scope: { fields: { name: field(1, 'string'), version: field(2, 'string') } },
    Span: {
      fields: {
        traceId: field(1, 'bytes'), spanId: field(2, 'bytes'), traceState: field(3, 'string'), parentSpanId: field(4, 'bytes'),
        name: field(5, 'string'), kind: field(6, 'int32'), startTimeUnixNano: field(7, 'fixed64'), endTimeUnixNano: field(8, 'fixed64'),
        attributes: field(9, 'KeyValue', 'repeated'), status: field(15, 'Status'), flags: field(16, 'fixed32'),
      },
    },
    Status: { fields: { message: field(2, 'string'), code: field(3, 'int32') } },
    KeyValue: { fields: { key: field(1, 'string'), value: field(2, 'AnyValue') } },
    AnyValue: {
      oneofs: { value: { oneof: ['stringValue', 'boolValue', 'intValue', 'doubleValue', 'arrayValue', 'kvlistValue', 'bytesValue'] } },
      fields: {
        stringValue: field(1, 'string'), boolValue: field(2, 'bool'), intValue: field(3, 'int64'), doubleValue: field(4, 'double'),
        arrayValue: field(5, 'ArrayValue'), kvlistValue: field(6, 'KeyValueList'), bytesValue: field(7, 'bytes'),
      },
    },
    ArrayValue: { fields: { values: field(1, 'AnyValue', 'repeated') } },
    KeyValueList: { fields: { values: field(1, 'KeyValue', 'repeated') } },
  },
})
const REQUEST = ROOT.lookupType('ExportTraceServiceRequest')

const KINDS = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'] as const
const CODES = ['unset', 'ok', 'error'] as const

type Json = Record<string, unknown>
const hex = (v: unknown): string => (typeof v === 'string' ? v.toLowerCase() : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : '')

/** One AnyValue, protobuf-decoded (via toObject, longs as strings) or JSON, as a plain JS value. */
function valueOf(v: Json | undefined): unknown {
  if (!v) return undefined
  if ('stringValue' in v) return v.stringValue
  if ('boolValue' in v) return v.boolValue
  if ('intValue' in v) return Number(v.intValue)
  if ('doubleValue' in v) return Number(v.doubleValue)
  if ('arrayValue' in v) return (((v.arrayValue as Json).values as Json[] | undefined) ?? []).map(valueOf)
  if ('kvlistValue' in v) return attributesOf((v.kvlistValue as Json).values as Json[])
  return undefined
}

function attributesOf(list: Json[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const kv of list ?? []) out[String(kv.key)] = valueOf(kv.value as Json)
  return out
}

/** Both encodings as one object tree (protobuf's via toObject; JSON is already one). */
function spansOf(request: Json): ReceivedSpan[] {
  const out: ReceivedSpan[] = []
  for (const rs of (request.resourceSpans as Json[] | undefined) ?? []) {
    const resource = attributesOf(((rs.resource as Json | undefined)?.attributes as Json[]) ?? [])
    for (const ss of (rs.scopeSpans as Json[] | undefined) ?? []) {
      const scope = String((ss.scope as Json | undefined)?.name ?? '')
      for (const s of (ss.spans as Json[] | undefined) ?? []) {
        const status = (s.status as Json | undefined) ?? {}
        out.push({
          traceId: hex(s.traceId),
          spanId: hex(s.spanId),
          parentSpanId: hex(s.parentSpanId),
          traceState: String(s.traceState ?? ''),
          name: String(s.name ?? ''),
          kind: KINDS[Number(s.kind ?? 0)] ?? 'unspecified',
          startNs: BigInt(String(s.startTimeUnixNano ?? '0')),
          endNs: BigInt(String(s.endTimeUnixNano ?? '0')),
          attributes: attributesOf(s.attributes as Json[]),
          status: { code: CODES[Number(status.code ?? 0)] ?? 'unset', message: String(status.message ?? '') },
          resource,
          scope,
        })
      }
    }
  }
  return out
}

export function decodeTraces(contentType: string, body: Buffer): ReceivedSpan[] {
  if (contentType.startsWith('application/json')) return spansOf(JSON.parse(body.toString()) as Json)
  const message = REQUEST.decode(body)
  return spansOf(REQUEST.toObject(message, { longs: String, defaults: false }) as Json)
}

export class OtlpReceiver {
  /** 'ok' answers 200; 'fail' answers 500 to everything; 'hang' never answers. */
  mode: 'ok' | 'fail' | 'hang' = 'ok'
  readonly exports: ReceivedExport[] = []
  readonly spans: ReceivedSpan[] = []
  /** Requests received while failing or hanging (still decoded: the relay must have tried). */
  attempts = 0
  url = ''
  readonly #server: Server
  readonly #sockets = new Set<Socket>()
  readonly #hanging: ServerResponse[] = []

  constructor() {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        this.attempts++
        if (req.url !== '/v1/traces') return void res.writeHead(404).end()
        if (this.mode === 'hang') return void this.#hanging.push(res)
        if (this.mode === 'fail') return void res.writeHead(500, { 'content-type': 'text/plain' }).end('collector failing on purpose')
        const body = Buffer.concat(chunks)
        const contentType = String(req.headers['content-type'] ?? '')
        this.exports.push({ contentType, headers: req.headers, body })
        this.spans.push(...decodeTraces(contentType, body))
        const json = contentType.startsWith('application/json')
        res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' }).end(json ? '{}' : '')
      })
    })
    this.#server.on('connection', (s: Socket) => {
      this.#sockets.add(s)
      s.on('close', () => this.#sockets.delete(s))
    })
  }

  async start(port = 0): Promise<this> {
    await new Promise<void>((r) => this.#server.listen(port, '127.0.0.1', r))
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`
    return this
  }

  /** Resolves once spans satisfying `match` have arrived (at least `count` of them). */
  async waitFor(what: string, match: (s: ReceivedSpan) => boolean, count = 1, ms = 20_000): Promise<ReceivedSpan[]> {
    await until(what, () => this.spans.filter(match).length >= count, ms)
    return this.spans.filter(match)
  }

  async close(): Promise<void> {
    for (const res of this.#hanging) res.destroy()
    for (const s of this.#sockets) s.destroy()
    await new Promise<void>((r) => this.#server.close(() => r()))
  }
}
