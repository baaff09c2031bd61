/**
 * The Vertex mock is proven by the official client: `@anthropic-ai/vertex-sdk` pointed at it reads its
 * stream, its JSON answer and its token count as a real Vertex answer. What that SDK sends for a request
 * is then the golden request: the relay, given the same request by `@anthropic-ai/sdk`, must send Vertex
 * the same method, path, body and headers, apart from credentials and per-connection headers.
 *
 * One documented difference: `anthropic_version`. vertex-sdk 1.1.3 copies the client's own
 * `anthropic-version` header value into the body (`2026-10-21` for @anthropic-ai/sdk 1.10); Anthropic's
 * Vertex documentation requires `vertex-2023-10-16` (API-VX), which the relay sends whatever the client's
 * header says (Claude Code's is `2023-06-01`). The SDK itself sends the documented value when its header
 * carries it, which is checked too.
 */
import t from 'tap'
import type { Test } from 'tap'
import Anthropic from '@anthropic-ai/sdk'
import { AnthropicVertex } from '@anthropic-ai/vertex-sdk'
import { MESSAGE } from '../fixtures/anthropic.js'
import { startRelay } from '../helpers/relay.js'
import type { Recorded } from '../helpers/mock-upstream.js'
import { STREAM_MESSAGE, googleError } from '../helpers/vertex-mock.js'
import { vertexConfig, vertexWorld } from '../helpers/vertex-setup.js'

const PROJECT = 'golden-project'
const REGION = 'us-east5'
const world = await vertexWorld(['tok-sdk'])
const { mock } = world
const relay = await startRelay(vertexConfig({ baseUrl: mock.url, project: PROJECT, region: REGION, keyFile: world.account.keyFile }), { env: world.google.env() })
t.teardown(async () => {
  await relay.stop()
  await world.close()
})

/** A Vertex SDK client with a fixed Google token: an AuthClient stand-in, so no network is involved. */
function vertexSdk(defaultHeaders?: Record<string, string>): AnthropicVertex {
  const authClient = { projectId: null, getRequestHeaders: async () => new Headers({ authorization: 'Bearer tok-sdk' }) }
  return new AnthropicVertex({
    baseURL: `${mock.url}/v1`,
    region: REGION,
    projectId: PROJECT,
    maxRetries: 0,
    authClient: authClient as unknown as NonNullable<ConstructorParameters<typeof AnthropicVertex>[0]>['authClient'],
    ...(defaultHeaders ? { defaultHeaders } : {}),
  })
}
const sdk = vertexSdk()
const viaRelay = new Anthropic({ baseURL: relay.url, apiKey: 'sk-ant-api03-client-key', maxRetries: 0 })

const MODEL = 'claude-sonnet-4-5@20250929'
const BETAS = { 'anthropic-beta': 'interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14' }
const PARAMS = {
  model: MODEL,
  max_tokens: 8192,
  system: [
    { type: 'text' as const, text: 'x-anthropic-billing-header: cc_version=2.1.300' },
    { type: 'text' as const, text: 'You are Claude Code — “quoted” ✓', cache_control: { type: 'ephemeral' as const } },
  ],
  messages: [{ role: 'user' as const, content: [{ type: 'text' as const, text: "what's the weather?" }] }],
  tools: [{ name: 'get_weather', description: 'd', input_schema: { type: 'object' as const, properties: { location: { type: 'string' } } } }],
  thinking: { type: 'enabled' as const, budget_tokens: 2048 },
  metadata: { user_id: 'user-1' },
}

/**
 * A message as it came over the wire: the SDKs' accumulators add helper members (`parsed_output: null`,
 * `stop_details: undefined`) that are not part of the answer.
 */
function wire(message: object): unknown {
  const copy = JSON.parse(JSON.stringify(message)) as Record<string, unknown>
  delete copy.parsed_output
  return copy
}

/** The request just recorded by the mock. */
function lastRequest(): Recorded {
  return mock.requests[mock.requests.length - 1]!
}

/** Headers that differ by design: credentials, the caller's identity and per-connection ones. */
const NOT_COMPARED = new Set(['authorization', 'user-agent', 'accept-encoding', 'content-length', 'host', 'connection'])

function comparable(r: Recorded): { method: string; url: string; headers: Record<string, unknown>; body: Record<string, unknown> } {
  const headers = Object.fromEntries(Object.entries(r.headers).filter(([name]) => !NOT_COMPARED.has(name)))
  const body = JSON.parse(r.body.toString('utf8')) as Record<string, unknown>
  delete body.anthropic_version
  return { method: r.method, url: r.url, headers, body }
}

