/**
 * Settings no other test drives, through the running relay (issue 17): `routing.max_attempts`,
 * `routing.failover_timeout_ms`, `routing.queue_timeout_ms` running out, `server.timeouts.connect_ms` and
 * `server.timeouts.total_ms`. Each is set so the outcome differs from what the default would give.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import type { ServerResponse } from 'node:http'
import { MockUpstream, sse } from '../helpers/mock-upstream.js'
import { assertEnvelope, readAnswer } from '../helpers/answers.js'
import { startRelay } from '../helpers/relay.js'
import type { RunningRelay } from '../helpers/relay.js'
import { within } from '../helpers/wait.js'

const MESSAGE = '{"id":"msg_ok","type":"message","role":"assistant","content":[],"model":"m","stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}'
const ok = (res: ServerResponse): void => void res.writeHead(200, { 'content-type': 'application/json' }).end(MESSAGE)
const overloaded = (res: ServerResponse): void =>
  void res.writeHead(529, { 'content-type': 'application/json' }).end('{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}')

const relays: RunningRelay[] = []
const cleanups: (() => unknown)[] = []
t.teardown(async () => {
  await Promise.all(relays.map((r) => r.stop()))
  for (const c of cleanups) await c()
})
async function mock(handler: MockUpstream['handler']): Promise<MockUpstream> {
  const m = await new MockUpstream().start()
  m.handler = handler
  cleanups.push(() => m.close())
  return m
}
async function relay(yaml: string): Promise<RunningRelay> {
  const r = await startRelay(`logging: { level: info, format: json }\n${yaml}`)
  relays.push(r)
  return r
}
const post = async (r: RunningRelay, stream = false) =>
  readAnswer(
    await fetch(`${r.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `{"model":"claude-opus-4-8","max_tokens":5,"stream":${stream},"messages":[]}`,
      signal: AbortSignal.timeout(30_000),
    }),
  )

t.test('routing.max_attempts bounds the attempts across providers', async (t) => {
  const overloadedUpstreams = await Promise.all([1, 2, 3].map(() => mock((_req, res) => overloaded(res))))
  const spare = await mock((_req, res) => ok(res))
  const providers = [...overloadedUpstreams, spare].map((m, i) => `  - { name: p${i}, type: anthropic, base_url: "${m.url}", priority: ${10 - i}, keys: [{ key: k${i} }] }`).join('\n')
  const one = await relay(`routing: { max_attempts: 1 }\nproviders:\n${providers}\n`)
  t.equal((await post(one)).status, 529, 'max_attempts 1: the first answer, no failover')
  const two = await relay(`routing: { max_attempts: 2 }\nproviders:\n${providers}\n`)
  t.equal((await post(two)).status, 529, 'max_attempts 2: two overloaded providers, then the last answer')
  const four = await relay(`routing: { max_attempts: 4 }\nproviders:\n${providers}\n`)
  t.equal((await post(four)).status, 200, 'max_attempts 4: the fourth provider serves')
  t.same(overloadedUpstreams.map((m) => m.requests.length), [3, 2, 1], 'attempts per provider over the three relays')
  t.equal(spare.requests.length, 1)
})

t.test('routing.failover_timeout_ms: no new attempt starts after it', async (t) => {
  const hangs = await mock(() => {})
  const spare = await mock((_req, res) => ok(res))
  const providers = `providers:
  - { name: slow, type: anthropic, base_url: "${hangs.url}", priority: 2, keys: [{ key: k1 }] }
  - { name: spare, type: anthropic, base_url: "${spare.url}", priority: 1, keys: [{ key: k2 }] }
`
  // The first attempt times out at 1.5 s: within a 10 s failover budget the spare is asked, past a 1 s one it is not.
  const within = await relay(`server: { timeouts: { first_byte_ms: 1500 } }\nrouting: { failover_timeout_ms: 10000 }\n${providers}`)
  t.equal((await post(within)).status, 200, 'inside the budget: failed over')
  t.equal(spare.requests.length, 1)
  const past = await relay(`server: { timeouts: { first_byte_ms: 1500 } }\nrouting: { failover_timeout_ms: 1000 }\n${providers}`)
  assertEnvelope(t, await post(past), 504, 'timeout_error')
  t.equal(spare.requests.length, 1, 'past the budget: the spare was not asked')
})

t.test('routing.queue_timeout_ms running out: 429 with retry-after', async (t) => {
  const up = await mock((_req, res) => ok(res))
  const r = await relay(`routing: { queue_timeout_ms: 1000 }
providers:
  - { name: p, type: anthropic, base_url: "${up.url}", keys: [{ key: k, rpm_limit: 1 }] }
`)
  t.equal((await post(r)).status, 200)
  const refused = await post(r)
  assertEnvelope(t, refused, 429, 'rate_limit_error')
  const retryAfter = Number(refused.headers['retry-after'])
  t.ok(retryAfter > 50 && retryAfter <= 60, `retry-after is when the key's minute frees up (${retryAfter} s)`)
  t.equal(up.requests.length, 1)
  const metrics = await (await fetch(`${r.url}/metrics`)).text()
  t.match(metrics, /^cc_relay_rate_limited_total\{scope="key"\} 1$/m, 'refused by the relay after waiting')
  t.notMatch(metrics, /^cc_relay_queue_wait_seconds_count [1-9]/m, 'no wait ended with a key')
})

/** A loopback port whose accept queue is full: connections to it neither complete nor fail. */
async function unansweredPort(): Promise<number> {
  const child = spawn(process.execPath, ['-e', "require('net').createServer().listen({host:'127.0.0.1',port:0,backlog:1},function(){console.log(this.address().port)})"], { stdio: ['ignore', 'pipe', 'inherit'] })
  cleanups.push(() => child.kill('SIGKILL'))
  const port = Number(await within('the unanswering listener says its port', new Promise<string>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim())))))
  // Stopped, the child never accepts and burns no CPU (a busy loop here took a core until teardown); the
  // kernel still completes handshakes into its accept queue until the backlog is full.
  child.kill('SIGSTOP')
  await new Promise((r) => setTimeout(r, 200))
  // Fill the accept queue; the stopped child never takes from it, so later SYNs are dropped.
  const fillers: Socket[] = []
  for (let i = 0; i < 4; i++) {
    const s = connect(port, '127.0.0.1')
    s.on('error', () => {})
    fillers.push(s)
  }
  cleanups.push(() => fillers.forEach((s) => s.destroy()))
  await new Promise((r) => setTimeout(r, 200))
  return port
}

