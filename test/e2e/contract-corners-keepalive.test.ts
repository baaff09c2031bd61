/**
 * Keepalive against failover (CONTRACT §6 "Keepalive", issue 27 corner 1), through the running relay:
 * before the upstream's head nothing reaches the client, however long it holds it back, so the next
 * provider still serves and the client sees only that provider's stream (no ping of the first one's);
 * once `keepalive_ms` of silence after a 2xx head has committed the head, a failure is an `event: error`
 * and the next provider is not asked.
 */
import t from 'tap'
import type { ServerResponse } from 'node:http'
import { MockUpstream, sse } from '../helpers/mock-upstream.js'
import { startRelay } from '../helpers/relay.js'
import type { RunningRelay } from '../helpers/relay.js'
import { STREAM_EVENTS } from '../fixtures/anthropic.js'

const B_STREAM = sse(STREAM_EVENTS as unknown as { type: string }[])
const PING = 'event: ping\ndata: {"type": "ping"}\n\n'
const START = { type: 'message_start', message: { id: 'msg_a', type: 'message', role: 'assistant', content: [], model: 'm', usage: { input_tokens: 5, output_tokens: 1 } } }
const OVERLOADED = { type: 'error', error: { type: 'overloaded_error', message: 'A is overloaded' } }

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
const healthyB = () => mock((_req, res) => void res.writeHead(200, { 'content-type': 'text/event-stream' }).end(B_STREAM))

async function pair(a: MockUpstream, b: MockUpstream, server: string): Promise<RunningRelay> {
  const r = await startRelay(`server: ${server}
routing: { debug: true }
logging: { level: info, format: json }
providers:
  - { name: A, type: anthropic, base_url: "${a.url}", priority: 2, keys: [{ key: a-1 }] }
  - { name: B, type: anthropic, base_url: "${b.url}", priority: 1, keys: [{ key: b-1 }] }
`)
  relays.push(r)
  return r
}

async function stream(r: RunningRelay): Promise<{ res: Response; text: string }> {
  const res = await fetch(`${r.url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'claude-opus-4-8', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    signal: AbortSignal.timeout(30_000),
  })
  return { res, text: await res.text() }
}

t.test('an upstream holding back its head past keepalive_ms: nothing reaches the client, and the next provider serves', async (t) => {
  const cases: [name: string, server: string, handler: (req: unknown, res: ServerResponse) => void][] = [
    // Four keepalive periods without a head, then a 529: the client must have seen nothing of A.
    ['a 529 after a long wait', '{ keepalive_ms: 250 }', (_req, res) => void setTimeout(() => res.writeHead(529, { 'content-type': 'application/json' }).end('{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'), 1000)],
    // No head at all: the first-byte timeout, well past keepalive_ms.
    ['no head until the first-byte timeout', '{ keepalive_ms: 250, timeouts: { first_byte_ms: 1200 } }', () => {}],
  ]
  for (const [name, server, handler] of cases) {
    const a = await mock(handler)
    const b = await healthyB()
    const r = await pair(a, b, server)
    const { res, text } = await stream(r)
    t.equal(res.status, 200, `${name}: 200`)
    t.equal(res.headers.get('x-cc-relay-provider'), 'B', `${name}: served by B`)
    t.equal(res.headers.get('x-cc-relay-attempts'), '2', `${name}: A, then B`)
    t.equal(text, B_STREAM, `${name}: B's stream byte for byte, no ping from the wait on A`)
    t.equal(a.requests.length, 1, `${name}: A was asked once`)
    t.equal(b.requests.length, 1, `${name}: B was asked once`)
  }
})

t.test('a 2xx head and message_start, then silence: keepalive_ms commits the head; a failure after that is event: error, and B is not asked', async (t) => {
  let held: ServerResponse | undefined
  const a = await mock((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' }).write(sse([START]))
    held = res
  })
  const b = await healthyB()
  const r = await pair(a, b, '{ keepalive_ms: 250 }')
  const res = await fetch(`${r.url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'claude-opus-4-8', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    signal: AbortSignal.timeout(30_000),
  })
  t.equal(res.status, 200, 'the head was committed: 200 reached the client')
  t.equal(res.headers.get('x-cc-relay-provider'), 'A', 'A was committed to')
  const reader = res.body!.getReader()
  let text = ''
  // The head came with the held opening and a ping: the keepalive rule let them go.
  while (!text.includes(PING)) {
    const { value, done } = await reader.read()
    if (done) break
    text += Buffer.from(value).toString()
  }
  t.ok(text.startsWith(sse([START])), 'the held message_start went out with the head')
  // Now A fails before any content: too late to fail over.
  held!.end(sse([OVERLOADED]))
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    text += Buffer.from(value).toString()
  }
  t.equal(text.replaceAll(PING, ''), sse([START, OVERLOADED]), "A's opening, then its error as the last event, nothing else")
  t.ok(text.endsWith(sse([OVERLOADED])), 'event: error ends the stream')
  t.equal(b.requests.length, 0, 'B was not asked')
})
