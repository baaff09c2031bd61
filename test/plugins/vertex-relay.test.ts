/**
 * Claude on Vertex AI through the running relay: `@anthropic-ai/sdk` (and raw requests as Claude Code
 * sends them) to the relay, the relay to the Vertex mock with a Google token from the local token
 * endpoint. The message arrives as from Anthropic directly, the stream byte for byte; regions pick the
 * right path; Google errors become Anthropic errors; no Anthropic credential ever reaches Google.
 */
import t from 'tap'
import Anthropic from '@anthropic-ai/sdk'
import { MESSAGE, claudeCodeBody } from '../fixtures/anthropic.js'
import { assertEnvelope, readAnswer } from '../helpers/answers.js'
import { startRelay } from '../helpers/relay.js'
import { STREAM_MESSAGE, googleError, vertexStreamBody } from '../helpers/vertex-mock.js'
import { vertexConfig, vertexWorld } from '../helpers/vertex-setup.js'

/**
 * Error answers go to a key-less provider of their own: on a provider with pool slots the relay cools a
 * slot down after a 429 and retires it after a 401/403 (CONTRACT §3), which would spill into other tests.
 */
const ERRORS = 'claude-sonnet-4-5@errors'
const world = await vertexWorld()
const { mock } = world
const relay = await startRelay(
  vertexConfig({
    baseUrl: mock.url,
    project: 'relay-proj',
    region: 'us-east5',
    keyFile: world.account.keyFile,
    // A key entry is a pool slot with its own limits, not a credential (CONTRACT §3, the seed's example).
    extra: `    keys: [{ key: "vertex-internal" }]
    models: ["claude-sonnet-4-5@20250929", "claude-opus-4-6"]
  - name: vertex-global
    type: vertex
    base_url: "${mock.url}"
    gcp_project_id: "relay-proj"
    gcp_region: "global"
    gcp_credentials_file: "${world.account.keyFile}"
    model_mapping: { "claude-global-*": "claude-opus-4-6" }
  - name: vertex-v1
    type: vertex
    base_url: "${mock.url}/v1"
    gcp_project_id: "relay-proj"
    gcp_region: "europe-west1"
    gcp_credentials_file: "${world.account.keyFile}"
    models: ["claude-haiku-4-5@20251001"]
  - name: vertex-errors
    type: vertex
    base_url: "${mock.url}"
    gcp_project_id: "relay-proj"
    gcp_region: "us-east5"
    gcp_credentials_file: "${world.account.keyFile}"
    models: ["${ERRORS}"]`,
    // Error answers below must not open the circuit; subscriptions allowed, to show they never reach Google.
    top: `server: { auth: { allow_subscription: true } }
health: { circuit_breaker: { failure_threshold: 1000 } }`,
  }),
  { env: world.google.env() },
)
t.teardown(async () => {
  await relay.stop()
  await world.close()
})

const client = new Anthropic({ baseURL: relay.url, apiKey: 'sk-ant-api03-client', maxRetries: 0 })
const MODEL = 'claude-sonnet-4-5@20250929'
const PARAMS = {
  model: MODEL,
  max_tokens: 4096,
  messages: [{ role: 'user' as const, content: 'weather?' }],
  tools: [{ name: 'get_weather', input_schema: { type: 'object' as const, properties: { location: { type: 'string' } } } }],
  thinking: { type: 'enabled' as const, budget_tokens: 1024 },
}

function wire(message: object): unknown {
  const copy = JSON.parse(JSON.stringify(message)) as Record<string, unknown>
  delete copy.parsed_output
  return copy
}

