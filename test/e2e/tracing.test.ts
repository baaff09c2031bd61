/**
 * CONTRACT §11 through the running relay, to an OTLP receiver on loopback (test/helpers/otlp-receiver.ts
 * decodes http/protobuf and http/json): one SERVER span per request in the caller's trace, one CLIENT
 * span per upstream attempt under it, the attempt's own traceparent sent upstream, GenAI and cc_relay.*
 * attributes with the right token counts, refusals and errors on the spans, no secret and no message
 * text anywhere in what is exported, and no tracing code loaded when tracing is off.
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { cpSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MESSAGE, STREAM_EVENTS } from '../fixtures/anthropic.js'
import { MockUpstream, sse } from '../helpers/mock-upstream.js'
import { OtlpReceiver } from '../helpers/otlp-receiver.js'
import type { ReceivedSpan } from '../helpers/otlp-receiver.js'
import { startRelay, writeConfig } from '../helpers/relay.js'
import type { RunningRelay } from '../helpers/relay.js'

const ROOT = join(import.meta.dirname, '..', '..')
const ALICE_KEY = 'relay-key-alice-SECRET-0123456789'
const BOB_KEY = 'relay-key-bob-SECRET-9876543210'
const CAROL_KEY = 'relay-key-carol-SECRET-5555555555'
const UPSTREAM_KEY = 'sk-ant-upstream-SECRET-abcdefghij'
const PROMPT = 'PROMPT-TEXT-never-in-a-span'
/** Text the fixtures' answers carry: none of it may reach a span. */
const ANSWER_TEXTS = ['Let me check the weather', 'I should call the tool', 'San Fra', 'My name is Claude']
const SESSION = '3f2a9c1e-8b7d-4e6f-9a0b-1c2d3e4f5a6b'
const PRICING = 'pricing: { "claude-sonnet-4-5*": { input: 3, output: 15 } }'

const traceId = (n: number): string => `4bf92f3577b34da6a3ce929d0e0e47${String(n).padStart(2, '0')}`
const CALLER_SPAN = '00f067aa0ba902b7'

const streamAnswer = (res: import('node:http').ServerResponse): void => {
  res.writeHead(200, { 'content-type': 'text/event-stream' })
  res.end(sse(STREAM_EVENTS as unknown as { type: string }[]))
}

function body(stream: boolean): string {
  return JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 100, stream, messages: [{ role: 'user', content: PROMPT }] })
}

