/**
 * What a client sees when the upstream fails (CONTRACT §4, §6): refused or reset connections become 502
 * `api_error`, an upstream error answer comes back verbatim, a configured timeout becomes 504
 * `timeout_error`, and a failure after the first byte becomes one whole `event: error` frame and a clean
 * end. After each, the relay keeps serving.
 *
 * Every fault has a provider (and model) of its own, so a breaker or a key cooldown that one fault may
 * cause never changes what another case, or the healthy provider, sees.
 */
import t from 'tap'
import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import Anthropic, { APIConnectionError, APIError } from '@anthropic-ai/sdk'
import { MockUpstream, sse } from '../helpers/mock-upstream.js'
import { oneProvider, startRelay } from '../helpers/relay.js'
import type { RunningRelay } from '../helpers/relay.js'
import { assertEnvelope, assertEnvelopeBody, readAnswer } from '../helpers/answers.js'
import type { Answer, Asserts, Envelope } from '../helpers/answers.js'
import { MESSAGE, STREAM_EVENTS } from '../fixtures/anthropic.js'

const HEALTHY_MODEL = 'claude-opus-4-8'
const POOLED = 'sk-ant-pooled-key'
const CLOSED_PORT_KEY = 'sk-ant-closed-port-secret'
const EVENTS = STREAM_EVENTS as unknown as { type: string }[]
const FULL_STREAM = sse(EVENTS)
/** Whole events written before a mid-stream reset. */
const SENT_BEFORE_RESET = sse(EVENTS.slice(0, 4))
/** Three whole events, then half of the fourth: its event line and the start of its data line. */
const WHOLE_BEFORE_HALF = sse(EVENTS.slice(0, 3))
const FOURTH = sse(EVENTS.slice(3, 4))
const HALF_EVENT = FOURTH.slice(0, FOURTH.indexOf('data: ') + 20)
/** The opening (`message_start`) and the first content block's start: content has begun. */
const CONTENT_STARTED = sse(EVENTS.slice(0, 2))
/** `message_start` alone: the opening the relay holds until content starts (CONTRACT §6). */
const OPENING_ONLY = sse(EVENTS.slice(0, 1))

// Upstream error answers, with odd spacing so "byte for byte" means something.
const BODY_500 = '{"type":"error",  "error":{"type":"api_error","message":"Internal server error"}}'
const BODY_529 = '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
const BODY_429 = '{"type":"error", "error":{"type":"rate_limit_error","message":"Number of requests has exceeded your rate limit"}}'

const SSE_HEAD = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' }

/** Writes `text`, and once it has been handed to the socket, drops the connection. */
function writeThenDrop(req: IncomingMessage, res: ServerResponse, text: string): void {
  res.write(text, () => req.socket.destroy())
}

/** What the mock does, by the model the relay sent (each fault case has a model of its own). */
const behaviours: Record<string, (req: IncomingMessage, res: ServerResponse) => void> = {
  'claude-reset-before-headers': (req) => req.socket.destroy(),
  'claude-reset-mid-stream': (req, res) => {
    res.writeHead(200, { ...SSE_HEAD, 'request-id': 'req_upstream_mid' })
    writeThenDrop(req, res, SENT_BEFORE_RESET)
  },
  'claude-reset-mid-stream-sdk': (req, res) => {
    res.writeHead(200, { ...SSE_HEAD, 'request-id': 'req_upstream_mid_sdk' })
    writeThenDrop(req, res, SENT_BEFORE_RESET)
  },
  'claude-reset-mid-event': (req, res) => {
    res.writeHead(200, { ...SSE_HEAD, 'request-id': 'req_upstream_half' })
    writeThenDrop(req, res, WHOLE_BEFORE_HALF + HALF_EVENT)
  },
  'claude-reset-mid-json': (req, res) => {
    const body = JSON.stringify(MESSAGE)
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) })
    writeThenDrop(req, res, body.slice(0, 60))
  },
  'claude-hang': () => {},
  'claude-silent': (_req, res) => {
    res.writeHead(200, SSE_HEAD)
    res.write(CONTENT_STARTED)
  },
  'claude-silent-opening': (_req, res) => {
    res.writeHead(200, SSE_HEAD)
    res.write(OPENING_ONLY)
  },
}
for (const mode of ['json', 'sse']) {
  behaviours[`claude-500-${mode}`] = (_req, res) =>
    res.writeHead(500, { 'content-type': 'application/json', 'request-id': `req_upstream_500_${mode}` }).end(BODY_500)
  behaviours[`claude-529-${mode}`] = (_req, res) => res.writeHead(529, { 'content-type': 'application/json' }).end(BODY_529)
  behaviours[`claude-429-${mode}`] = (_req, res) =>
    res
      .writeHead(429, {
        'content-type': 'application/json',
        'retry-after': '17',
        'anthropic-ratelimit-requests-remaining': '0',
        'request-id': `req_upstream_429_${mode}`,
      })
      .end(BODY_429)
}

