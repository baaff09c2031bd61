/**
 * OpenAI-compatible upstreams through the running relay (issue 14): `@anthropic-ai/sdk` to the relay,
 * the relay's worker threads translating to the OpenAI mock and back. Streamed and whole answers,
 * `finalMessage()` with text, thinking and several tool calls, cached-token usage, errors in OpenAI's
 * shape mapped to Anthropic's, a tool round trip with paired ids, failover between an `openai` and an
 * `anthropic` provider both ways, and count_tokens answered by the relay's estimate.
 */
import t from 'tap'
import Anthropic from '@anthropic-ai/sdk'
import { MESSAGE, STREAM_EVENTS } from '../fixtures/anthropic.js'
import { MockUpstream, sse } from '../helpers/mock-upstream.js'
import { OpenAiMock } from '../helpers/openai-mock.js'
import { startRelay } from '../helpers/relay.js'

type Json = Record<string, unknown>

const openai = await new OpenAiMock().start()
openai.keys.add('sk-openai-pooled')
/** A second OpenAI mock for the error and failover cases, and an Anthropic one behind or in front of it. */
const flaky = await new OpenAiMock().start()
const anthropic = await new MockUpstream().start()
anthropic.handler = (req, res, recorded) => {
  const body = JSON.parse(recorded.body.toString()) as Json
  if (body.stream) res.writeHead(200, { 'content-type': 'text/event-stream' }).end(sse(STREAM_EVENTS))
  else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(MESSAGE))
}

const relay = await startRelay(`server: { keepalive_ms: 0 }
health: { circuit_breaker: { failure_threshold: 1000 } }
providers:
  - name: gpt
    type: openai
    base_url: "${openai.url}/v1"
    keys: [{ key: "sk-openai-pooled" }]
    models: ["gpt-5-mini", "o4-mini"]
    model_mapping: { "claude-gpt": "gpt-5-mini" }
    reasoning_effort: true
  - name: openai-first
    type: openai
    base_url: "${flaky.url}/v1"
    keys: [{ key: "sk-flaky" }]
    priority: 3
    models: ["claude-sonnet-4-5"]
    model_mapping: { "claude-sonnet-4-5": "deepseek-chat" }
  - name: claude
    type: anthropic
    base_url: "${anthropic.url}"
    keys: [{ key: "sk-ant-pooled" }]
    priority: 2
    models: ["claude-sonnet-4-5", "claude-opus-4-6"]
  - name: openai-backup
    type: openai
    base_url: "${openai.url}/v1"
    keys: [{ key: "sk-openai-pooled" }]
    priority: 1
    models: ["claude-opus-4-6"]
    model_mapping: { "claude-opus-4-6": "gpt-5-mini" }
`)
t.teardown(async () => {
  await relay.stop()
  await Promise.all([openai.close(), flaky.close(), anthropic.close()])
})

const client = new Anthropic({ baseURL: relay.url, apiKey: 'sk-ant-api03-client', maxRetries: 0 })

t.beforeEach(() => {
  openai.script = [{ text: 'Hello from the OpenAI mock.' }]
  openai.error = undefined
  flaky.error = undefined
  flaky.script = [{ text: 'Hello from the first provider.' }]
})

t.test('streamed: finalMessage() assembles thinking, text and several tool calls; usage with cached tokens', async (t) => {
  openai.script = [{
    reasoning: 'The user wants two files read.',
    text: 'Reading both.',
    toolCalls: [{ id: 'call_a', name: 'read_file', arguments: '{"path":"a.txt"}' }, { id: 'call_b', name: 'read_file', arguments: '{"path":"b.txt"}' }],
    promptTokens: 1200,
    cachedTokens: 1000,
    completionTokens: 42,
  }]
  const stream = client.messages.stream({
    model: 'gpt-5-mini',
    max_tokens: 1024,
    thinking: { type: 'enabled', budget_tokens: 2048 },
    messages: [{ role: 'user', content: 'read a.txt and b.txt' }],
    tools: [{ name: 'read_file', input_schema: { type: 'object', properties: { path: { type: 'string' } } } }],
  })
  const message = await stream.finalMessage()
  t.same(message.content.map((b) => b.type), ['thinking', 'text', 'tool_use', 'tool_use'])
  t.match(message.content[0], { type: 'thinking', thinking: 'The user wants two files read.' })
  t.match(message.content[1], { type: 'text', text: 'Reading both.' })
  t.match(message.content[2], { type: 'tool_use', id: 'call_a', name: 'read_file', input: { path: 'a.txt' } })
  t.match(message.content[3], { type: 'tool_use', id: 'call_b', name: 'read_file', input: { path: 'b.txt' } })
  t.equal(message.stop_reason, 'tool_use')
  t.match(message.usage, { input_tokens: 200, cache_read_input_tokens: 1000, output_tokens: 42 })
  const sent = openai.last
  t.equal(sent.recorded.url, '/v1/chat/completions')
  t.equal(sent.recorded.headers.authorization, 'Bearer sk-openai-pooled', 'a pooled key as Bearer')
  t.notOk(sent.recorded.headers['x-api-key'], "the client's Anthropic key never goes there")
  t.notOk(sent.recorded.headers['anthropic-version'])
  t.equal(sent.body.reasoning_effort, 'low', 'reasoning_effort from the budget (the provider takes it)')
  t.same(sent.body.stream_options, { include_usage: true })
})

