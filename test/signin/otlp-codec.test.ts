/**
 * The stamping of members' OTLP batches (src/signin/otlp/codec.ts), property-tested: whatever the bytes
 * or JSON, a verdict and never an exception; whatever attributes a batch carries, after stamping every
 * resource names the member once and no `user.email` anywhere names anyone else, the other attributes
 * unchanged and in order; a resource split over two fields (protobuf merges them) cannot hide a forged
 * email; and 64-bit integers in OTLP/JSON survive with every digit.
 */
import t from 'tap'
import { deepStrictEqual } from 'node:assert'
import fc from 'fast-check'
import protobuf from 'protobufjs'
import { EMAIL_ATTRIBUTE, stampBatch } from '../../src/signin/otlp/codec.js'
import { quoteUnsafeIntegers } from '../../src/signin/otlp/json-numbers.js'
import { OTLP_DESCRIPTOR } from '../../src/signin/otlp/schema.js'

const ROOT = protobuf.Root.fromJSON(OTLP_DESCRIPTOR)
const TRACES = ROOT.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest')
const RESOURCE = ROOT.lookupType('opentelemetry.proto.resource.v1.Resource')
const EMAIL = 'alice@corp.example'
const SIGNALS = ['traces', 'metrics', 'logs'] as const
const RUNS = { numRuns: 300 }

type Json = Record<string, unknown>
interface Kv {
  key: string
  value: { stringValue: string }
}

const kv = fc.record({
  key: fc.oneof(fc.constant(EMAIL_ATTRIBUTE), fc.constantFrom('service.name', 'session.id', 'host.arch'), fc.string({ maxLength: 12 })),
  value: fc.record({ stringValue: fc.oneof(fc.constant('boss@corp.example'), fc.string({ maxLength: 12 })) }),
})
const attributes = fc.array(kv, { maxLength: 6 })
/** A traces request tree: resources, scopes and spans with events, any of them carrying forged emails. */
const tracesTree = fc.record({
  resourceSpans: fc.array(
    fc.record({
      resource: fc.option(fc.record({ attributes }), { nil: undefined }),
      scopeSpans: fc.array(
        fc.record({
          scope: fc.record({ name: fc.string({ maxLength: 8 }), attributes }),
          spans: fc.array(fc.record({ name: fc.string({ maxLength: 8 }), attributes, events: fc.array(fc.record({ name: fc.string({ maxLength: 8 }), attributes }), { maxLength: 2 }) }), { maxLength: 3 }),
        }),
        { maxLength: 2 },
      ),
    }),
    { maxLength: 3 },
  ),
})

/** What stamping must make of an attribute list: each user.email → the member's, only the first kept; `always` adds one. */
function stamped(list: readonly Kv[] | undefined, always: boolean): Kv[] {
  const out: Kv[] = []
  let placed = false
  for (const a of list ?? []) {
    if (a.key !== EMAIL_ATTRIBUTE) out.push(a)
    else if (!placed) (placed = true), out.push({ key: EMAIL_ATTRIBUTE, value: { stringValue: EMAIL } })
  }
  if (always && !placed) out.push({ key: EMAIL_ATTRIBUTE, value: { stringValue: EMAIL } })
  return out
}

const plain = (v: unknown): Json => JSON.parse(JSON.stringify(v)) as Json
const decodeTraces = (b: Buffer): Json => TRACES.toObject(TRACES.decode(b), { longs: String, defaults: false, arrays: false }) as Json
/** The attribute lists in a (decoded) traces tree, by where they are. */
function lists(tree: Json): { resource: Kv[][]; records: Kv[][] } {
  const out = { resource: [] as Kv[][], records: [] as Kv[][] }
  for (const rs of (tree.resourceSpans as Json[] | undefined) ?? []) {
    out.resource.push(((rs.resource as Json | undefined)?.attributes as Kv[] | undefined) ?? [])
    for (const ss of (rs.scopeSpans as Json[] | undefined) ?? []) {
      out.records.push(((ss.scope as Json | undefined)?.attributes as Kv[] | undefined) ?? [])
      for (const span of (ss.spans as Json[] | undefined) ?? []) {
        out.records.push((span.attributes as Kv[] | undefined) ?? [])
        for (const e of (span.events as Json[] | undefined) ?? []) out.records.push((e.attributes as Kv[] | undefined) ?? [])
      }
    }
  }
  return out
}

/** Throws (so fast-check shrinks and prints the case) unless `after` is `before` stamped. */
function expectStamped(before: Json, after: Json): void {
  const was = lists(before)
  const is = lists(after)
  deepStrictEqual(is.resource, was.resource.map((l) => stamped(l, true)))
  deepStrictEqual(is.records, was.records.map((l) => stamped(l, false)))
}