t.test('server.timeouts.connect_ms: an upstream that never completes the connection → 504, or the next provider', async (t) => {
  const port = await unansweredPort()
  const spare = await mock((_req, res) => ok(res))
  const alone = await relay(`server: { timeouts: { connect_ms: 1000 } }
providers:
  - { name: unanswered, type: anthropic, base_url: "http://127.0.0.1:${port}", keys: [{ key: k }] }
`)
  const answer = await post(alone)
  const envelope = assertEnvelope(t, answer, 504, 'timeout_error')
  t.match(envelope.error.message, /provider unanswered timed out connecting/)
  const paired = await relay(`server: { timeouts: { connect_ms: 1000 } }
providers:
  - { name: unanswered, type: anthropic, base_url: "http://127.0.0.1:${port}", priority: 2, keys: [{ key: k }] }
  - { name: spare, type: anthropic, base_url: "${spare.url}", priority: 1, keys: [{ key: k2 }] }
`)
  t.equal((await post(paired)).status, 200, 'a connect timeout is provider-wide: the spare serves')
})

t.test('server.timeouts.total_ms ends a stream that is still flowing', async (t) => {
  let timer: NodeJS.Timeout | undefined
  const up = await mock((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.write(sse([{ type: 'message_start', message: { id: 'm', usage: { input_tokens: 1, output_tokens: 1 } } }, { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }]))
    // A delta every 100 ms for ever: never idle, never done.
    timer = setInterval(() => res.write(sse([{ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: '.' } }])), 100)
    res.on('close', () => clearInterval(timer))
  })
  cleanups.push(() => clearInterval(timer))
  const r = await relay(`server: { timeouts: { total_ms: 1500, idle_ms: 1000 } }
providers:
  - { name: p, type: anthropic, base_url: "${up.url}", keys: [{ key: k }] }
`)
  const answer = await post(r, true)
  t.equal(answer.status, 200)
  t.match(answer.text, /event: content_block_delta/, 'the stream flowed')
  t.match(answer.text, /event: error\ndata: \{"type":"error","error":\{"type":"timeout_error","message":"provider p timed out: total time of 1500 ms"\}/, 'then ended with event: error')
})