t.test('whole: text, tool call and stop reason; the model the upstream reports', async (t) => {
  openai.script = [{ text: 'It is sunny.', model: 'gpt-5-mini-2025-08-07', promptTokens: 30, completionTokens: 4 }]
  const message = await client.messages.create({ model: 'claude-gpt', max_tokens: 100, messages: [{ role: 'user', content: 'weather?' }] })
  t.match(message, { type: 'message', role: 'assistant', model: 'gpt-5-mini-2025-08-07', stop_reason: 'end_turn', content: [{ type: 'text', text: 'It is sunny.' }], usage: { input_tokens: 30, output_tokens: 4 } })
  t.equal(openai.last.body.model, 'gpt-5-mini', 'model_mapping applied')
  t.equal(openai.last.body.max_tokens, 100, 'a non-OpenAI host gets max_tokens')
})

t.test('a multi-turn tool round trip keeps tool_use ids paired with tool_call_id', async (t) => {
  openai.script = [{ toolCalls: [{ id: 'call_weather_1', name: 'get_weather', arguments: '{"city":"Paris"}' }] }, { text: 'Paris: 21 °C.' }]
  const tools = [{ name: 'get_weather', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } } } }]
  const first = await client.messages.stream({ model: 'gpt-5-mini', max_tokens: 100, tools, messages: [{ role: 'user', content: 'weather in Paris?' }] }).finalMessage()
  const call = first.content.find((b) => b.type === 'tool_use')!
  t.equal(call.type === 'tool_use' && call.id, 'call_weather_1')
  const second = await client.messages.create({
    model: 'gpt-5-mini',
    max_tokens: 100,
    tools,
    messages: [
      { role: 'user', content: 'weather in Paris?' },
      { role: 'assistant', content: first.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_weather_1', content: '21 °C' }] },
    ],
  })
  t.match(second.content, [{ type: 'text', text: 'Paris: 21 °C.' }])
  const messages = openai.last.body.messages as Json[]
  t.match(messages[1], { role: 'assistant', tool_calls: [{ id: 'call_weather_1', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] })
  t.same(messages[2], { role: 'tool', tool_call_id: 'call_weather_1', content: '21 °C' })
})

t.test('errors in OpenAI shape reach the client in Anthropic shape', async (t) => {
  const cases: [number, string, string][] = [
    [400, 'invalid_request_error', "This model's maximum context length is 128000 tokens."],
    [404, 'not_found_error', 'The model `gpt-9` does not exist'],
    [429, 'rate_limit_error', 'Rate limit reached for gpt-5-mini'],
  ]
  for (const [status, type, message] of cases) {
    openai.error = { status, message, headers: status === 429 ? { 'retry-after': '7' } : {} }
    const res = await fetch(`${relay.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'o4-mini', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }) })
    t.equal(res.status, status, `${status}`)
    const body = (await res.json()) as { type: string; error: { type: string; message: string } }
    t.equal(body.type, 'error')
    t.equal(body.error.type, type)
    t.match(body.error.message, message, 'the upstream message is kept')
    if (status === 429) t.equal(res.headers.get('retry-after'), '7', 'retry-after goes along')
  }
})

t.test('an error chunk inside the stream is the last event', async (t) => {
  openai.script = [{ text: 'partial answer here', errorAfterChunks: 2 }]
  const res = await fetch(`${relay.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-5-mini', max_tokens: 10, stream: true, messages: [{ role: 'user', content: 'x' }] }) })
  t.equal(res.status, 200)
  const text = await res.text()
  const events = [...text.matchAll(/^event: (.+)$/gm)].map((m) => m[1])
  t.equal(events[events.length - 1], 'error')
  t.match(text, /The model produced invalid content/)
  t.notOk(events.includes('message_stop'))
})

t.test('failover: openai → anthropic before the first byte, and anthropic → openai', async (t) => {
  flaky.error = { status: 503, message: 'The server is overloaded' }
  const viaClaude = await client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] })
  t.same(viaClaude.content, MESSAGE.content, 'the anthropic provider answered after the openai one failed')
  const streamed = await client.messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] }).finalMessage()
  t.equal(streamed.stop_reason, 'tool_use', "streamed too: the anthropic provider's stream")

  const before = anthropic.requests.length
  const backHandler = anthropic.handler
  anthropic.handler = (_req, res) => res.writeHead(529, { 'content-type': 'application/json' }).end('{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}')
  t.teardown(() => void (anthropic.handler = backHandler))
  const viaOpenAi = await client.messages.create({ model: 'claude-opus-4-6', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] })
  t.equal(anthropic.requests.length, before + 1, 'the anthropic provider was tried first')
  t.match(viaOpenAi.content, [{ type: 'text', text: 'Hello from the OpenAI mock.' }], 'then the openai one answered')
})

