/**
 * Failover that reaches the backup (issue 12, CONTRACT §6 "Failover scope"), through the running relay:
 * a provider-wide failure — 529, 5xx, a refused connection, a first-byte timeout, or an `event: error`
 * before any content — moves the next attempt to the next provider, not to the same provider's next
 * key; a key-scoped one (429) to the next key. Breakers count provider-wide failures only.
 */
import t from 'tap'
import type { ServerResponse } from 'node:http'
import { closedPort } from '../helpers/ports.js'
import { MockUpstream, sse } from '../helpers/mock-upstream.js'
import { startRelay } from '../helpers/relay.js'
import type { RunningRelay } from '../helpers/relay.js'
import type { StatusSnapshot } from '../../src/admin/status.js'
import { STREAM_EVENTS } from '../fixtures/anthropic.js'

const MESSAGE = '{"id":"msg_b","type":"message","role":"assistant","content":[{"type":"text","text":"from B"}],"model":"m","stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}'
const B_STREAM = sse(STREAM_EVENTS as unknown as { type: string }[])
const START = { type: 'message_start', message: { id: 'msg_a', type: 'message', role: 'assistant', content: [], model: 'm', usage: { input_tokens: 5, output_tokens: 1 } } }
const OVERLOADED = { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }
const TEXT_START = { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }
const TEXT_DELTA = { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'partial answer from A' } }

const relays: RunningRelay[] = []
const mocks: MockUpstream[] = []
t.teardown(async () => {
  await Promise.all(relays.map((r) => r.stop()))
  await Promise.all(mocks.map((m) => m.close()))
})
async function mock(handler: MockUpstream['handler']): Promise<MockUpstream> {
  const m = await new MockUpstream().start()
  m.handler = handler
  mocks.push(m)
  return m
}
async function relay(yaml: string): Promise<RunningRelay> {
  const r = await startRelay(`routing: { debug: true }\nlogging: { level: info, format: json }\n${yaml}`)
  relays.push(r)
  return r
}
const healthyB = () =>
  mock((_req, res, recorded) => {
    if (/"stream":true/.test(recorded.body.toString())) res.writeHead(200, { 'content-type': 'text/event-stream' }).end(B_STREAM)
    else res.writeHead(200, { 'content-type': 'application/json' }).end(MESSAGE)
  })
const failWith = (status: number, type: string) => (_req: unknown, res: ServerResponse) =>
  void res.writeHead(status, { 'content-type': 'application/json' }).end(`{"type":"error","error":{"type":"${type}","message":"A says ${status}"}}`)
/** Two providers: A (priority 2) with three keys, B (priority 1) with one; `extra` goes under `server:` or the top. */
const pair = (aUrl: string, bUrl: string, top = '') => `${top}
providers:
  - { name: A, type: anthropic, base_url: "${aUrl}", priority: 2, keys: [{ key: a-1 }, { key: a-2 }, { key: a-3 }] }
  - { name: B, type: anthropic, base_url: "${bUrl}", priority: 1, keys: [{ key: b-1 }] }
`
async function post(r: RunningRelay, stream = false) {
  const res = await fetch(`${r.url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'claude-opus-4-8', max_tokens: 50, stream, messages: [{ role: 'user', content: 'hi' }] }),
    signal: AbortSignal.timeout(20_000),
  })
  return { res, text: await res.text() }
}
const status = async (r: RunningRelay) => (await (await fetch(`${r.url}/status.json`)).json()) as StatusSnapshot

t.test('a provider-wide failure on A (three keys) goes to B: A gets exactly one attempt', async (t) => {
  const cases: [name: string, setup: () => Promise<{ url: string; attemptsOnA: () => number }>, top: string][] = [
    ['529 overloaded', async () => { const a = await mock(failWith(529, 'overloaded_error')); return { url: a.url, attemptsOnA: () => a.requests.length } }, ''],
    ['500 api_error', async () => { const a = await mock(failWith(500, 'api_error')); return { url: a.url, attemptsOnA: () => a.requests.length } }, ''],
    ['connection refused', async () => ({ url: `http://127.0.0.1:${await closedPort()}`, attemptsOnA: () => -1 }), ''],
    ['first-byte timeout', async () => { const a = await mock(() => {}); return { url: a.url, attemptsOnA: () => a.requests.length } }, 'server: { timeouts: { first_byte_ms: 300 } }'],
  ]
  for (const [name, setup, top] of cases) {
    const a = await setup()
    const b = await healthyB()
    const r = await relay(pair(a.url, b.url, top))
    const { res, text } = await post(r)
    t.equal(res.status, 200, `${name}: the client gets B's answer`)
    t.equal(text, MESSAGE, `${name}: B's answer, whole`)
    t.equal(res.headers.get('x-cc-relay-provider'), 'B', `${name}: served by B`)
    t.equal(res.headers.get('x-cc-relay-attempts'), '2', `${name}: one attempt on A, then B`)
    if (a.attemptsOnA() >= 0) t.equal(a.attemptsOnA(), 1, `${name}: A got exactly one attempt`)
    t.equal(b.requests.length, 1)
    const line = await r.waitForLog((l) => l.msg === 'request' && l.status === 200)
    t.same((line.failovers as { provider: string; scope: string }[]).map((f) => [f.provider, f.scope]), [['A', 'provider']], `${name}: the request log names the scope`)
    const snapshot = await status(r)
    t.equal(snapshot.recent_failovers[0]?.scope, 'provider', `${name}: /status.json too`)
    const metrics = await (await fetch(`${r.url}/metrics`)).text()
    t.match(metrics, /cc_relay_failovers_total\{provider="A",scope="provider",reason="[\w]+"\} 1/, `${name}: counted by scope`)
  }
})

