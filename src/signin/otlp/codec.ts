/**
 * A signed-in member's OTLP batch, stamped with who sent it (CONTRACT §12): every ResourceSpans,
 * ResourceMetrics and ResourceLogs gets `user.email` = the email of the verified bearer as a resource
 * attribute, overwriting whatever the client put there, and any `user.email` the client wrote on a
 * scope, span, span event or link, data point or log record (Claude Code sets it on its own records)
 * is set to the same, so no member can pass their telemetry off as someone else's. The rest of the
 * batch is left as the client sent it.
 *
 * Protobuf goes through the official OTLP schema (opentelemetry-proto, ./proto → schema.ts) with
 * protobufjs: decoding checks every wire type and length and merges a message field sent twice (as
 * protobuf requires, so a second `resource` cannot smuggle an attribute past the stamp); re-encoding
 * writes one canonical message. Fields the schema does not know are dropped. JSON is OTLP/JSON: the
 * parts walked here are checked for shape, the rest passes through.
 *
 * Everything here runs on client bytes: callers get a verdict, never an exception.
 */
import protobuf from 'protobufjs'
import type { Type } from 'protobufjs'
import type { OtlpSignal } from '../../tracing/settings.js'
import { OTLP_DESCRIPTOR } from './schema.js'
import { quoteUnsafeIntegers } from './json-numbers.js'

export const EMAIL_ATTRIBUTE = 'user.email'

export type OtlpEncoding = 'protobuf' | 'json'

export type Stamped = { readonly ok: true; readonly body: Buffer; readonly resources: number } | { readonly ok: false; readonly reason: string }

const ROOT = protobuf.Root.fromJSON(OTLP_DESCRIPTOR)
const REQUESTS: Record<OtlpSignal, Type> = {
  traces: ROOT.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest'),
  metrics: ROOT.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest'),
  logs: ROOT.lookupType('opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest'),
}

/** The path from the request to the records of each signal, and where records keep more attributes. */
const LAYOUT: Record<OtlpSignal, { resources: string; scopes: string; records: string; nested: readonly (readonly string[])[] }> = {
  traces: { resources: 'resourceSpans', scopes: 'scopeSpans', records: 'spans', nested: [['events'], ['links']] },
  metrics: {
    resources: 'resourceMetrics',
    scopes: 'scopeMetrics',
    records: 'metrics',
    nested: [['gauge', 'dataPoints'], ['sum', 'dataPoints'], ['histogram', 'dataPoints'], ['exponentialHistogram', 'dataPoints'], ['summary', 'dataPoints']],
  },
  logs: { resources: 'resourceLogs', scopes: 'scopeLogs', records: 'logRecords', nested: [] },
}

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)
const SNAKE = new Map<string, string>()
/** `scopeSpans` → `scope_spans`, the proto field name (a handful of names: kept once worked out). */
function snake(camel: string): string {
  let name = SNAKE.get(camel)
  if (name === undefined) SNAKE.set(camel, (name = camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)))
  return name
}

class Refused extends Error {}

/**
 * `obj[name]`, also under its proto name: OTLP/JSON receivers accept `resource_spans` as well as
 * `resourceSpans`, so a batch using the other spelling must be stamped too (and one giving both is
 * ambiguous: refused).
 */
function read(obj: Obj, name: string, where: string): unknown {
  const other = snake(name)
  if (other !== name && Object.hasOwn(obj, other)) {
    if (Object.hasOwn(obj, name) && obj[name] != null) throw new Refused(`${where} has both ${name} and ${other}`)
    obj[name] = obj[other]
    delete obj[other]
  }
  return obj[name]
}

function list(obj: Obj, name: string, where: string): Obj[] {
  const value = read(obj, name, where)
  if (value === undefined || value === null) return []
  if (!Array.isArray(value)) throw new Refused(`${where}.${name} must be an array`)
  value.forEach((item, i) => {
    if (!isObj(item)) throw new Refused(`${where}.${name}[${i}] must be an object`)
  })
  return value as Obj[]
}

function child(obj: Obj, name: string, where: string): Obj | undefined {
  const value = read(obj, name, where)
  if (value === undefined || value === null) return undefined
  if (!isObj(value)) throw new Refused(`${where}.${name} must be an object`)
  return value
}