t.test('thinking from another family is not sent to an openai provider', async (t) => {
  await client.messages.create({
    model: 'gpt-5-mini',
    max_tokens: 100,
    messages: [
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: [{ type: 'thinking', thinking: 'signed thoughts', signature: 'EqQBCgIYAhIM' }, { type: 'text', text: 'Hello.' }] },
      { role: 'user', content: 'again' },
    ],
  })
  const raw = openai.last.recorded.body.toString()
  t.notOk(raw.includes('signed thoughts'))
  t.notOk(raw.includes('EqQBCgIYAhIM'))
})

t.test('an Anthropic server tool is refused with 400 naming it when no provider can serve it', async (t) => {
  const res = await fetch(`${relay.url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-5-mini', max_tokens: 10, messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'web_search_20250305', name: 'web_search' }] }),
  })
  t.equal(res.status, 400)
  t.match(((await res.json()) as { error: { message: string } }).error.message, /web_search_20250305/)
})

t.test('count_tokens for a model served here: the relay estimate, flagged', async (t) => {
  const res = await fetch(`${relay.url}/v1/messages/count_tokens`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-5-mini', messages: [{ role: 'user', content: 'hello there' }] }) })
  t.equal(res.status, 200)
  t.equal(res.headers.get('x-cc-relay-estimate'), 'true')
  t.ok(((await res.json()) as { input_tokens: number }).input_tokens > 0)
})

t.test('a session served by openai, then moved to anthropic, loses the other family\'s thinking', async (t) => {
  const session = { 'x-claude-code-session-id': 'sess-openai-move' }
  flaky.script = [{ reasoning: 'openai reasoning', text: 'First answer.' }]
  const first = await client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] }, { headers: session })
  t.match(first.content, [{ type: 'thinking', thinking: 'openai reasoning' }, { type: 'text', text: 'First answer.' }], 'served by openai-first, its reasoning as thinking')
  const turnTwo = {
    model: 'claude-sonnet-4-5',
    max_tokens: 100,
    messages: [
      { role: 'user' as const, content: 'hi' },
      { role: 'assistant' as const, content: first.content },
      { role: 'user' as const, content: 'and again' },
    ],
  }
  // The session stays on openai-first (its provider, and the first in priority) while it can take it…
  const before = anthropic.requests.length
  await client.messages.create(turnTwo, { headers: session })
  t.equal(anthropic.requests.length, before, 'the session stays on openai-first')
  // …and when it cannot, the move to the anthropic family strips the openai thinking from the history.
  flaky.error = { status: 503, message: 'The server is overloaded' }
  await client.messages.create(turnTwo, { headers: session })
  t.equal(anthropic.requests.length, before + 1, 'moved to the anthropic provider')
  const sent = anthropic.last.body.toString()
  t.notOk(sent.includes('openai reasoning'), 'no openai thinking reaches Anthropic')
  t.match(sent, /First answer\./, 'the text of the turn is kept')
})

t.test('images and stop sequences through the relay, streamed and whole', async (t) => {
  const image = { type: 'image' as const, source: { type: 'base64' as const, media_type: 'image/png' as const, data: 'iVBORw0KGgo=' } }
  openai.script = [{ text: 'A small PNG. END', stopReason: 'END' }]
  const whole = await client.messages.create({ model: 'gpt-5-mini', max_tokens: 50, stop_sequences: ['END'], messages: [{ role: 'user', content: [image, { type: 'text', text: 'what is it?' }] }] })
  t.equal(whole.stop_reason, 'stop_sequence')
  t.equal(whole.stop_sequence, 'END')
  t.same((openai.last.body.messages as Json[])[0]!.content, [{ type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } }, { type: 'text', text: 'what is it?' }])
  t.same(openai.last.body.stop, ['END'])
  openai.script = [{ text: 'A small PNG. END', stopReason: 'END' }]
  const streamed = await client.messages.stream({ model: 'gpt-5-mini', max_tokens: 50, stop_sequences: ['END'], messages: [{ role: 'user', content: [image] }] }).finalMessage()
  t.equal(streamed.stop_reason, 'stop_sequence')
  t.equal(streamed.stop_sequence, 'END')
})