const upstream = await new MockUpstream().start()
upstream.handler = (req, res, rec) => {
  const body = JSON.parse(rec.body.toString()) as { model: string; stream?: boolean }
  const fault = behaviours[body.model]
  if (fault) return fault(req, res)
  if (body.stream) res.writeHead(200, { ...SSE_HEAD, 'request-id': 'req_upstream_ok' }).end(FULL_STREAM)
  else res.writeHead(200, { 'content-type': 'application/json', 'request-id': 'req_upstream_ok' }).end(JSON.stringify(MESSAGE))
}

// A port nothing listens on: bound, noted, closed.
const closedPort = await new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const port = (s.address() as AddressInfo).port
    s.close(() => resolve(port))
  })
})

const provider = (name: string, baseUrl: string, key: string, models: string[]) => `
  - name: ${name}
    type: anthropic
    base_url: "${baseUrl}"
    keys: [{ key: "${key}" }]
    models: [${models.map((m) => JSON.stringify(m)).join(', ')}]`

const faultModels = Object.keys(behaviours).filter((m) => !['claude-hang', 'claude-silent', 'claude-silent-opening'].includes(m))
const mainConfig = `
logging: { level: info, format: json }
providers:${provider('upstream', upstream.url, POOLED, [HEALTHY_MODEL])}${provider('closed-port-provider', `http://127.0.0.1:${closedPort}`, CLOSED_PORT_KEY, ['claude-refused'])}${faultModels
  .map((m) => provider(m.replace(/^claude-/, 'faulty-'), upstream.url, `sk-ant-${m}-key`, [m]))
  .join('')}