function post(body: string, headers: Record<string, string> = {}, path = '/v1/messages'): Promise<Response> {
  return fetch(`${relay.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', ...headers }, body })
}

t.test('streaming: finalMessage has thinking with its signature, tool use and usage', async (t) => {
  const message = await client.messages.stream(PARAMS).finalMessage()
  t.strictSame(wire(message), STREAM_MESSAGE)
  t.equal(mock.last.method, 'streamRawPredict')
  t.equal(mock.last.model, MODEL)
  t.equal(mock.last.project, 'relay-proj')
  t.equal(mock.last.region, 'us-east5')
})

t.test("streaming: the client gets Vertex's SSE byte for byte; Claude Code's body arrives with two edits", async (t) => {
  const body = claudeCodeBody(MODEL, true)
  const res = await post(body, { 'anthropic-beta': 'interleaved-thinking-2025-05-14' })
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /^text\/event-stream/)
  t.equal(res.headers.get('request-id'), 'req_vrtx_011CMOCKSTREAM', "Vertex's request id")
  t.equal(await res.text(), vertexStreamBody())
  const sent = mock.last.recorded
  t.equal(sent.url, `/v1/projects/relay-proj/locations/us-east5/publishers/anthropic/models/${MODEL}:streamRawPredict`)
  t.equal(
    sent.body.toString(),
    body.replace(`{"model": ${JSON.stringify(MODEL)},`, '{').replace(/\}$/, ',"anthropic_version":"vertex-2023-10-16"}'),
    'model moved to the URL, anthropic_version added, every other byte (stream, unknown fields, spacing) kept',
  )
  t.equal(sent.headers['anthropic-beta'], 'interleaved-thinking-2025-05-14')
  t.equal(sent.headers['anthropic-version'], undefined)
})

t.test('non-streaming: the JSON answer is the message', async (t) => {
  t.strictSame(wire(await client.messages.create(PARAMS)), MESSAGE)
  t.equal(mock.last.method, 'rawPredict')
  t.equal(mock.last.body.stream, undefined, 'no stream flag invented')
  const res = await post(claudeCodeBody(MODEL, false))
  t.equal(res.status, 200)
  t.equal(await res.text(), JSON.stringify(MESSAGE), 'byte for byte')
  t.equal(mock.last.body.stream, false)
})

t.test("count_tokens: Vertex's count-tokens model, with the model in the body", async (t) => {
  t.strictSame(await client.messages.countTokens({ model: MODEL, messages: PARAMS.messages }), { input_tokens: 42 })
  t.equal(mock.last.recorded.url, '/v1/projects/relay-proj/locations/us-east5/publishers/anthropic/models/count-tokens:rawPredict')
  t.equal(mock.last.body.model, MODEL)
  t.equal(mock.last.body.anthropic_version, 'vertex-2023-10-16')
})

t.test('region global: the locations/global path; mapped model in the URL', async (t) => {
  const res = await post(JSON.stringify({ model: 'claude-global-x', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }))
  t.equal(res.status, 200)
  await res.text()
  t.equal(mock.last.recorded.url, '/v1/projects/relay-proj/locations/global/publishers/anthropic/models/claude-opus-4-6:rawPredict')
  t.equal(mock.last.body.model, undefined)
})

t.test('a base_url already ending in /v1 is not doubled', async (t) => {
  const res = await post(JSON.stringify({ model: 'claude-haiku-4-5@20251001', max_tokens: 5, stream: true, messages: [{ role: 'user', content: 'hi' }] }))
  t.equal(await res.text(), vertexStreamBody())
  t.equal(mock.last.recorded.url, '/v1/projects/relay-proj/locations/europe-west1/publishers/anthropic/models/claude-haiku-4-5@20251001:streamRawPredict')
})

t.test('cache_control.scope: the backend receives the body without it, and the request log says so', async (t) => {
  const body =
    `{"model":"${MODEL}","max_tokens":5,"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral","scope":"global"}}],` +
    `"messages":[{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral","scope":"global"}}]}]}`
  const res = await post(body, { 'anthropic-beta': 'prompt-caching-scope-2026-01-05' })
  t.equal(res.status, 200)
  await res.text()
  t.equal(
    mock.last.recorded.body.toString(),
    '{"max_tokens":5,"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}],' +
      '"messages":[{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral"}}]}],"anthropic_version":"vertex-2023-10-16"}',
  )
  const id = res.headers.get('x-cc-relay-request-id')
  const line = await relay.waitForLog((l) => l.request_id === id)
  t.same(line.shaped, ['removed cache_control.scope from 2 blocks (Vertex AI rejects it)'])
})

t.test('Google error envelopes become Anthropic errors with the right status', async (t) => {
  t.teardown(() => (mock.answer = undefined))
  const cases: [number, string, number, string, string][] = [
    [429, 'RESOURCE_EXHAUSTED', 429, 'rate_limit_error', 'Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model with base model: anthropic-claude-sonnet-4-5.'],
    [403, 'PERMISSION_DENIED', 403, 'permission_error', "Permission 'aiplatform.endpoints.predict' denied on resource '//aiplatform.googleapis.com/projects/relay-proj/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929'."],
    [401, 'UNAUTHENTICATED', 401, 'authentication_error', 'Request had invalid authentication credentials.'],
    [404, 'NOT_FOUND', 404, 'not_found_error', 'Publisher Model `projects/relay-proj/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929` not found.'],
    [400, 'INVALID_ARGUMENT', 400, 'invalid_request_error', 'Invalid JSON payload received.'],
    [400, 'FAILED_PRECONDITION', 400, 'invalid_request_error', 'Project `relay-proj` is not allowed to use Publisher Model `claude-sonnet-4-5@20250929`'],
    [503, 'UNAVAILABLE', 529, 'overloaded_error', 'The service is currently unavailable.'],
    [504, 'DEADLINE_EXCEEDED', 504, 'timeout_error', 'Deadline exceeded.'],
    [500, 'INTERNAL', 500, 'api_error', 'Internal error encountered.'],
  ]
  for (const [code, status, wantStatus, wantType, message] of cases) {
    mock.answer = { status: code, body: googleError(code, status, message) }
    const before = mock.calls.length
    const answer = await readAnswer(await post(JSON.stringify({ model: ERRORS, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] })))
    const envelope = assertEnvelope(t, answer, wantStatus, wantType)
    t.equal(envelope.error.message, message, `${status}: Google's wording kept`)
    t.equal(mock.calls.length, before + 1, `${status}: one upstream attempt`)
  }
  // The SDK's typed errors, as Claude Code's transport sees them.
  mock.answer = { status: 429, body: `[${googleError(429, 'RESOURCE_EXHAUSTED', 'Quota exceeded')}]` }
  const err = await client.messages.create({ ...PARAMS, model: ERRORS }).catch((e: unknown) => e)
  t.type(err, Anthropic.RateLimitError, 'the array-wrapped form too')
  t.same((err as InstanceType<typeof Anthropic.APIError>).error, { type: 'error', error: { type: 'rate_limit_error', message: 'Quota exceeded' }, request_id: (err as InstanceType<typeof Anthropic.APIError>).requestID })
})