t.test('any bytes, any signal: a verdict, never an exception; accepted protobuf names only the member', async (t) => {
  fc.assert(
    fc.property(fc.constantFrom(...SIGNALS), fc.uint8Array({ maxLength: 300 }), (signal, bytes) => {
      const verdict = stampBatch(signal, 'protobuf', Buffer.from(bytes), EMAIL)
      if (!verdict.ok) return typeof verdict.reason === 'string' && verdict.reason.length > 0
      // Whatever decoded, the output is a well-formed request of that signal.
      const again = stampBatch(signal, 'protobuf', verdict.body, 'someone@else.example')
      return again.ok
    }),
    RUNS,
  )
  fc.assert(
    fc.property(fc.constantFrom(...SIGNALS), fc.oneof(fc.jsonValue().map((v) => JSON.stringify(v)), fc.string(), fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1'))), (signal, text) => {
      const verdict = stampBatch(signal, 'json', Buffer.from(text, 'latin1'), EMAIL)
      return verdict.ok ? JSON.parse(verdict.body.toString()) !== undefined : verdict.reason.length > 0
    }),
    RUNS,
  )
})

t.test('protobuf: every resource gets the member email once, every other user.email becomes it, nothing else moves', async (t) => {
  fc.assert(
    fc.property(tracesTree, (tree) => {
      const body = Buffer.from(TRACES.encode(TRACES.fromObject(tree)).finish())
      const verdict = stampBatch('traces', 'protobuf', body, EMAIL)
      if (!verdict.ok) throw new Error(verdict.reason)
      expectStamped(plain(decodeTraces(body)), plain(decodeTraces(verdict.body)))
      return verdict.resources === tree.resourceSpans.length
    }),
    { numRuns: 150 },
  )
})

t.test('JSON: the same, in both field spellings', async (t) => {
  fc.assert(
    fc.property(tracesTree, fc.boolean(), (tree, snakeCase) => {
      let text = JSON.stringify(tree)
      if (snakeCase) text = text.replaceAll('"resourceSpans"', '"resource_spans"').replaceAll('"scopeSpans"', '"scope_spans"')
      const verdict = stampBatch('traces', 'json', Buffer.from(text), EMAIL)
      if (!verdict.ok) throw new Error(verdict.reason)
      expectStamped(plain(tree), JSON.parse(verdict.body.toString()) as Json)
      return true
    }),
    { numRuns: 150 },
  )
})

t.test('a resource sent as two fields is merged before stamping: the forged half cannot slip through', async (t) => {
  fc.assert(
    fc.property(attributes, attributes, (first, second) => {
      const w = protobuf.Writer.create()
      w.uint32((1 << 3) | 2).bytes(RESOURCE.encode({ attributes: first }).finish())
      w.uint32((1 << 3) | 2).bytes(RESOURCE.encode({ attributes: [...second, { key: EMAIL_ATTRIBUTE, value: { stringValue: 'boss@corp.example' } }] }).finish())
      const request = protobuf.Writer.create().uint32((1 << 3) | 2).bytes(w.finish()).finish()
      const verdict = stampBatch('traces', 'protobuf', Buffer.from(request), EMAIL)
      if (!verdict.ok) throw new Error(verdict.reason)
      const resource = ((decodeTraces(verdict.body).resourceSpans as Json[])[0]!.resource as Json)
      const attrs = plain(resource.attributes) as unknown as Kv[]
      // The expected list goes through protobuf too (it leaves out an empty key, as proto3 does).
      const want = stamped([...first, ...second, { key: EMAIL_ATTRIBUTE, value: { stringValue: 'x' } }], true)
      deepStrictEqual(attrs, plain(RESOURCE.toObject(RESOURCE.decode(RESOURCE.encode({ attributes: want }).finish()), { defaults: false }).attributes))
      return true
    }),
    { numRuns: 100 },
  )
})

t.test('OTLP/JSON integers past 2^53 keep every digit; everything else parses as before', async (t) => {
  fc.assert(
    fc.property(fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }), fc.jsonValue(), (n, other) => {
      const text = JSON.stringify({ a: other, n: 0 }).replace('"n":0', `"n":${n}`)
      const parsed = JSON.parse(quoteUnsafeIntegers(text)) as { a: unknown; n: unknown }
      const safe = n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER)
      deepStrictEqual(parsed.n, safe ? Number(n) : n.toString())
      // Doubles that JSON.stringify writes as long integers are quoted too; every other value is untouched.
      const expectedA = JSON.parse(JSON.stringify(other), (_k, v: unknown) => (typeof v === 'number' && Number.isInteger(v) && !Number.isSafeInteger(v) && Math.abs(v) < 1e21 ? String(v) : v)) as unknown
      deepStrictEqual(parsed.a, expectedA)
      return true
    }),
    { numRuns: 200 },
  )
  t.equal(quoteUnsafeIntegers('{"s":"12345678901234567890","n":12345678901234567890}'), '{"s":"12345678901234567890","n":"12345678901234567890"}', 'strings untouched')
  t.equal(quoteUnsafeIntegers('[012345678901234567890]'), '[012345678901234567890]', 'invalid JSON stays invalid')
  t.equal(quoteUnsafeIntegers('[1.2345678901234567890e5]'), '[1.2345678901234567890e5]', 'fractions and exponents untouched')
})
