/**
 * The OpenAI translation's untested corners (CONTRACT §6, docs/providers.md "OpenAI-compatible", issue 27
 * corner 7), through the running relay and its worker threads, with an Anthropic backup behind the
 * OpenAI provider:
 * - a stream cut after content (a reset, or a clean end without a finish reason or `[DONE]`) ends in
 *   `event: error` (no `message_stop`); cut before any content, it fails over to the backup;
 * - an error chunk before any content fails over: the client gets the backup's stream, nothing of the
 *   first provider's;
 * - `finish_reason: length` → `stop_reason: max_tokens`, `content_filter` → `refusal`, streamed and whole;
 * - 401 and 429 on a pooled key are key-scoped: the provider's next key serves, the backup is not asked;
 * - a client disconnect mid-stream closes the OpenAI upstream's connection and frees the lease.
 */
import t from 'tap'
import type { ServerResponse } from 'node:http'
import { MockUpstream, sse } from '../helpers/mock-upstream.js'
import { OpenAiMock } from '../helpers/openai-mock.js'
import { startRelay } from '../helpers/relay.js'
import type { RunningRelay } from '../helpers/relay.js'
import { until, within } from '../helpers/wait.js'
import { STREAM_EVENTS } from '../fixtures/anthropic.js'
import type { StatusSnapshot } from '../../src/admin/status.js'

const B_STREAM = sse(STREAM_EVENTS as unknown as { type: string }[])
const B_MESSAGE = '{"id":"msg_b","type":"message","role":"assistant","content":[{"type":"text","text":"from the backup"}],"model":"m","stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}'

const openai = await new OpenAiMock().start()
openai.keys.add('sk-good').add('sk-busy')
/** sk-busy: OpenAI's 429 for this key; everything else goes to the mock as it is. */
const mockHandler = openai.upstream.handler
openai.upstream.handler = (req, res, recorded) => {
  if (req.headers.authorization === 'Bearer sk-busy') {
    return void res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '30' }).end('{"error":{"message":"Rate limit reached for gpt-corners on requests per min","type":"requests","param":null,"code":"rate_limit_exceeded"}}')
  }
  mockHandler(req, res, recorded)
}
const backup = await new MockUpstream().start()
backup.handler = (_req, res, recorded) => {
  if (/"stream":true/.test(recorded.body.toString())) res.writeHead(200, { 'content-type': 'text/event-stream' }).end(B_STREAM)
  else res.writeHead(200, { 'content-type': 'application/json' }).end(B_MESSAGE)
}
/** An OpenAI server that sends its role and first words, then holds the stream open (for the disconnect). */
const holding = await new MockUpstream().start()
let heldSocketClosed: Promise<void> | undefined
holding.handler = (_req, res: ServerResponse) => {
  heldSocketClosed = new Promise((resolve) => res.socket!.once('close', () => resolve()))
  const chunk = (delta: object) => `data: ${JSON.stringify({ id: 'chatcmpl-h', object: 'chat.completion.chunk', created: 1_760_000_000, model: 'gpt-held', choices: [{ index: 0, delta, logprobs: null, finish_reason: null }] })}\n\n`
  res.writeHead(200, { 'content-type': 'text/event-stream' })
  res.write(chunk({ role: 'assistant', content: '' }) + chunk({ content: 'first words' }))
}

/** An OpenAI server (or a proxy in front of one) that ends the response cleanly after some content: no finish_reason, no [DONE]. */
const ending = await new MockUpstream().start()
ending.handler = (_req, res: ServerResponse) => {
  const chunk = (delta: object) => `data: ${JSON.stringify({ id: 'chatcmpl-e', object: 'chat.completion.chunk', created: 1_760_000_000, model: 'gpt-ends', choices: [{ index: 0, delta, logprobs: null, finish_reason: null }] })}\n\n`
  res.writeHead(200, { 'content-type': 'text/event-stream' }).end(chunk({ role: 'assistant', content: '' }) + chunk({ content: 'half an answer' }))
}