function assertGolden(t: Test, golden: Recorded, relayed: Recorded): void {
  t.same(comparable(relayed), comparable(golden), 'method, path, headers and body as the Vertex SDK sends them')
  t.equal(golden.headers.authorization, 'Bearer tok-sdk')
  t.match(relayed.headers.authorization, /^Bearer tok-\d$/, 'the relay sends its own Google token')
  t.equal(relayed.headers['x-api-key'], undefined, "the client's Anthropic key is not sent")
  t.equal(relayed.headers['anthropic-version'], undefined, 'no anthropic-version header (the SDK removes it)')
  t.equal(relayed.headers['accept-encoding'], 'identity', 'CONTRACT §4: identity upstream')
  t.equal(JSON.parse(golden.body.toString()).anthropic_version, '2026-10-21', "the SDK's body version is its own header's")
  t.equal(JSON.parse(relayed.body.toString()).anthropic_version, 'vertex-2023-10-16', "the relay's is Vertex's documented one")
  // Byte for byte: both bodies are compact JSON with `model` removed and `anthropic_version` last.
  t.equal(relayed.body.toString().replace('"vertex-2023-10-16"', '"V"'), golden.body.toString().replace('"2026-10-21"', '"V"'), 'body bytes equal but for the version value')
}

t.test('the Vertex SDK reads the mock stream into the expected message', async (t) => {
  const stream = sdk.messages.stream(PARAMS, { headers: BETAS })
  const types: string[] = []
  stream.on('streamEvent', (e) => types.push(e.type))
  t.strictSame(wire(await stream.finalMessage()), STREAM_MESSAGE)
  t.same(types.filter((x) => x !== 'content_block_delta'), [
    'message_start', 'content_block_start', 'content_block_stop', 'content_block_start', 'content_block_stop',
    'content_block_start', 'content_block_stop', 'message_delta', 'message_stop',
  ])
  t.equal(mock.last.method, 'streamRawPredict')
})

t.test('golden request: streaming', async (t) => {
  await sdk.messages.stream(PARAMS, { headers: BETAS }).finalMessage()
  const golden = lastRequest()
  t.equal(golden.url, `/v1/projects/${PROJECT}/locations/${REGION}/publishers/anthropic/models/${MODEL}:streamRawPredict`)
  const message = await viaRelay.messages.stream(PARAMS, { headers: BETAS }).finalMessage()
  t.strictSame(wire(message), STREAM_MESSAGE, 'the same message through the relay')
  assertGolden(t, golden, lastRequest())
})

t.test('the Vertex SDK reads the mock JSON answer as the message; golden request: non-streaming', async (t) => {
  t.strictSame(wire(await sdk.messages.create(PARAMS, { headers: BETAS })), MESSAGE)
  const golden = lastRequest()
  t.equal(golden.url, `/v1/projects/${PROJECT}/locations/${REGION}/publishers/anthropic/models/${MODEL}:rawPredict`)
  t.strictSame(wire(await viaRelay.messages.create(PARAMS, { headers: BETAS })), MESSAGE)
  assertGolden(t, golden, lastRequest())
})

t.test('the Vertex SDK counts tokens at the mock; golden request: count_tokens', async (t) => {
  const params = { model: MODEL, system: PARAMS.system, messages: PARAMS.messages, tools: PARAMS.tools }
  t.strictSame(await sdk.messages.countTokens(params), { input_tokens: 42 })
  const golden = lastRequest()
  t.equal(golden.url, `/v1/projects/${PROJECT}/locations/${REGION}/publishers/anthropic/models/count-tokens:rawPredict`)
  t.equal(JSON.parse(golden.body.toString()).model, MODEL, 'the model stays in the body for count-tokens')
  t.strictSame(await viaRelay.messages.countTokens(params), { input_tokens: 42 })
  assertGolden(t, golden, lastRequest())
})

t.test('given the documented version in its header, the Vertex SDK sends exactly the relay body', async (t) => {
  const documented = vertexSdk({ 'anthropic-version': 'vertex-2023-10-16' })
  await documented.messages.create(PARAMS, { headers: BETAS })
  const golden = lastRequest()
  await viaRelay.messages.create(PARAMS, { headers: BETAS })
  t.equal(lastRequest().body.toString(), golden.body.toString())
})

t.test("the Vertex SDK sees the mock's Google errors as API errors with Google's status", async (t) => {
  mock.answer = { status: 429, body: googleError(429, 'RESOURCE_EXHAUSTED', 'Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model') }
  t.teardown(() => (mock.answer = undefined))
  const err = await sdk.messages.create(PARAMS).catch((e: unknown) => e)
  t.type(err, Anthropic.RateLimitError)
  t.match((err as Error).message, /RESOURCE_EXHAUSTED/)
})