t.test("a 429 on A's first key is key-scoped: A's second key serves, B gets nothing", async (t) => {
  const a = await mock((req, res) =>
    req.headers['x-api-key'] === 'a-1' ? failWith(429, 'rate_limit_error')(req, res) : res.writeHead(200, { 'content-type': 'application/json' }).end(MESSAGE.replace('from B', 'from A')),
  )
  const b = await healthyB()
  const r = await relay(pair(a.url, b.url).replace('keys: [{ key: a-1 }, { key: a-2 }, { key: a-3 }]', 'keys: [{ key: a-1, priority: 3 }, { key: a-2, priority: 2 }, { key: a-3, priority: 1 }]'))
  const { res, text } = await post(r)
  t.equal(res.status, 200)
  t.match(text, /from A/)
  t.same(a.requests.map((q) => q.headers['x-api-key']), ['a-1', 'a-2'], "A's first key, then its second")
  t.equal(b.requests.length, 0, 'B got nothing')
  t.equal((await status(r)).recent_failovers[0]?.scope, 'key')
})

t.test('only one provider with three keys, 529 on every key: all three are tried, then the last answer verbatim', async (t) => {
  const body = '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
  const a = await mock((req, res) => void res.writeHead(529, { 'content-type': 'application/json', 'request-id': `req_${String(req.headers['x-api-key'])}` }).end(body))
  const r = await relay(`providers:
  - { name: A, type: anthropic, base_url: "${a.url}", keys: [{ key: a-1 }, { key: a-2 }, { key: a-3 }] }
`)
  const { res, text } = await post(r)
  t.equal(res.status, 529)
  t.equal(text, body, 'the body byte for byte')
  t.same(a.requests.map((q) => q.headers['x-api-key']).sort(), ['a-1', 'a-2', 'a-3'], 'each key once')
  t.equal(res.headers.get('request-id'), `req_${String(a.requests[2]!.headers['x-api-key'])}`, "the last answer's request-id")
})

t.test('an event: error before any content fails over to B: the client gets B whole, and no trace of A', async (t) => {
  const openings: [name: string, events: object[]][] = [
    ['as the very first event', [OVERLOADED]],
    ['after message_start and a ping', [START, { type: 'ping' }, OVERLOADED]],
  ]
  for (const [name, events] of openings) {
    const a = await mock((_req, res) => void res.writeHead(200, { 'content-type': 'text/event-stream' }).end(sse(events as { type: string }[])))
    const b = await healthyB()
    const r = await relay(pair(a.url, b.url))
    const { res, text } = await post(r, true)
    t.equal(res.status, 200, name)
    t.equal(text, B_STREAM, `${name}: B's whole stream, byte for byte`)
    t.notMatch(text, /overloaded_error|msg_a/, `${name}: nothing of A's`)
    t.equal(res.headers.get('x-cc-relay-provider'), 'B', name)
    t.equal(a.requests.length, 1, `${name}: one attempt on A`)
    t.equal((await status(r)).recent_failovers[0]?.reason, 'overloaded_error', `${name}: the failover's reason`)
  }
})