const relay = await startRelay(`logging: { level: info, format: json }
server: { keepalive_ms: 0 }
health: { circuit_breaker: { failure_threshold: 1000 }, health_check: { enabled: false } }
routing: { debug: true }
providers:
  - name: gpt
    type: openai
    base_url: "${openai.url}/v1"
    priority: 2
    keys: [{ key: sk-good }]
    model_mapping: { "claude-corners": "gpt-corners" }
  - name: gpt-keys
    type: openai
    base_url: "${openai.url}/v1"
    priority: 2
    keys: [{ key: sk-revoked, priority: 3 }, { key: sk-busy, priority: 2 }, { key: sk-good, priority: 1 }]
    model_mapping: { "claude-keys": "gpt-keys" }
  - name: held
    type: openai
    base_url: "${holding.url}/v1"
    keys: [{ key: sk-held }]
    model_mapping: { "claude-held": "gpt-held" }
  - name: ends
    type: openai
    base_url: "${ending.url}/v1"
    keys: [{ key: sk-ends }]
    model_mapping: { "claude-ends": "gpt-ends" }
  - name: backup
    type: anthropic
    base_url: "${backup.url}"
    priority: 1
    keys: [{ key: sk-ant-backup }]
    models: [claude-corners, claude-keys]
`)
t.teardown(async () => {
  await relay.stop()
  await Promise.all([openai.close(), backup.close(), holding.close(), ending.close()])
})
t.beforeEach(() => {
  openai.script = [{ text: 'Hello from the OpenAI mock.' }]
  openai.error = undefined
})

