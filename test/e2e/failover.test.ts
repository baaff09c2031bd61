/**
 * Key pools, limits, breakers and failover through the running relay, against mock upstreams that answer
 * per key. Each case has its own relay so the books of one case cannot leak into another.
 */
import t from 'tap'
import { join } from 'node:path'
import type { ServerResponse } from 'node:http'
import { closedPort } from '../helpers/ports.js'
import { MockUpstream, sse } from '../helpers/mock-upstream.js'
import { assertOverhead } from '../helpers/answers.js'
import { until } from '../helpers/wait.js'
import { startRelay } from '../helpers/relay.js'
import type { RunningRelay } from '../helpers/relay.js'

const MESSAGE = '{"id":"msg_ok","type":"message","role":"assistant","content":[],"model":"m","stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}'
const ok = (res: ServerResponse): void => void res.writeHead(200, { 'content-type': 'application/json' }).end(MESSAGE)
const error = (res: ServerResponse, status: number, type: string, headers: Record<string, string> = {}): void =>
  void res.writeHead(status, { 'content-type': 'application/json', 'request-id': `req_up_${status}`, ...headers }).end(`{"type":"error","error":{"type":"${type}","message":"upstream says ${status}"}}`)

const relays: RunningRelay[] = []
const mocks: MockUpstream[] = []
t.teardown(async () => {
  await Promise.all(relays.map((r) => r.stop()))
  await Promise.all(mocks.map((m) => m.close()))
})
async function mock(): Promise<MockUpstream> {
  const m = await new MockUpstream().start()
  mocks.push(m)
  return m
}
async function relay(yaml: string): Promise<RunningRelay> {
  // Debug headers show which provider answered and after how many attempts.
  const r = await startRelay(yaml.includes('routing:') ? yaml : `routing: { debug: true }\n${yaml}`)
  relays.push(r)
  return r
}
async function post(r: RunningRelay, body = '{"model":"claude-opus-4-8","max_tokens":50,"messages":[]}', headers: Record<string, string> = {}) {
  const res = await fetch(`${r.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body, signal: AbortSignal.timeout(30_000) })
  return { res, text: await res.text() }
}
const keysSeen = (m: MockUpstream): string[] => m.requests.map((r) => String(r.headers['x-api-key']))

t.test('429 with retry-after on key A: the same request succeeds on key B, and A is skipped while it cools', async (t) => {
  const up = await mock()
  up.handler = (req, res) => (req.headers['x-api-key'] === 'key-A' ? error(res, 429, 'rate_limit_error', { 'retry-after': '30' }) : ok(res))
  const r = await relay(`providers:
  - name: p
    type: anthropic
    base_url: "${up.url}"
    keys: [{ key: key-A, priority: 2 }, { key: key-B, priority: 1 }]
`)
  const first = await post(r)
  t.equal(first.res.status, 200, 'no error visible to the client')
  t.equal(first.res.headers.get('x-cc-relay-attempts'), '2')
  t.same(keysSeen(up), ['key-A', 'key-B'])
  for (let i = 0; i < 3; i++) t.equal((await post(r)).res.status, 200)
  t.same(keysSeen(up).slice(2), ['key-B', 'key-B', 'key-B'], 'A (the higher tier) is skipped during its 30 s cooldown')
})

t.test('529 on provider 1 is answered by provider 2 with no error visible', async (t) => {
  const one = await mock()
  const two = await mock()
  one.handler = (_req, res) => error(res, 529, 'overloaded_error')
  two.handler = (_req, res) => ok(res)
  const r = await relay(`providers:
  - { name: first, type: anthropic, base_url: "${one.url}", priority: 2, keys: [{ key: k1 }] }
  - { name: second, type: anthropic, base_url: "${two.url}", priority: 1, keys: [{ key: k2 }] }
`)
  const { res, text } = await post(r)
  t.equal(res.status, 200)
  t.equal(text, MESSAGE)
  t.equal(res.headers.get('x-cc-relay-provider'), 'second')
  assertOverhead(t, res.headers.get('x-cc-relay-overhead-ms'), 'after a failover')
  t.equal(one.requests.length, 1)
  t.equal(two.requests.length, 1)
})

t.test('when every attempt fails the client gets the last upstream answer verbatim', async (t) => {
  const one = await mock()
  const two = await mock()
  one.handler = (_req, res) => error(res, 500, 'api_error')
  two.handler = (_req, res) => error(res, 529, 'overloaded_error', { 'retry-after': '7' })
  const r = await relay(`providers:
  - { name: first, type: anthropic, base_url: "${one.url}", priority: 2, keys: [{ key: k1 }] }
  - { name: second, type: anthropic, base_url: "${two.url}", priority: 1, keys: [{ key: k2 }] }
`)
  const { res, text } = await post(r)
  t.equal(res.status, 529)
  t.equal(text, '{"type":"error","error":{"type":"overloaded_error","message":"upstream says 529"}}')
  t.equal(res.headers.get('retry-after'), '7')
  t.equal(res.headers.get('request-id'), 'req_up_529')
})

t.test('other 4xx never fail over: the request itself is wrong', async (t) => {
  const one = await mock()
  const two = await mock()
  one.handler = (_req, res) => error(res, 400, 'invalid_request_error')
  two.handler = (_req, res) => ok(res)
  const r = await relay(`providers:
  - { name: first, type: anthropic, base_url: "${one.url}", priority: 2, keys: [{ key: k1 }, { key: k1b }] }
  - { name: second, type: anthropic, base_url: "${two.url}", priority: 1, keys: [{ key: k2 }] }
`)
  const { res } = await post(r)
  t.equal(res.status, 400)
  t.equal(one.requests.length, 1)
  t.equal(two.requests.length, 0)
})

t.test('connection refused counts toward the breaker; an open breaker skips the provider; a probe closes it', async (t) => {
  const port = await closedPort()
  const two = await mock()
  two.handler = (_req, res) => ok(res)
  const r = await relay(`health: { circuit_breaker: { failure_threshold: 2, open_duration_ms: 3000, half_open_probes: 1 }, health_check: { enabled: false } }
providers:
  - { name: dead, type: anthropic, base_url: "http://127.0.0.1:${port}", priority: 2, keys: [{ key: k1 }] }
  - { name: alive, type: anthropic, base_url: "${two.url}", priority: 1, keys: [{ key: k2 }] }
`)
  const attempts: (string | null)[] = []
  for (let i = 0; i < 4; i++) {
    const { res } = await post(r)
    t.equal(res.status, 200)
    attempts.push(res.headers.get('x-cc-relay-attempts'))
  }
  t.same(attempts, ['2', '2', '1', '1'], 'two refused connects open the breaker; then the dead provider is skipped')
  // Bring the dead provider back on its port, wait out the open period, and let the probe close the breaker.
  const back = new MockUpstream()
  back.handler = (_req, res) => ok(res)
  await back.startOn(port)
  mocks.push(back)
  await until('the open period ends (the breaker reads half-open)', async () => {
    const snapshot = (await (await fetch(`${r.url}/status.json`, { signal: AbortSignal.timeout(10_000) })).json()) as { providers: { name: string; breaker: { state: string } }[] }
    return snapshot.providers.find((p) => p.name === 'dead')!.breaker.state === 'half_open'
  })
  const probe = await post(r)
  t.equal(probe.res.headers.get('x-cc-relay-provider'), 'dead', 'the half-open probe goes to the recovered provider')
  const after = await post(r)
  t.equal(after.res.headers.get('x-cc-relay-provider'), 'dead', 'its success closed the breaker')
})

t.test('rpm_limit N admits N per minute per key, then 429 with retry-after', async (t) => {
  const up = await mock()
  up.handler = (_req, res) => ok(res)
  const r = await relay(`providers:
  - { name: p, type: anthropic, base_url: "${up.url}", keys: [{ key: k, rpm_limit: 3 }] }
`)
  const statuses: number[] = []
  for (let i = 0; i < 5; i++) statuses.push((await post(r)).res.status)
  t.same(statuses, [200, 200, 200, 429, 429])
  t.equal(up.requests.length, 3, 'only three reached the upstream')
  const { res, text } = await post(r)
  const retryAfter = Number(res.headers.get('retry-after'))
  t.ok(retryAfter > 50 && retryAfter <= 60, `retry-after ${retryAfter} s is when the oldest admission ages out`)
  t.match(JSON.parse(text), { type: 'error', error: { type: 'rate_limit_error' } })
})

t.test('tpm_limit counts the real usage read from the stream', async (t) => {
  const up = await mock()
  up.handler = (_req, res) =>
    res.writeHead(200, { 'content-type': 'text/event-stream' }).end(
      sse([
        { type: 'message_start', message: { id: 'm', usage: { input_tokens: 1000, cache_creation_input_tokens: 500, cache_read_input_tokens: 90000, output_tokens: 1 } } },
        { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 400 } },
        { type: 'message_stop' },
      ]),
    )
  const r = await relay(`providers:
  - { name: p, type: anthropic, base_url: "${up.url}", keys: [{ key: k, tpm_limit: 2000 }] }
`)
  const body = '{"model":"claude-opus-4-8","max_tokens":20,"stream":true,"messages":[]}'
  t.equal((await post(r, body)).res.status, 200, 'first: 1000 + 500 + 400 = 1,900 tokens (cache reads not counted)')
  t.equal((await post(r, body)).res.status, 200, 'second: its estimate (≈ 40) still fits before it reports its own usage')
  const third = await post(r, body)
  t.equal(third.res.status, 429, 'third: 3,800 tokens used of 2,000')
  t.equal(up.requests.length, 2)
})

t.test('all keys cooling: a wait within queue_timeout_ms instead of a 429', async (t) => {
  const up = await mock()
  let calls = 0
  up.handler = (_req, res) => (++calls === 1 ? error(res, 429, 'rate_limit_error', { 'retry-after': '1' }) : ok(res))
  const r = await relay(`routing: { queue_timeout_ms: 5000, debug: true }
providers:
  - { name: p, type: anthropic, base_url: "${up.url}", keys: [{ key: k }] }
`)
  const first = await post(r)
  t.equal(first.res.status, 429, 'the only key was throttled: its 429 goes back verbatim')
  const second = await post(r)
  t.equal(second.res.status, 200, 'the next request waited for the 1 s cooldown instead of failing')
  t.equal(up.requests.length, 2)
  // It waited in the queue (a relay without one would have answered its own 429, or sent it at once).
  const metrics = await (await fetch(`${r.url}/metrics`, { signal: AbortSignal.timeout(10_000) })).text()
  t.match(metrics, /^cc_relay_queue_wait_seconds_count 1$/m, 'one request waited for a free key')
  t.notMatch(metrics, /^cc_relay_rate_limited_total\{scope="key"\} [1-9]/m, 'and none was refused by the relay')
})

t.test('401 to a pooled key marks it unusable and moves on; 401 to a client login goes back verbatim', async (t) => {
  const up = await mock()
  up.handler = (req, res) => (req.headers['x-api-key'] === 'revoked' || req.headers.authorization ? error(res, 401, 'authentication_error') : ok(res))
  const pooled = await relay(`providers:
  - { name: p, type: anthropic, base_url: "${up.url}", keys: [{ key: revoked, priority: 2 }, { key: good, priority: 1 }] }
`)
  t.equal((await post(pooled)).res.status, 200)
  t.equal((await post(pooled)).res.status, 200)
  t.same(keysSeen(up), ['revoked', 'good', 'good'], 'the refused key is not used again')
  const before = up.requests.length
  const passthrough = await relay(`server: { auth: { allow_subscription: true } }
providers:
  - { name: a, type: anthropic, base_url: "${up.url}", keys: [{ key: good }] }
`)
  const { res, text } = await post(passthrough, undefined, { authorization: 'Bearer sk-ant-oat01-expired' })
  t.equal(res.status, 401)
  t.equal(text, '{"type":"error","error":{"type":"authentication_error","message":"upstream says 401"}}')
  t.equal(up.requests.length - before, 1, 'never retried with a team key')
})

t.test('a subscription token never reaches a non-anthropic provider; its own keys are used', async (t) => {
  const anthropic = await mock()
  const other = await mock()
  anthropic.handler = (_req, res) => error(res, 529, 'overloaded_error')
  other.handler = (_req, res) => ok(res)
  const plugins = join(import.meta.dirname, '..', 'fixtures', 'plugins')
  const r = await relay(`server: { auth: { allow_subscription: true } }
plugin_dirs: ["${plugins}"]
providers:
  - { name: claude, type: anthropic, base_url: "${anthropic.url}", priority: 2 }
  - { name: other, type: shouty, base_url: "${other.url}", priority: 1, keys: [{ key: other-key }] }
`)
  const { res } = await post(r, undefined, { authorization: 'Bearer sk-ant-oat01-subscription', 'x-api-key': 'sk-ant-api03-own' })
  t.equal(res.status, 200)
  t.equal(anthropic.last.headers.authorization, 'Bearer sk-ant-oat01-subscription', 'the anthropic provider got the login')
  const sent = JSON.stringify(other.last.headers)
  t.notMatch(sent, /sk-ant-oat01|sk-ant-api03/, 'the other provider never saw a client credential')
  t.equal(other.last.headers.authorization, 'Bearer other-key')
})

t.test('a failure after the first byte is an event: error, never a second stream', async (t) => {
  const one = await mock()
  const two = await mock()
  one.handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    const opening = sse([
      { type: 'message_start', message: { id: 'm', usage: { input_tokens: 1, output_tokens: 1 } } },
      { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
    ])
    res.write(opening, () => res.socket?.destroy())
  }
  two.handler = (_req, res) => ok(res)
  const r = await relay(`providers:
  - { name: first, type: anthropic, base_url: "${one.url}", priority: 2, keys: [{ key: k1 }] }
  - { name: second, type: anthropic, base_url: "${two.url}", priority: 1, keys: [{ key: k2 }] }
`)
  const { res, text } = await post(r, '{"model":"claude-opus-4-8","stream":true}')
  t.equal(res.status, 200)
  t.match(text, /^event: message_start\n[^]*event: error\ndata: \{"type":"error","error":\{"type":"api_error"/)
  t.equal(two.requests.length, 0, 'the second provider was never asked')
})

t.test('session affinity keeps a Claude Code session on its key; a 429 moves it, and it stays moved', async (t) => {
  const up = await mock()
  let throttleA = false
  up.handler = (req, res) => (throttleA && req.headers['x-api-key'] === 'key-A' ? error(res, 429, 'rate_limit_error', { 'retry-after': '60' }) : ok(res))
  const r = await relay(`providers:
  - name: p
    type: anthropic
    base_url: "${up.url}"
    pooling: { strategy: round_robin }
    keys: [{ key: key-A }, { key: key-B }]
`)
  const session = (id: string) => ({ 'x-claude-code-session-id': id })
  await post(r, undefined, session('s1'))
  await post(r, undefined, session('s2'))
  for (let i = 0; i < 3; i++) {
    await post(r, undefined, session('s1'))
    await post(r, undefined, session('s2'))
  }
  const seen = keysSeen(up)
  t.same(seen, ['key-A', 'key-B', 'key-A', 'key-B', 'key-A', 'key-B', 'key-A', 'key-B'], 'round robin would alternate; each session keeps its key')
  throttleA = true
  const moved = await post(r, undefined, session('s1'))
  t.equal(moved.res.status, 200)
  t.same(keysSeen(up).slice(-2), ['key-A', 'key-B'], 'the 429 on its key moved s1 to key-B')
  throttleA = false
  await post(r, undefined, session('s1'))
  t.equal(keysSeen(up).at(-1), 'key-B', 'and s1 stays on key-B')
  // The session also comes from metadata.user_id when there is no header.
  const body = (sid: string) => JSON.stringify({ model: 'claude-opus-4-8', max_tokens: 5, metadata: { user_id: JSON.stringify({ device_id: 'd', session_id: sid }) } })
  await post(r, body('from-metadata'))
  const first = keysSeen(up).at(-1)
  for (let i = 0; i < 3; i++) await post(r, body('from-metadata'))
  t.same(keysSeen(up).slice(-3), [first, first, first], 'metadata.user_id session_id is sticky too')
})

t.test('500 simultaneous streams against rpm limits: no over-admission, every client answered', async (t) => {
  const up = await mock()
  up.handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    // Held open a moment so the requests really overlap.
    setTimeout(() => res.end(sse([{ type: 'message_stop' }])), 50)
  }
  const keys = Array.from({ length: 5 }, (_, i) => `{ key: key-${i}, rpm_limit: 20 }`).join(', ')
  const r = await relay(`providers:
  - { name: p, type: anthropic, base_url: "${up.url}", pooling: { strategy: least_loaded }, keys: [${keys}] }
`)
  const body = '{"model":"claude-opus-4-8","stream":true,"max_tokens":5}'
  const answers = await Promise.all(Array.from({ length: 500 }, () => post(r, body)))
  const byStatus = new Map<number, number>()
  for (const a of answers) byStatus.set(a.res.status, (byStatus.get(a.res.status) ?? 0) + 1)
  t.equal(byStatus.get(200), 100, 'exactly 5 × 20 admitted')
  t.equal(byStatus.get(429), 400, 'the rest refused with 429')
  t.equal(up.requests.length, 100, 'exactly 100 reached the upstream')
  const perKey = new Map<string, number>()
  for (const k of keysSeen(up)) perKey.set(k, (perKey.get(k) ?? 0) + 1)
  t.same([...perKey.values()], [20, 20, 20, 20, 20], 'each key exactly at its limit')
  t.ok(answers.filter((a) => a.res.status === 200).every((a) => a.text === sse([{ type: 'message_stop' }])), 'every admitted stream complete')
})

t.test('a session that moves to another thinking family loses its earlier thinking blocks, nothing else', async (t) => {
  const claude = await mock()
  const other = await mock()
  let claudeDown = false
  claude.handler = (_req, res) => (claudeDown ? error(res, 529, 'overloaded_error') : ok(res))
  other.handler = (_req, res) => ok(res)
  const plugins = join(import.meta.dirname, '..', 'fixtures', 'plugins')
  const r = await relay(`plugin_dirs: ["${plugins}"]
providers:
  - { name: claude, type: anthropic, base_url: "${claude.url}", priority: 2, keys: [{ key: kc }] }
  - { name: other, type: shouty, base_url: "${other.url}", priority: 1, keys: [{ key: ko }] }
`)
  const session = { 'x-claude-code-session-id': 'moving-session' }
  const turn = JSON.stringify({
    model: 'claude-opus-4-8',
    max_tokens: 100,
    thinking: { type: 'adaptive' },
    messages: [
      { role: 'user', content: 'list files' },
      { role: 'assistant', content: [{ type: 'thinking', thinking: 'use ls', signature: 'EqQBsig' }, { type: 'tool_use', id: 'toolu_1', name: 'Bash', input: { command: 'ls' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'a b' }] },
    ],
  })
  t.equal((await post(r, turn, session)).res.status, 200)
  t.equal(claude.last.body.toString(), turn, 'same family: untouched')
  claudeDown = true
  const moved = await post(r, turn, session)
  t.equal(moved.res.status, 200)
  t.equal(moved.res.headers.get('x-cc-relay-provider'), 'other')
  const sent = JSON.parse(other.last.body.toString()) as { thinking?: unknown; messages: { content: unknown }[] }
  t.notOk('thinking' in sent, 'thinking is off for the open tool loop whose thinking was foreign')
  t.same(sent.messages[1]!.content, [{ type: 'tool_use', id: 'toolu_1', name: 'Bash', input: { command: 'ls' } }], 'the foreign thinking block is gone, the tool call stays')
  t.same(sent.messages[2], { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'a b' }] })
})