t.test('an event: error before content with nowhere to fail over to reaches the client as the upstream sent it', async (t) => {
  const opening = sse([START, { type: 'ping' }, OVERLOADED] as { type: string }[])
  const a = await mock((_req, res) => void res.writeHead(200, { 'content-type': 'text/event-stream' }).end(opening))
  const r = await relay(`providers:\n  - { name: A, type: anthropic, base_url: "${a.url}", keys: [{ key: a-1 }] }\n`)
  const { res, text } = await post(r, true)
  t.equal(res.status, 200)
  t.equal(text, opening, 'the upstream stream, verbatim, ending in its own event: error')
})

t.test("once content has flowed, A's error reaches the client as event: error, last; B is not asked", async (t) => {
  const a = await mock((_req, res) => void res.writeHead(200, { 'content-type': 'text/event-stream' }).end(sse([START, TEXT_START, TEXT_DELTA, OVERLOADED] as { type: string }[])))
  const b = await healthyB()
  const r = await relay(pair(a.url, b.url))
  const { res, text } = await post(r, true)
  t.equal(res.status, 200)
  t.ok(text.startsWith(sse([START, TEXT_START, TEXT_DELTA] as { type: string }[])), 'the content A sent')
  t.ok(text.endsWith(sse([OVERLOADED] as { type: string }[])), "A's error is the last event")
  t.equal(b.requests.length, 0, 'B is not asked')
})

t.test('breakers: 429s on a key never open the circuit; failure_threshold 529s do', async (t) => {
  let mode = 429
  const a = await mock((req, res) => failWith(mode, mode === 429 ? 'rate_limit_error' : 'overloaded_error')(req, res))
  const r = await relay(`health: { circuit_breaker: { failure_threshold: 3, open_duration_ms: 60000 }, health_check: { enabled: false } }
providers:
  - { name: A, type: anthropic, base_url: "${a.url}", keys: [{ key: a-1 }] }
`)
  const breaker = async () => (await status(r)).providers.find((p) => p.name === 'A')!.breaker.state
  for (let i = 0; i < 3; i++) {
    // Each 429 cools the key for this model for 1 s (retry-after absent: 5 s) — wait it out with another model.
    const res = await fetch(`${r.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"model":"claude-model-${i}","max_tokens":5,"messages":[]}` })
    t.equal(res.status, 429)
    await res.text()
  }
  t.equal(a.requests.length, 3, 'three 429s reached the upstream')
  t.equal(await breaker(), 'closed', 'three 429s: still closed')
  mode = 529
  for (let i = 0; i < 3; i++) {
    const res = await fetch(`${r.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"model":"claude-other-${i}","max_tokens":5,"messages":[]}` })
    t.equal(res.status, 529)
    await res.text()
  }
  t.equal(await breaker(), 'open', 'three 529s: open')
})

t.test("Bedrock's ThrottlingException is the account's quota for the model: the next attempt goes to the backup, not to another key slot", async (t) => {
  const bedrock = await mock(
    (_req, res) =>
      void res
        .writeHead(429, { 'content-type': 'application/json', 'x-amzn-ErrorType': 'ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/' })
        .end('{"message":"Too many tokens, please wait before trying again."}'),
  )
  const b = await healthyB()
  const r = await relay(`providers:
  - name: A
    type: bedrock
    base_url: "${bedrock.url}"
    aws_region: us-east-1
    aws_access_key_id: AKIAIOSFODNN7EXAMPLE
    aws_secret_access_key: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
    priority: 2
    keys: [{ key: slot-1 }, { key: slot-2 }]
  - { name: B, type: anthropic, base_url: "${b.url}", priority: 1, keys: [{ key: b-1 }] }
`)
  const { res, text } = await post(r)
  t.equal(res.status, 200)
  t.equal(text, MESSAGE)
  t.equal(bedrock.requests.length, 1, 'one attempt on Bedrock')
  const snapshot = await status(r)
  t.equal(snapshot.recent_failovers[0]?.scope, 'provider')
  const slots = snapshot.providers.find((p) => p.name === 'A')!.keys
  t.same(slots.map((k) => k.model_cooldowns.length), [1, 1], 'the model cools on every slot (they share the quota)')
  t.equal(snapshot.providers.find((p) => p.name === 'A')!.breaker.failures, 0, 'a throttle is not a health failure')
})