`

const [relay, firstByteRelay, idleRelay] = await Promise.all([
  startRelay(mainConfig),
  startRelay(oneProvider(upstream.url, `    keys: [{ key: "${POOLED}" }]`, `server:\n  timeouts: { first_byte_ms: 1500 }`)),
  startRelay(oneProvider(upstream.url, `    keys: [{ key: "${POOLED}" }]`, `server:\n  timeouts: { idle_ms: 1500 }`)),
])
t.teardown(async () => {
  await Promise.all([relay.stop(), firstByteRelay.stop(), idleRelay.stop()])
  await upstream.close()
})

/** A hang is a failure with a message, not a stuck file; this is never what a test asserts on. */
const guard = () => AbortSignal.timeout(20_000)

const JSON_HEADERS = { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'x-api-key': 'sk-ant-api03-client-own' }
const bodyFor = (model: string, stream: boolean) =>
  JSON.stringify({ model, max_tokens: 256, stream, messages: [{ role: 'user', content: 'weather?' }] })

async function ask(on: RunningRelay, model: string, stream: boolean): Promise<Answer> {
  const res = await fetch(`${on.url}/v1/messages`, { method: 'POST', headers: JSON_HEADERS, body: bodyFor(model, stream), signal: guard() })
  return readAnswer(res)
}

/** The relay still answers a good streaming and a good non-streaming request. */
async function stillServes(t: Asserts, on: RunningRelay): Promise<void> {
  const streamed = await ask(on, HEALTHY_MODEL, true)
  t.equal(streamed.status, 200, 'still serves: streaming request 200')
  t.equal(streamed.text, FULL_STREAM, 'still serves: the whole stream')
  const plain = await ask(on, HEALTHY_MODEL, false)
  t.equal(plain.status, 200, 'still serves: non-streaming request 200')
  t.same(JSON.parse(plain.text), MESSAGE, 'still serves: the message')
}

/**
 * A stream broken after the head: HTTP 200, exactly `sent` (whole events, byte for byte), then exactly
 * one `event: error` frame with the envelope, then the end (the body was read to its end by the caller).
 */
function assertErrorAfter(t: Asserts, answer: Answer, sent: string, type: string): Envelope | undefined {
  t.equal(answer.status, 200, 'status 200 (the head was already sent)')
  t.match(answer.headers['content-type'] ?? '', /^text\/event-stream/, 'still an event stream')
  t.equal(answer.text.slice(0, sent.length), sent, 'the events sent so far, byte for byte')
  const tail = answer.text.slice(sent.length)
  const m = /^event: error\ndata: ([^\n]*)\n\n$/.exec(tail)
  t.ok(m, `then exactly one event: error frame and the end (got ${JSON.stringify(tail)})`)
  if (!m) return undefined
  const envelope = JSON.parse(m[1]!) as Envelope
  assertEnvelopeBody(t, envelope, type, answer.headers['x-cc-relay-request-id'])
  return envelope
}

t.test('connection refused → 502 api_error naming the provider, no key', async (t) => {
  const answer = await ask(relay, 'claude-refused', true)
  const envelope = assertEnvelope(t, answer, 502, 'api_error')
  t.match(envelope.error.message, 'closed-port-provider', 'the message names the provider')
  t.notMatch(envelope.error.message, CLOSED_PORT_KEY, 'no key in the message')
  t.notMatch(envelope.error.message, /sk-ant-/, 'no credential of any kind in the message')
  const line = await relay.waitForLog((l) => l.msg === 'request' && l.request_id === envelope.request_id)
  t.match(line, { status: 502, error: 'upstream_unreachable' }, 'logged as upstream_unreachable')
  t.notMatch(JSON.stringify(relay.logs), CLOSED_PORT_KEY, 'no key in any log line')
  await stillServes(t, relay)
})

t.test('upstream resets before sending headers → 502 api_error', async (t) => {
  const before = upstream.requests.length
  const answer = await ask(relay, 'claude-reset-before-headers', true)
  t.equal(upstream.requests.length, before + 1, 'the upstream got the request (and dropped it)')
  const envelope = assertEnvelope(t, answer, 502, 'api_error')
  t.match(envelope.error.message, 'faulty-reset-before-headers', 'the message names the provider')
  await stillServes(t, relay)
})

t.test('upstream resets mid-stream after whole events → 200, those events, event: error, end', async (t) => {
  const answer = await ask(relay, 'claude-reset-mid-stream', true)
  t.equal(answer.headers['request-id'], 'req_upstream_mid', "request-id is the upstream's")
  const envelope = assertErrorAfter(t, answer, SENT_BEFORE_RESET, 'api_error')
  if (envelope) {
    const line = await relay.waitForLog((l) => l.msg === 'request' && l.request_id === envelope.request_id)
    t.match(line, { status: 200, error: 'upstream_unreachable' }, 'logged with the failure')
  }
  await stillServes(t, relay)
})

t.test('upstream resets mid-stream: the SDK stream rejects with an APIError, not a hang', async (t) => {
  const client = new Anthropic({ baseURL: relay.url, apiKey: 'sk-ant-api03-client-own', maxRetries: 0, timeout: 20_000 })
  const err: unknown = await client.messages
    .stream({ model: 'claude-reset-mid-stream-sdk', max_tokens: 256, messages: [{ role: 'user', content: 'weather?' }] })
    .finalMessage()
    .then(
      () => undefined,
      (e: unknown) => e,
    )
  t.ok(err instanceof APIError, `rejects with an APIError (got ${String(err)})`)
  t.notOk(err instanceof APIConnectionError, 'not a connection error: the relay ended the stream with an error event')
  t.equal((err as APIError).type, 'api_error', 'the error event type reaches the SDK')
  await stillServes(t, relay)
})

t.test('upstream resets in the middle of an event → only whole events, then event: error', async (t) => {
  const answer = await ask(relay, 'claude-reset-mid-event', true)
  t.equal(answer.headers['request-id'], 'req_upstream_half', "request-id is the upstream's")
  assertErrorAfter(t, answer, WHOLE_BEFORE_HALF, 'api_error')
  t.notMatch(answer.text, HALF_EVENT, 'the half event never reaches the client')
  await stillServes(t, relay)
})

t.test('upstream resets in the middle of a non-streaming JSON answer → 502 api_error, never half a document', async (t) => {
  const answer = await ask(relay, 'claude-reset-mid-json', false)
  const envelope = assertEnvelope(t, answer, 502, 'api_error')
  t.match(envelope.error.message, 'faulty-reset-mid-json', 'the message names the provider')
  await stillServes(t, relay)
})

t.test('upstream error answers come back verbatim', async (t) => {
  const cases: { status: number; body: string; requestId: string | undefined; headers: Record<string, string> }[] = [
    { status: 500, body: BODY_500, requestId: 'req_upstream_500', headers: {} },
    { status: 529, body: BODY_529, requestId: undefined, headers: {} },
    { status: 429, body: BODY_429, requestId: 'req_upstream_429', headers: { 'retry-after': '17', 'anthropic-ratelimit-requests-remaining': '0' } },
  ]
  for (const c of cases) {
    for (const mode of ['json', 'sse'] as const) {
      t.test(`${c.status} (${mode === 'sse' ? 'streaming' : 'non-streaming'} request)`, async (t) => {
        const before = upstream.requests.length
        const answer = await ask(relay, `claude-${c.status}-${mode}`, mode === 'sse')
        t.equal(upstream.requests.length, before + 1, 'one upstream attempt (one key)')
        t.equal(answer.status, c.status, 'the same status')
        t.equal(answer.text, c.body, 'the same body, byte for byte')
        t.match(answer.headers['content-type'] ?? '', /^application\/json/, 'the same content-type')
        for (const [name, value] of Object.entries(c.headers)) t.equal(answer.headers[name], value, `${name} passed along`)
        const relayId = answer.headers['x-cc-relay-request-id']
        t.match(relayId ?? '', /^req_ccr_/, 'x-cc-relay-request-id is the relay id')
        if (c.requestId) t.equal(answer.headers['request-id'], `${c.requestId}_${mode}`, "request-id is the upstream's")
        else t.equal(answer.headers['request-id'], relayId, "no upstream request-id: request-id is the relay's")
        await stillServes(t, relay)
      })
    }
  }
})

t.test('upstream hangs before headers, first_byte_ms: 1500 → 504 timeout_error', async (t) => {
  const answer = await ask(firstByteRelay, 'claude-hang', true)
  const envelope = assertEnvelope(t, answer, 504, 'timeout_error')
  t.notMatch(envelope.error.message, POOLED, 'no key in the message')
  await stillServes(t, firstByteRelay)
})

t.test('upstream goes silent once content has started, idle_ms: 1500 → 200, the events, then event: error timeout_error', async (t) => {
  const answer = await ask(idleRelay, 'claude-silent', true)
  assertErrorAfter(t, answer, CONTENT_STARTED, 'timeout_error')
  await stillServes(t, idleRelay)
})

t.test('upstream goes silent after its opening (message_start only), idle_ms: 1500 → 504 timeout_error: nothing had reached the client', async (t) => {
  const answer = await ask(idleRelay, 'claude-silent-opening', true)
  const envelope = assertEnvelope(t, answer, 504, 'timeout_error')
  t.notMatch(envelope.error.message, POOLED, 'no key in the message')
  await stillServes(t, idleRelay)
})
