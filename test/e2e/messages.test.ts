import t from 'tap'
import Anthropic from '@anthropic-ai/sdk'
import { assertOverhead } from '../helpers/answers.js'
import { MockUpstream, sse } from '../helpers/mock-upstream.js'
import { oneProvider, startRelay } from '../helpers/relay.js'
import { claudeCodeBody, MESSAGE, STREAM_EVENTS } from '../fixtures/anthropic.js'

const upstream = await new MockUpstream().start()
const relay = await startRelay(oneProvider(upstream.url, `    keys: [{ key: "sk-ant-pooled-key" }]`))
t.teardown(async () => {
  await relay.stop()
  await upstream.close()
})

const streamText = sse(STREAM_EVENTS as unknown as { type: string }[])
upstream.handler = (_req, res, rec) => {
  const body = JSON.parse(rec.body.toString()) as { stream?: boolean }
  if (body.stream) {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'request-id': 'req_upstream_1', 'anthropic-ratelimit-requests-remaining': '49' })
    // Split across writes mid-event and mid-UTF-8 character, as TCP may.
    const bytes = Buffer.from(streamText)
    const cuts = [0, 7, 100, 333, 334, 901, bytes.length]
    let i = 0
    const next = (): void => {
      if (i >= cuts.length - 1) return void res.end()
      res.write(bytes.subarray(cuts[i]!, cuts[i + 1]!))
      i++
      setImmediate(next)
    }
    next()
  } else {
    res.writeHead(200, { 'content-type': 'application/json', 'request-id': 'req_upstream_2' }).end(JSON.stringify(MESSAGE))
  }
}

const sdk = (baseURL: string) => new Anthropic({ baseURL, apiKey: 'sk-ant-api03-client-own', maxRetries: 0 })
const params = {
  model: 'claude-opus-4-8',
  max_tokens: 1024,
  messages: [{ role: 'user' as const, content: 'weather?' }],
  tools: [{ name: 'get_weather', input_schema: { type: 'object' as const, properties: {} } }],
}

t.test('streaming: the SDK assembles the same message through the relay as directly', async (t) => {
  const direct = await sdk(upstream.url).messages.stream(params).finalMessage()
  const relayed = await sdk(relay.url).messages.stream(params).finalMessage()
  t.same(relayed, direct)
  t.same(relayed.content.map((b) => b.type), ['thinking', 'text', 'tool_use'])
  t.same((relayed.content[2] as { input: unknown }).input, { location: 'San Francisco, CA', unit: 'celsius' })
  t.equal((relayed.content[0] as { signature: string }).signature, 'EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds')
})

t.test('streaming: SSE bytes arrive byte for byte, with upstream headers and both request ids', async (t) => {
  const res = await fetch(`${relay.url}/v1/messages?beta=true`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'sk-ant-api03-x', 'anthropic-version': '2023-06-01' },
    body: claudeCodeBody('claude-opus-4-8', true),
  })
  t.equal(res.status, 200)
  t.equal(res.headers.get('request-id'), 'req_upstream_1')
  t.match(res.headers.get('x-cc-relay-request-id'), /^req_ccr_/)
  t.equal(res.headers.get('anthropic-ratelimit-requests-remaining'), '49')
  assertOverhead(t, res.headers.get('x-cc-relay-overhead-ms'), "the relay's own time")
  t.equal(Buffer.from(await res.arrayBuffer()).toString(), streamText)
  t.equal(upstream.last.url, '/v1/messages?beta=true', 'path and query forwarded')
})

t.test('non-streaming: the message arrives unchanged', async (t) => {
  const msg = await sdk(relay.url).messages.create(params)
  t.same(msg, MESSAGE)
})

t.test('the request log line carries provider, models, status and usage from the stream', async (t) => {
  await sdk(relay.url).messages.stream({ ...params, model: 'claude-opus-4-8[1m]' }).finalMessage()
  const line = await relay.waitForLog((l) => l.msg === 'request' && l.model === 'claude-opus-4-8[1m]')
  t.match(line, {
    provider: 'upstream',
    upstream_model: 'claude-opus-4-8',
    status: 200,
    input_tokens: 472,
    output_tokens: 89,
    cache_read_input_tokens: 2048,
    cache_creation_input_tokens: 120,
  })
  t.notMatch(JSON.stringify(relay.logs), /sk-ant-/, 'no credential in any log line')
})