async function post(relay: RunningRelay, headers: Record<string, string>, stream = true): Promise<Response> {
  const res = await fetch(`${relay.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: body(stream) })
  await res.text()
  return res
}

interface World {
  readonly rx: OtlpReceiver
  readonly relay: RunningRelay
  readonly upstreams: MockUpstream[]
}

/** A receiver, `count` upstreams and a relay exporting to the receiver; closed when `t` ends. */
async function world(t: Tap.Test, opts: { count?: number; telemetry?: string; extra?: string; env?: NodeJS.ProcessEnv } = {}): Promise<World> {
  const rx = await new OtlpReceiver().start()
  const upstreams = await Promise.all(Array.from({ length: opts.count ?? 1 }, () => new MockUpstream().start()))
  for (const u of upstreams) u.handler = (_req, res) => streamAnswer(res)
  const providers = upstreams
    .map((u, i) => `  - { name: up${i + 1}, type: anthropic, base_url: "${u.url}", priority: ${10 - i}, keys: [{ key: "${UPSTREAM_KEY}-${i}" }] }`)
    .join('\n')
  const relay = await startRelay(
    `logging: { level: info, format: json }
usage: { db: "off" }
${PRICING}
server:
  auth:
    groups: [{ name: platform }]
    clients:
      - { name: alice, key: "${ALICE_KEY}", group: platform }
      - { name: bob, key: "${BOB_KEY}", budget: { usd: 0.000001, period: day } }
      - { name: carol, key: "${CAROL_KEY}", models: ["claude-haiku-*"] }
routing:
  rules:
    - { name: sonnet-here, when: { model: "claude-sonnet-*" }, use: { providers: [${upstreams.map((_, i) => `up${i + 1}`).join(', ')}] } }
providers:
${providers}
telemetry: { otlp: { endpoint: "${rx.url}" ${opts.telemetry ?? ''} } }
${opts.extra ?? ''}`,
    { env: { OTEL_BSP_SCHEDULE_DELAY: '50', ...opts.env } },
  )
  t.teardown(async () => {
    await relay.stop()
    await Promise.all(upstreams.map((u) => u.close()))
    await rx.close()
  })
  return { rx, relay, upstreams }
}

const inTrace = (id: string) => (s: ReceivedSpan) => s.traceId === id
const server = (spans: ReceivedSpan[]) => spans.filter((s) => s.kind === 'server')
const clients = (spans: ReceivedSpan[]) => spans.filter((s) => s.kind === 'client').sort((a, b) => Number(a.attributes['cc_relay.attempt']) - Number(b.attributes['cc_relay.attempt']))
/** The span id a W3C traceparent names as the parent. */
const parentOf = (traceparent: unknown): string => String(traceparent).split('-')[2] ?? ''

t.test('a streamed request in the caller\'s trace (http/protobuf): request span, attempt span, traceparent upstream', async (t) => {
  const { rx, relay, upstreams } = await world(t)
  const trace = traceId(1)
  const res = await post(relay, { 'x-cc-relay-key': ALICE_KEY, traceparent: `00-${trace}-${CALLER_SPAN}-01`, tracestate: 'vendor=abc', 'x-claude-code-session-id': SESSION })
  t.equal(res.status, 200)
  const spans = await rx.waitFor('the request span and its attempt span', inTrace(trace), 2)
  t.equal(spans.length, 2, 'one request span and one attempt span')
  const [request] = server(spans)
  const [attempt] = clients(spans)
  t.ok(request && attempt)
  t.equal(request!.parentSpanId, CALLER_SPAN, "the request span is a child of the caller's span")
  t.equal(attempt!.parentSpanId, request!.spanId, 'the attempt span is a child of the request span')
  t.equal(request!.name, 'chat claude-sonnet-4-5')
  t.ok(request!.endNs >= attempt!.endNs && request!.startNs <= attempt!.startNs, 'the attempt lies within the request')
  t.equal(rx.exports[0]!.contentType, 'application/x-protobuf')
  t.equal(request!.resource['service.name'], 'cc-relay')

  const usage = {
    'gen_ai.usage.input_tokens': 472 + 2048 + 120,
    'gen_ai.usage.cache_read.input_tokens': 2048,
    'gen_ai.usage.cache_creation.input_tokens': 120,
    'gen_ai.usage.output_tokens': 89,
  }
  const cost = (472 * 3 + 89 * 15 + 2048 * 0.3 + 120 * 3.75) / 1e6
  t.match(request!.attributes, {
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': 'anthropic',
    'gen_ai.request.model': 'claude-sonnet-4-5',
    'gen_ai.conversation.id': SESSION,
    'http.response.status_code': 200,
    'cc_relay.client': 'alice',
    'cc_relay.group': 'platform',
    'cc_relay.rule': 'sonnet-here',
    'cc_relay.provider': 'up1',
    'cc_relay.attempt': 1,
    'cc_relay.request_id': res.headers.get('x-cc-relay-request-id'),
  })
  t.notOk('gen_ai.usage.input_tokens' in request!.attributes, 'token counts are on the attempt span only (a backend summing them over the trace counts each once)')
  t.ok(Math.abs(Number(request!.attributes['cc_relay.cost_usd']) - cost) < 1e-9, `cost ${cost}`)
  t.ok(Math.abs(Number(attempt!.attributes['cc_relay.cost_usd']) - cost) < 1e-9, 'the attempt that served it carries the same cost')
  t.type(attempt!.attributes['cc_relay.ttfe_ms'], 'number')
  t.type(request!.attributes['cc_relay.ttfe_ms'], 'number')
  t.equal(request!.status.code, 'unset')
  t.match(attempt!.attributes, {
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': 'anthropic',
    'gen_ai.request.model': 'claude-sonnet-4-5',
    'gen_ai.response.model': 'claude-sonnet-4-5-20250929',
    'gen_ai.response.id': 'msg_01XFDUDYJgAACzvnptvVoYEL',
    'gen_ai.response.finish_reasons': ['tool_use'],
    'server.address': '127.0.0.1',
    'server.port': Number(new URL(upstreams[0]!.url).port),
    'http.response.status_code': 200,
    'cc_relay.provider': 'up1',
    'cc_relay.attempt': 1,
    'cc_relay.key_id': /^[0-9a-f]{12}$/,
    ...usage,
  })
  t.equal(attempt!.status.code, 'unset')

  const sent = upstreams[0]!.last.headers
  t.equal(sent.traceparent, `00-${trace}-${attempt!.spanId}-01`, "the upstream's traceparent names the attempt span as its parent")
  t.equal(sent.tracestate, 'vendor=abc', "the caller's tracestate goes along")
})

t.test('http/json, no caller trace: the request span is a root and the upstream joins its trace', async (t) => {
  const { rx, relay, upstreams } = await world(t, { telemetry: ', protocol: http/json' })
  upstreams[0]!.handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(MESSAGE))
  t.equal((await post(relay, { 'x-cc-relay-key': ALICE_KEY }, false)).status, 200)
  const [request] = await rx.waitFor('a request span', (s) => s.kind === 'server')
  const [attempt] = await rx.waitFor('its attempt span', (s) => s.kind === 'client' && s.traceId === request!.traceId)
  t.equal(rx.exports[0]!.contentType, 'application/json')
  t.equal(request!.parentSpanId, '', 'a root span')
  t.equal(attempt!.parentSpanId, request!.spanId)
  t.match(attempt!.attributes, { 'gen_ai.response.finish_reasons': ['end_turn'], 'gen_ai.usage.input_tokens': 2095, 'gen_ai.usage.output_tokens': 503, 'gen_ai.response.id': MESSAGE.id })
  t.notOk('gen_ai.conversation.id' in request!.attributes, 'no session header, no conversation id')
  t.equal(upstreams[0]!.last.headers.traceparent, `00-${request!.traceId}-${attempt!.spanId}-01`)
})

t.test('a 529 then a failover: two attempt spans under one request span, each upstream told its own', async (t) => {
  const { rx, relay, upstreams } = await world(t, { count: 2 })
  upstreams[0]!.handler = (_req, res) =>
    res.writeHead(529, { 'content-type': 'application/json' }).end('{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}')
  const trace = traceId(3)
  const res = await post(relay, { 'x-cc-relay-key': ALICE_KEY, traceparent: `00-${trace}-${CALLER_SPAN}-01` })
  t.equal(res.status, 200, 'the backup answered')
  const spans = await rx.waitFor('request span and two attempt spans', inTrace(trace), 3)
  const [request] = server(spans)
  const [first, second] = clients(spans)
  t.equal(first!.parentSpanId, request!.spanId)
  t.equal(second!.parentSpanId, request!.spanId)
  t.match(first!.attributes, { 'cc_relay.provider': 'up1', 'cc_relay.attempt': 1, 'http.response.status_code': 529, 'error.type': '529', 'cc_relay.failover_scope': 'provider' })
  t.equal(first!.status.code, 'error')
  t.match(second!.attributes, { 'cc_relay.provider': 'up2', 'cc_relay.attempt': 2, 'http.response.status_code': 200, 'gen_ai.usage.output_tokens': 89 })
  t.notOk('error.type' in second!.attributes)
  t.ok(first!.endNs <= second!.startNs, 'the second attempt starts after the first ended')
  t.match(request!.attributes, { 'cc_relay.provider': 'up2', 'cc_relay.attempt': 2, 'http.response.status_code': 200 })
  t.equal(request!.status.code, 'unset', 'the request itself succeeded')
  t.equal(parentOf(upstreams[0]!.last.headers.traceparent), first!.spanId, 'the first upstream got the first attempt span')
  t.equal(parentOf(upstreams[1]!.last.headers.traceparent), second!.spanId, 'the second upstream got the second attempt span')
})

t.test('refused requests: a request span with the refusal as its error, and no attempt span', async (t) => {
  const { rx, relay } = await world(t)
  // bob's budget is a millionth of a dollar: his first request spends it, the second is refused.
  t.equal((await post(relay, { 'x-cc-relay-key': BOB_KEY, traceparent: `00-${traceId(4)}-${CALLER_SPAN}-01` })).status, 200)
  await rx.waitFor("bob's first request", inTrace(traceId(4)), 2)
  const refused = await post(relay, { 'x-cc-relay-key': BOB_KEY, traceparent: `00-${traceId(5)}-${CALLER_SPAN}-01` })
  t.equal(refused.status, 429)
  const unknownKey = await post(relay, { 'x-cc-relay-key': 'not-a-key', traceparent: `00-${traceId(6)}-${CALLER_SPAN}-01` })
  t.equal(unknownKey.status, 401)
  const notHerModel = await post(relay, { 'x-cc-relay-key': CAROL_KEY, traceparent: `00-${traceId(13)}-${CALLER_SPAN}-01` })
  t.equal(notHerModel.status, 400, 'carol may use haiku models only')
  const [budget] = await rx.waitFor('the budget refusal', inTrace(traceId(5)))
  const [auth] = await rx.waitFor('the auth refusal', inTrace(traceId(6)))
  t.equal(budget!.kind, 'server')
  t.equal(budget!.parentSpanId, CALLER_SPAN)
  t.match(budget!.attributes, { 'http.response.status_code': 429, 'error.type': 'budget_exhausted', 'cc_relay.client': 'bob' })
  t.equal(budget!.status.code, 'error')
  t.match(budget!.status.message, /budget/)
  t.match(auth!.attributes, { 'http.response.status_code': 401, 'error.type': 'unauthenticated' })
  t.equal(auth!.status.code, 'error')
  const [policy] = await rx.waitFor('the model policy refusal', inTrace(traceId(13)))
  t.match(policy!.attributes, { 'http.response.status_code': 400, 'error.type': 'model_not_allowed', 'cc_relay.client': 'carol' })
  t.match(policy!.status.message, /not allowed/)
  // Let one more batch go out, then check that nothing else belongs to those traces.
  await post(relay, { 'x-cc-relay-key': ALICE_KEY, traceparent: `00-${traceId(7)}-${CALLER_SPAN}-01` })
  await rx.waitFor('a later request', inTrace(traceId(7)), 2)
  t.equal(rx.spans.filter(inTrace(traceId(5))).length, 1, 'the budget refusal has no attempt span')
  t.equal(rx.spans.filter(inTrace(traceId(6))).length, 1, 'the auth refusal has no attempt span')
  t.equal(rx.spans.filter(inTrace(traceId(13))).length, 1, 'the model policy refusal has no attempt span')
})

t.test('an answer that ends in event: error marks its spans as errors', async (t) => {
  const { rx, relay, upstreams } = await world(t)
  upstreams[0]!.handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.end(`${sse(STREAM_EVENTS.slice(0, 9) as unknown as { type: string }[])}event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n`)
  }
  const trace = traceId(8)
  t.equal((await post(relay, { 'x-cc-relay-key': ALICE_KEY, traceparent: `00-${trace}-${CALLER_SPAN}-01` })).status, 200, 'the head had gone: 200, then the error event')
  const spans = await rx.waitFor('both spans', inTrace(trace), 2)
  for (const span of spans) {
    t.equal(span.status.code, 'error', `${span.kind} span`)
    t.equal(span.attributes['error.type'], 'overloaded_error', `${span.kind} span`)
  }
})

t.test('head sampling: a sampled caller is always kept, a new trace follows sample_ratio; propagate_upstream', async (t) => {
  const rx = await new OtlpReceiver().start()
  const upstream = await new MockUpstream().start()
  upstream.handler = (_req, res) => streamAnswer(res)
  t.teardown(async () => {
    await upstream.close()
    await rx.close()
  })
  const relayWith = async (telemetry: string): Promise<RunningRelay> => {
    const relay = await startRelay(
      `usage: { db: "off" }\nproviders:\n  - { name: up, type: anthropic, base_url: "${upstream.url}", keys: [{ key: k }] }\ntelemetry: { otlp: { endpoint: "${rx.url}" }, ${telemetry} }\n`,
      { env: { OTEL_BSP_SCHEDULE_DELAY: '50' } },
    )
    t.teardown(() => relay.stop())
    return relay
  }
  const off = await relayWith('sample_ratio: 0')
  await post(off, {})
  t.match(String(upstream.last.headers.traceparent), /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/, 'a new trace left unsampled: the flag says so upstream')
  const kept = traceId(9)
  await post(off, { traceparent: `00-${kept}-${CALLER_SPAN}-01` })
  t.match(String(upstream.last.headers.traceparent), new RegExp(`^00-${kept}-[0-9a-f]{16}-01$`))
  await rx.waitFor("the sampled caller's spans", inTrace(kept), 2)
  t.equal(rx.spans.filter((s) => !inTrace(kept)(s)).length, 0, 'the unsampled request exported nothing')

  const quiet = await relayWith('propagate_upstream: false')
  const own = `00-${traceId(10)}-${CALLER_SPAN}-01`
  await post(quiet, { traceparent: own })
  t.equal(upstream.last.headers.traceparent, own, "propagate_upstream: false leaves the caller's traceparent as it came")
  await post(quiet, {})
  t.equal(upstream.last.headers.traceparent, undefined, 'and adds none')
  await rx.waitFor('spans are still exported', inTrace(traceId(10)), 2)
})

t.test('no span carries a secret or message text', async (t) => {
  const { rx, relay } = await world(t)
  await post(relay, { 'x-cc-relay-key': ALICE_KEY, traceparent: `00-${traceId(11)}-${CALLER_SPAN}-01`, authorization: 'Bearer sk-ant-oat01-CLIENT-SECRET-token' })
  await post(relay, { 'x-api-key': ALICE_KEY }, false)
  await rx.waitFor('both requests', (s) => s.kind === 'server', 2)
  const exported = Buffer.concat(rx.exports.map((e) => e.body)).toString('latin1')
  for (const secret of [ALICE_KEY, UPSTREAM_KEY, 'CLIENT-SECRET', PROMPT, ...ANSWER_TEXTS]) t.notOk(exported.includes(secret), `no ${secret.slice(0, 16)}… in any export`)
  const values = rx.spans.flatMap((s) => Object.values(s.attributes).map(String))
  t.notOk(values.some((v) => /SECRET|PROMPT/.test(v)), 'no attribute value holds either')
})

t.test('tracing off: the tracing code is never loaded, and the caller\'s traceparent passes as it came', async (t) => {
  // A copy of the built relay whose tracing module throws as soon as it is loaded.
  const copy = mkdtempSync(join(tmpdir(), 'cc-relay-no-tracing-'))
  for (const part of ['bin', 'dist', 'package.json']) cpSync(join(ROOT, part), join(copy, part), { recursive: true })
  symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'))
  writeFileSync(join(copy, 'dist', 'src', 'tracing', 'tracing.js'), "throw new Error('the tracing module was loaded')\n")
  const upstream = await new MockUpstream().start()
  upstream.handler = (_req, res) => streamAnswer(res)
  t.teardown(() => upstream.close())
  const yaml = `usage: { db: "off" }\nproviders:\n  - { name: up, type: anthropic, base_url: "${upstream.url}", keys: [{ key: k }] }\n`
  const relay = await startRelay(yaml, { bin: join(copy, 'bin', 'cc-relay.js'), env: { OTEL_EXPORTER_OTLP_ENDPOINT: '' } })
  t.teardown(() => relay.stop())
  const own = `00-${traceId(12)}-${CALLER_SPAN}-01`
  for (let i = 0; i < 3; i++) t.equal((await post(relay, { traceparent: own })).status, 200)
  t.equal(upstream.last.headers.traceparent, own)
  t.notOk(relay.logs.some((l) => l.msg === 'tracing on'))
  // The same copy with an endpoint does load it (so the check above could have failed).
  const traced = spawnSync(process.execPath, [join(copy, 'bin', 'cc-relay.js'), 'serve', '--config', writeConfig(`${yaml}telemetry: { otlp: { endpoint: "http://127.0.0.1:9" } }\n`), '--listen', '127.0.0.1:0'], {
    encoding: 'utf8',
    timeout: 30_000,
  })
  t.not(traced.status, 0)
  t.match(traced.stderr, /tracing module was loaded/)
})