async function post(model: string, stream: boolean, signal: AbortSignal = AbortSignal.timeout(20_000)) {
  return fetch(`${relay.url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, max_tokens: 50, stream, messages: [{ role: 'user', content: 'hi' }] }),
    signal,
  })
}
const events = (text: string): string[] => [...text.matchAll(/^event: (.+)$/gm)].map((m) => m[1]!)
const status = async () => (await (await fetch(`${relay.url}/status.json`, { signal: AbortSignal.timeout(10_000) })).json()) as StatusSnapshot

t.test('a stream cut after content: the content, then event: error, no message_stop; the backup is not asked', async (t) => {
  openai.script = [{ text: 'a long answer that is cut', cutAfterChunks: 3 }]
  const before = backup.requests.length
  const res = await post('claude-corners', true)
  t.equal(res.status, 200)
  t.equal(res.headers.get('x-cc-relay-provider'), 'gpt')
  const text = await res.text()
  const seen = events(text)
  t.ok(seen.includes('content_block_delta'), 'content reached the client')
  t.equal(seen.at(-1), 'error', 'the stream ends in event: error')
  t.notOk(seen.includes('message_stop'), 'no message_stop')
  t.equal(backup.requests.length, before, 'the backup was not asked')
})

t.test('a stream that ends cleanly after content without a finish reason or [DONE] was cut too: event: error, no message_stop', async (t) => {
  const res = await post('claude-ends', true)
  t.equal(res.status, 200)
  const text = await res.text()
  const seen = events(text)
  t.ok(seen.includes('content_block_delta'), 'the content reached the client')
  t.equal(seen.at(-1), 'error', 'the stream ends in event: error')
  t.notOk(seen.includes('message_stop'), 'no message_stop: the answer is not whole')
})

t.test('a stream cut before any content fails over: the client gets the backup whole', async (t) => {
  openai.script = [{ text: 'never seen', cutAfterChunks: 1 }]
  const res = await post('claude-corners', true)
  t.equal(res.status, 200)
  t.equal(res.headers.get('x-cc-relay-provider'), 'backup')
  t.equal(await res.text(), B_STREAM, "the backup's stream, byte for byte")
})

t.test('an error chunk before any content fails over: nothing of the OpenAI provider reaches the client', async (t) => {
  openai.script = [{ text: 'never seen', errorAfterChunks: 0 }]
  const res = await post('claude-corners', true)
  t.equal(res.status, 200)
  t.equal(res.headers.get('x-cc-relay-provider'), 'backup')
  t.equal(res.headers.get('x-cc-relay-attempts'), '2')
  const text = await res.text()
  t.equal(text, B_STREAM, "the backup's stream, byte for byte")
  t.notMatch(text, /invalid content/, 'no trace of the error chunk')
})

t.test('finish_reason length → stop_reason max_tokens, content_filter → refusal, streamed and whole', async (t) => {
  for (const [finish, stop] of [['length', 'max_tokens'], ['content_filter', 'refusal']] as const) {
    openai.script = [{ text: 'some words', finishReason: finish }]
    const streamed = await (await post('claude-corners', true)).text()
    const delta = streamed.split('\n').find((l) => l.startsWith('data: {"type":"message_delta"'))
    t.equal((JSON.parse(delta!.slice(6)) as { delta: { stop_reason: string } }).delta.stop_reason, stop, `streamed: ${finish} → ${stop}`)
    t.equal(events(streamed).at(-1), 'message_stop', `streamed ${finish}: a whole stream`)
    openai.script = [{ text: 'some words', finishReason: finish }]
    const whole = (await (await post('claude-corners', false)).json()) as { stop_reason: string }
    t.equal(whole.stop_reason, stop, `whole: ${finish} → ${stop}`)
  }
})

t.test('401 and 429 on pooled keys are key-scoped: the next key serves, the backup is not asked', async (t) => {
  const before = backup.requests.length
  const calls = openai.upstream.requests.length
  const res = await post('claude-keys', false)
  t.equal(res.status, 200)
  t.equal(res.headers.get('x-cc-relay-provider'), 'gpt-keys')
  t.match(await res.text(), /Hello from the OpenAI mock/)
  t.same(openai.upstream.requests.slice(calls).map((q) => q.headers.authorization), ['Bearer sk-revoked', 'Bearer sk-busy', 'Bearer sk-good'], 'the 401 key, the 429 key, then the good one')
  t.equal(backup.requests.length, before, 'the backup was not asked')
  const keys = (await status()).providers.find((p) => p.name === 'gpt-keys')!.keys
  t.ok(keys[0]!.unusable, 'the 401 key is retired')
  t.same(keys[1]!.model_cooldowns.map((c) => c.model), ['gpt-keys'], 'the 429 key cools for the upstream model')
  t.equal(keys[2]!.unusable, null)
  const again = await post('claude-keys', true)
  t.equal(again.status, 200)
  await again.text()
  t.equal(openai.upstream.requests.at(-1)?.headers.authorization, 'Bearer sk-good', 'the next request goes straight to the good key')
  t.equal(openai.upstream.requests.length, calls + 4, 'neither the retired nor the cooling key was tried again')
})

t.test('a client disconnect mid-stream closes the OpenAI upstream connection and frees the lease', async (t) => {
  const abort = new AbortController()
  const res = await post('claude-held', true, abort.signal)
  t.equal(res.status, 200)
  const reader = res.body!.getReader()
  let text = ''
  while (!text.includes('first words')) {
    const { value, done } = await within('the first words arrive', reader.read())
    if (done) break
    text += Buffer.from(value).toString()
  }
  t.match(text, /first words/, 'the translated stream was flowing')
  abort.abort()
  await reader.cancel().catch(() => {})
  await within('the OpenAI upstream connection closes', heldSocketClosed!, 10_000)
  const line = await relay.waitForLog((l) => l.msg === 'request' && l.client_aborted === true)
  t.equal(line.provider, 'held', `the request log names the provider that was reached: ${JSON.stringify(line)}`)
  const rows = (await (await fetch(`${relay.url}/usage.json?by=provider`, { signal: AbortSignal.timeout(10_000) })).json()) as { provider: string; requests: number }[]
  t.equal(rows.find((r) => r.provider === 'held')?.requests, 1, 'the request reached an upstream: it is in the ledger (CONTRACT §9)')
  await until('the lease is back: nothing in flight on the provider or its key', async () => {
    const p = (await status()).providers.find((q) => q.name === 'held')!
    return p.inflight === 0 && p.keys[0]!.inflight === 0
  })
})