const emailValue = (email: string): Obj => ({ key: EMAIL_ATTRIBUTE, value: { stringValue: email } })

/**
 * The holder's attributes with every `user.email` replaced by one carrying `email` (at the first one's
 * place); `always` adds it when there was none. A new array: decoded messages share frozen empty ones.
 */
function stampAttributes(holder: Obj, email: string, where: string, always: boolean): void {
  const attributes = list(holder, 'attributes', where)
  if (!always && !attributes.some((kv) => kv['key'] === EMAIL_ATTRIBUTE)) return
  const out: Obj[] = []
  let placed = false
  for (const kv of attributes) {
    if (kv['key'] !== EMAIL_ATTRIBUTE) out.push(kv)
    else if (!placed) {
      out.push(emailValue(email))
      placed = true
    }
  }
  if (!placed) out.push(emailValue(email))
  holder['attributes'] = out
}

/** Stamps a decoded request (protobufjs message or parsed JSON: the same camelCase tree); returns the resource count. */
function stampTree(request: Obj, signal: OtlpSignal, email: string): number {
  const layout = LAYOUT[signal]
  const resources = list(request, layout.resources, '$')
  resources.forEach((entry, i) => {
    const where = `$.${layout.resources}[${i}]`
    const resource = child(entry, 'resource', where) ?? {}
    stampAttributes(resource, email, `${where}.resource`, true)
    entry['resource'] = resource
    list(entry, layout.scopes, where).forEach((scoped, j) => {
      const at = `${where}.${layout.scopes}[${j}]`
      const scope = child(scoped, 'scope', at)
      if (scope) stampAttributes(scope, email, `${at}.scope`, false)
      list(scoped, layout.records, at).forEach((record, k) => {
        const rec = `${at}.${layout.records}[${k}]`
        if (signal !== 'metrics') stampAttributes(record, email, rec, false)
        for (const path of layout.nested) stampNested(record, path, email, rec)
      })
    })
  })
  return resources.length
}

/** `path` = [list] or [object, list]: the attribute holders under a record (span events, data points). */
function stampNested(record: Obj, path: readonly string[], email: string, where: string): void {
  let holder: Obj | undefined = record
  let at = where
  for (const name of path.slice(0, -1)) {
    holder = child(holder, name, at)
    if (!holder) return
    at = `${at}.${name}`
  }
  const last = path[path.length - 1]!
  list(holder, last, at).forEach((item, i) => stampAttributes(item, email, `${at}.${last}[${i}]`, false))
}

function stampProtobuf(signal: OtlpSignal, body: Buffer, email: string): Stamped {
  const type = REQUESTS[signal]
  let message: protobuf.Message
  try {
    message = type.decode(body)
  } catch (err) {
    return { ok: false, reason: `not an OTLP ${signal} request in protobuf: ${(err as Error).message}` }
  }
  const resources = stampTree(message as unknown as Obj, signal, email)
  return { ok: true, body: Buffer.from(type.encode(message).finish()), resources }
}

function stampJson(signal: OtlpSignal, body: Buffer, email: string): Stamped {
  let request: unknown
  try {
    request = JSON.parse(quoteUnsafeIntegers(new TextDecoder('utf-8', { fatal: true }).decode(body)))
  } catch (err) {
    return { ok: false, reason: `not an OTLP ${signal} request in JSON: ${(err as Error).message}` }
  }
  if (!isObj(request)) return { ok: false, reason: `not an OTLP ${signal} request in JSON: the body must be an object` }
  const resources = stampTree(request, signal, email)
  return { ok: true, body: Buffer.from(JSON.stringify(request)), resources }
}

/** The batch stamped with `email`, re-encoded as it came; or why it is not an OTLP request of `signal`. */
export function stampBatch(signal: OtlpSignal, encoding: OtlpEncoding, body: Buffer, email: string): Stamped {
  try {
    return encoding === 'protobuf' ? stampProtobuf(signal, body, email) : stampJson(signal, body, email)
  } catch (err) {
    if (err instanceof Refused) return { ok: false, reason: `not an OTLP ${signal} request: ${err.message}` }
    // Past the parsers: a nesting too deep to walk or re-encode (a RangeError), or a value protobufjs cannot write.
    return { ok: false, reason: `not an OTLP ${signal} request that can be forwarded: ${(err as Error).message}` }
  }
}