t.test('an Anthropic error wrapped in a Google envelope is unwrapped; a plain one passes verbatim', async (t) => {
  t.teardown(() => (mock.answer = undefined))
  const signature = 'messages.1.content.0: Invalid `signature` in `thinking` block'
  const inner = JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message: signature }, request_id: 'req_vrtx_011CWRAPPED' })
  mock.answer = { status: 400, body: googleError(400, 'INVALID_ARGUMENT', inner) }
  const wrapped = await readAnswer(await post(JSON.stringify({ model: ERRORS, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] })))
  const envelope = assertEnvelope(t, wrapped, 400, 'invalid_request_error')
  t.equal(envelope.error.message, signature, "the wording Claude Code's recovery keys on, unmodified")

  const tooLong = JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message: 'prompt is too long: 205000 tokens > 200000 maximum' }, request_id: 'req_vrtx_011CPLAIN' })
  mock.answer = { status: 400, body: tooLong, headers: { 'request-id': 'req_vrtx_011CPLAIN' } }
  const plain = await readAnswer(await post(JSON.stringify({ model: ERRORS, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] })))
  t.equal(plain.status, 400)
  t.equal(plain.text, tooLong, "Vertex's Anthropic envelope byte for byte")
  t.equal(plain.headers['request-id'], 'req_vrtx_011CPLAIN')
})

t.test('a stream cut mid-way ends with event: error', async (t) => {
  mock.resetAfterEvents = 5
  t.teardown(() => (mock.resetAfterEvents = undefined))
  const res = await post(JSON.stringify({ model: MODEL, max_tokens: 5, stream: true, messages: [{ role: 'user', content: 'hi' }] }))
  t.equal(res.status, 200)
  const text = await res.text()
  const events = [...text.matchAll(/^event: (\S+)$/gm)].map((m) => m[1])
  t.same(events.slice(0, 5), ['message_start', 'content_block_start', 'ping', 'content_block_delta', 'content_block_delta'], 'what Vertex sent, as sent')
  t.equal(events[events.length - 1], 'error', 'then an error event')
  const data = JSON.parse(/event: error\ndata: (.*)\n\n$/.exec(text)?.[1] ?? '{}') as { type?: string; error?: { type: string; message: string } }
  t.equal(data.type, 'error')
  t.equal(data.error?.type, 'api_error')
  t.match(data.error?.message, /provider vertex/)
  // The SDK surfaces it as an error, not a truncated message.
  const err = await client.messages.stream(PARAMS).finalMessage().catch((e: unknown) => e)
  t.type(err, Error)
})

t.test('no Anthropic credential reaches Google, even with allow_subscription', async (t) => {
  const secrets: Record<string, string>[] = [
    { 'x-api-key': 'sk-ant-api03-secretkey' },
    { authorization: 'Bearer sk-ant-oat01-subscription', 'anthropic-beta': 'oauth-2025-04-20,interleaved-thinking-2025-05-14' },
    { 'x-api-key': 'sk-ant-api03-secretkey', authorization: 'Bearer sk-ant-oat01-subscription' },
  ]
  for (const headers of secrets) {
    for (const stream of [true, false]) {
      const res = await post(JSON.stringify({ model: MODEL, max_tokens: 5, stream, messages: [{ role: 'user', content: 'hi' }] }), headers)
      t.equal(res.status, 200)
      await res.text()
      const sent = mock.last.recorded
      t.match(sent.headers.authorization, /^Bearer tok-\d+$/, 'only the Google token')
      t.equal(sent.headers['x-api-key'], undefined)
      const everything = JSON.stringify(sent.headers) + sent.url + sent.body.toString()
      t.notMatch(everything, /sk-ant-/, 'no Anthropic key or subscription token anywhere')
      t.notMatch(everything, /vertex-internal/, 'nor the pool slot label')
    }
  }
  t.same(world.google.unexpected, [], 'the relay called no Google endpoint but the token endpoint')
})
