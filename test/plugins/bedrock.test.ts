/**
 * The bedrock plugin through the running relay, against a Bedrock double whose faithfulness is proven
 * first with Anthropic's official Bedrock SDK:
 *
 * 1. `@anthropic-ai/bedrock-sdk` pointed at the mock signs its requests (the mock verifies the
 *    signature) and reads the mock's event streams into the same message Anthropic's API gives.
 * 2. What that SDK sends for a request is the golden request; the same request through the relay
 *    (sent with `@anthropic-ai/sdk`) reaches the mock identical apart from credentials and dates.
 * 3. Through the relay, `@anthropic-ai/sdk` gets the message Anthropic's API gives: thinking with
 *    its signature, text, tool use, usage; the client's SSE bytes are Anthropic's bytes.
 * 4. Model ids (base ids, inference profiles, ARNs, `model_mapping`) land in the path as the SDK puts
 *    them, and the body edits leave every other byte as the client sent it.
 */
import t from 'tap'
import Anthropic from '@anthropic-ai/sdk'
import { AnthropicBedrock } from '@anthropic-ai/bedrock-sdk'
import { BedrockMock, streamFrames } from '../helpers/bedrock-mock.js'
import type { BedrockRequest } from '../helpers/bedrock-mock.js'
import { ARN, BASE_ID, bedrockConfig, CREDS, explicitKeys, GLOBAL_PROFILE, REGION, US_PROFILE } from '../helpers/bedrock-setup.js'
import { MockUpstream, sse } from '../helpers/mock-upstream.js'
import { startRelay } from '../helpers/relay.js'
import { claudeCodeBody, MESSAGE, STREAM_EVENTS } from '../fixtures/anthropic.js'

const mock = await new BedrockMock({ region: REGION, credentials: [CREDS] }).start()
// Anthropic's API, for the "same message as from Anthropic directly" side.
const anthropicApi = await new MockUpstream().start()
anthropicApi.handler = (_req, res, rec) => {
  const stream = (JSON.parse(rec.body.toString()) as { stream?: boolean }).stream
  if (stream) res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' }).end(sse(STREAM_EVENTS as unknown as { type: string }[]))
  else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(MESSAGE))
}
const relay = await startRelay(
  bedrockConfig(
    mock.url,
    `${explicitKeys()}    keys: [{ key: "bedrock-internal" }]
    models: ["${ARN}", "${BASE_ID}", "${US_PROFILE}", "${GLOBAL_PROFILE}", "anthropic.claude-3-5-haiku-20241022-v1:0", "weird model/@id+x"]
    model_mapping:
      "claude-sonnet-4-5": "${US_PROFILE}"
`,
  ),
)
t.teardown(async () => {
  await relay.stop()
  await mock.close()
  await anthropicApi.close()
})

const bedrockSdk = () => new AnthropicBedrock({ baseURL: mock.url, awsAccessKey: CREDS.accessKeyId, awsSecretKey: CREDS.secretAccessKey, awsRegion: REGION, maxRetries: 0 })
const anthropicSdk = (baseURL: string) => new Anthropic({ baseURL, apiKey: 'sk-ant-api03-client-own', maxRetries: 0 })

const params = {
  model: BASE_ID,
  max_tokens: 1024,
  system: [{ type: 'text' as const, text: 'You are Claude Code.', cache_control: { type: 'ephemeral' as const } }],
  messages: [{ role: 'user' as const, content: 'What is the weather in San Francisco?' }],
  tools: [{ name: 'get_weather', description: 'Current weather', input_schema: { type: 'object' as const, properties: { location: { type: 'string' } } } }],
  thinking: { type: 'enabled' as const, budget_tokens: 1024 },
  metadata: { user_id: 'user-1' },
}
const BETAS = ['interleaved-thinking-2025-05-14', 'context-1m-2025-08-07']

/** The requests the mock received while `fn` ran. */
async function captured(fn: () => Promise<unknown>): Promise<BedrockRequest[]> {
  const before = mock.requests.length
  await fn()
  return mock.requests.slice(before)
}

const json = (r: BedrockRequest): Record<string, unknown> => JSON.parse(r.body.toString()) as Record<string, unknown>

const direct = await anthropicSdk(anthropicApi.url).messages.stream(params).finalMessage()

t.test('the mock is faithful: the official Bedrock SDK signs for it and reads its streams', async (t) => {
  t.same(direct.content.map((b) => b.type), ['thinking', 'text', 'tool_use'], 'the reference message from Anthropic')
  const [req] = await captured(async () => {
    const viaSdk = await bedrockSdk().messages.stream(params).finalMessage()
    t.same(viaSdk, direct, 'the Bedrock SDK assembles the same message from the mock as Anthropic gives')
  })
  t.equal(req!.auth?.kind, 'sigv4', "the SDK's signature verified")
  t.equal(req!.action, 'invoke-with-response-stream')

  mock.invocationMetrics = true
  mock.splitFramesAt = 5
  try {
    t.same(await bedrockSdk().messages.stream(params).finalMessage(), direct, "with Bedrock's invocation metrics and frames split across writes")
  } finally {
    mock.invocationMetrics = false
    mock.splitFramesAt = 0
  }
  t.same(await bedrockSdk().messages.create(params), MESSAGE, 'non-streaming')

  const wrong = new AnthropicBedrock({ baseURL: mock.url, awsAccessKey: CREDS.accessKeyId, awsSecretKey: 'not-the-secret', awsRegion: REGION, maxRetries: 0 })
  const err = await wrong.messages.create(params).catch((e: unknown) => e)
  t.type(err, Anthropic.PermissionDeniedError, 'a wrong secret is refused by the mock: 403')
  t.match((err as Error).message, /The request signature we calculated does not match/)
  t.equal(mock.last.authError, 'InvalidSignatureException')

  const otherRegion = new AnthropicBedrock({ baseURL: mock.url, awsAccessKey: CREDS.accessKeyId, awsSecretKey: CREDS.secretAccessKey, awsRegion: 'eu-west-1', maxRetries: 0 })
  t.type(await otherRegion.messages.create(params).catch((e: unknown) => e), Anthropic.PermissionDeniedError, 'a signature for another region is refused')
})

t.test('the mock is faithful: its exception frames are what the Bedrock SDK expects', async (t) => {
  const { exceptionFrame } = await import('../helpers/bedrock-mock.js')
  mock.override = { frames: [...streamFrames().slice(0, 3), exceptionFrame('throttlingException', { message: 'Too many requests, please wait before trying again.' })] }
  try {
    const err = await bedrockSdk().messages.stream(params).finalMessage().catch((e: unknown) => e)
    t.type(err, Anthropic.APIError)
    t.match((err as Error).message, /throttlingException|Too many requests/)
  } finally {
    mock.override = undefined
  }
})

t.test("golden request: the relay sends Bedrock what Anthropic's Bedrock SDK sends", async (t) => {
  const cases = [
    { name: 'streaming, an application inference profile ARN', model: ARN, stream: true },
    { name: 'non-streaming, a base model id', model: BASE_ID, stream: false },
    { name: 'streaming, a cross-region profile', model: US_PROFILE, stream: true },
  ]
  for (const c of cases) {
    const request = { ...params, model: c.model, betas: BETAS }
    const [golden] = await captured(() =>
      c.stream ? bedrockSdk().beta.messages.stream(request).finalMessage() : bedrockSdk().beta.messages.create(request),
    )
    const [relayed] = await captured(() =>
      c.stream ? anthropicSdk(relay.url).beta.messages.stream(request).finalMessage() : anthropicSdk(relay.url).beta.messages.create(request),
    )
    t.ok(golden && relayed, `${c.name}: both reached the mock`)
    t.equal(relayed!.url, golden!.url, `${c.name}: the same path, byte for byte (${golden!.url})`)
    t.equal(relayed!.method, 'POST')
    const g = json(golden!)
    const r = json(relayed!)
    // The one deliberate difference: AWS documents "bedrock-2023-05-31" as the value InvokeModel
    // requires (AWS-REQ; wire-protocols §3.2). bedrock-sdk 1.x copies its own Anthropic API version
    // header (2026-10-21) there instead; earlier releases sent the documented constant.
    t.equal(r.anthropic_version, 'bedrock-2023-05-31', `${c.name}: the documented Bedrock API version`)
    t.equal(typeof g.anthropic_version, 'string', `${c.name}: the SDK sends a version too (${String(g.anthropic_version)})`)
    t.same({ ...r, anthropic_version: '' }, { ...g, anthropic_version: '' }, `${c.name}: the same body as JSON`)
    t.same(r.anthropic_beta, BETAS, `${c.name}: betas in the body, in order`)
    t.equal(relayed!.headers['content-type'], golden!.headers['content-type'], `${c.name}: content-type`)
    t.equal(relayed!.headers['content-type'], 'application/json')
    t.equal(relayed!.headers['anthropic-version'], undefined, `${c.name}: no anthropic-version header (the SDK sends none)`)
    t.equal(golden!.headers['anthropic-version'], undefined)
    // The SDK leaves the anthropic-beta header on as well; Bedrock reads the body, and the relay
    // sends the (filtered) betas only there, so an unfiltered header cannot contradict them.
    t.equal(relayed!.headers['anthropic-beta'], undefined, `${c.name}: betas travel in the body only`)
    t.equal(relayed!.headers['accept'], c.stream ? 'application/vnd.amazon.eventstream' : 'application/json', `${c.name}: accept per the InvokeModel API`)
    t.equal(relayed!.auth?.kind, 'sigv4')
    t.equal(golden!.auth?.kind, 'sigv4')
    t.match(relayed!.headers['authorization'], /^AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE\/\d{8}\/us-east-1\/bedrock\/aws4_request, SignedHeaders=[^,]*host[^,]*, Signature=[0-9a-f]{64}$/)
  }
})

t.test('through the relay, @anthropic-ai/sdk gets the message Anthropic gives', async (t) => {
  const relayed = await anthropicSdk(relay.url).messages.stream(params).finalMessage()
  t.same(relayed, direct, 'streaming finalMessage() equals the one from Anthropic directly')
  t.same(relayed.content.map((b) => b.type), ['thinking', 'text', 'tool_use'])
  t.equal((relayed.content[0] as { signature: string }).signature, 'EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds', 'thinking signature intact')
  t.same((relayed.content[2] as { input: unknown }).input, { location: 'San Francisco, CA', unit: 'celsius' }, 'tool input from input_json_delta fragments')
  t.same(relayed.usage, direct.usage, 'usage')
  t.equal(relayed.usage.output_tokens, 89)

  t.same(await anthropicSdk(relay.url).messages.create(params), MESSAGE, 'non-streaming: the message JSON unchanged')

  mock.invocationMetrics = true
  try {
    t.same(await anthropicSdk(relay.url).messages.stream(params).finalMessage(), direct, "with Bedrock's invocation metrics on message_stop")
  } finally {
    mock.invocationMetrics = false
  }
})

t.test("the client's SSE is byte for byte Anthropic's SSE of the same events", async (t) => {
  const expected = sse(STREAM_EVENTS as unknown as { type: string }[])
  for (const split of [0, 1, 7, 64]) {
    mock.splitFramesAt = split
    try {
      const res = await fetch(`${relay.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
        body: JSON.stringify({ ...params, stream: true }),
      })
      t.equal(res.status, 200)
      t.match(res.headers.get('content-type'), /^text\/event-stream/)
      t.equal(Buffer.from(await res.arrayBuffer()).toString(), expected, `upstream frames written ${split ? `${split} bytes at a time` : 'whole'}`)
    } finally {
      mock.splitFramesAt = 0
    }
  }
  const line = await relay.waitForLog((l) => l.msg === 'request' && l.status === 200 && l.output_tokens === 89)
  t.match(line, { provider: 'bedrock', input_tokens: 472, cache_read_input_tokens: 2048, cache_creation_input_tokens: 120 }, 'usage read from the translated stream')
})

t.test('model ids: encoded in the path as the Bedrock SDK does, signed correctly, model_mapping applied', async (t) => {
  const cases: [string, string][] = [
    [BASE_ID, `/model/${BASE_ID}/invoke`],
    [US_PROFILE, `/model/${US_PROFILE}/invoke`],
    [GLOBAL_PROFILE, `/model/${GLOBAL_PROFILE}/invoke`],
    [ARN, '/model/arn:aws:bedrock:us-east-1:123456789012:application-inference-profile%2Fa1b2c3d4e5f6/invoke'],
    ['weird model/@id+x', '/model/weird%20model%2F@id+x/invoke'],
  ]
  for (const [model, path] of cases) {
    const [viaSdk] = await captured(() => bedrockSdk().messages.create({ ...params, model }))
    const [viaRelay] = await captured(() => anthropicSdk(relay.url).messages.create({ ...params, model }))
    t.equal(viaSdk!.url, path, `the SDK's path for ${model}`)
    t.equal(viaRelay!.url, path, `the relay's path for ${model}`)
    t.equal(viaRelay!.model, model, 'decodes back to the id')
    t.equal(viaRelay!.auth?.kind, 'sigv4', 'the signature over the encoded path verifies')
  }
  for (const model of ['claude-sonnet-4-5', 'claude-sonnet-4-5[1m]']) {
    const [streamed] = await captured(() => anthropicSdk(relay.url).messages.stream({ ...params, model }).finalMessage())
    t.equal(streamed!.url, `/model/${US_PROFILE}/invoke-with-response-stream`, `model_mapping: ${model} → ${US_PROFILE}`)
    t.equal(json(streamed!).model, undefined, 'no model in the body')
  }
})

t.test("body edits touch only what Bedrock needs; every other byte is the client's", async (t) => {
  const original = claudeCodeBody('claude-sonnet-4-5', true)
  const res = await fetch(`${relay.url}/v1/messages?beta=true`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'anthropic-version': '2023-06-01',
      'anthropic-beta': 'claude-code-20250219,interleaved-thinking-2025-05-14,oauth-2025-04-20, context-1m-2025-08-07,prompt-caching-scope-2026-01-05,advanced-tool-use-2025-11-20,effort-2025-11-24,context-1m-2025-08-07',
      'x-app': 'cli',
      'x-amzn-bedrock-guardrailidentifier': 'gr-1',
      'x-amz-security-token': 'forged-by-the-client',
      'x-amz-date': '20200101T000000Z',
    },
    body: original,
  })
  t.equal(res.status, 200)
  await res.arrayBuffer()
  const got = mock.last
  t.equal(got.url, `/model/${US_PROFILE}/invoke-with-response-stream`, 'no ?beta=true on Bedrock')
  const body = got.body.toString()
  const sent = JSON.parse(original) as Record<string, unknown>
  delete sent.model
  delete sent.stream
  t.same(JSON.parse(body), {
    ...sent,
    anthropic_version: 'bedrock-2023-05-31',
    anthropic_beta: ['interleaved-thinking-2025-05-14', 'context-1m-2025-08-07', 'tool-search-tool-2025-10-19', 'effort-2025-11-24'],
  }, 'model and stream removed; version and the allowed betas (renamed, deduplicated, in order) added')
  // Byte-level: everything the relay did not edit is exactly as the client wrote it.
  const expected =
    original
      .replace('"model": "claude-sonnet-4-5",', '')
      .replace(', "stream":true', '')
      .replace(/}$/, '') +
    ',"anthropic_version":"bedrock-2023-05-31","anthropic_beta":["interleaved-thinking-2025-05-14","context-1m-2025-08-07","tool-search-tool-2025-10-19","effort-2025-11-24"]}'
  t.equal(body, expected, 'the untouched members keep their bytes, spacing and order')
  t.ok(body.includes('"future_field": [1, 2.5e3, null, true]'), 'unknown fields and number formats intact')
  t.equal(got.headers['anthropic-beta'], undefined)
  t.equal(got.headers['anthropic-version'], undefined)
  t.equal(got.headers['x-app'], 'cli', "the client's other headers go along")
  t.equal(got.headers['x-amzn-bedrock-guardrailidentifier'], 'gr-1', "Bedrock's own request options go along")
  t.equal(got.headers['x-amz-security-token'], undefined, "a client's x-amz-* never reaches the signed request")
  t.equal(got.auth?.kind, 'sigv4', 'and the signature verifies')
  const line = await relay.waitForLog((l) => l.msg === 'request' && Array.isArray(l.shaped) && String(l.shaped).includes('claude-code-20250219'))
  t.match(String(line.shaped), /dropped betas Bedrock rejects: claude-code-20250219, oauth-2025-04-20, prompt-caching-scope-2026-01-05/)
})

t.test('betas: none of the client betas is allowed → no anthropic_beta at all', async (t) => {
  await anthropicSdk(relay.url).beta.messages.create({ ...params, betas: ['claude-code-20250219', 'oauth-2025-04-20'] })
  t.equal(json(mock.last).anthropic_beta, undefined)
  await anthropicSdk(relay.url).messages.create(params)
  t.equal(json(mock.last).anthropic_beta, undefined, 'no header, no field')
})

t.test('cache_control: top-level removed, scope removed, block cache_control otherwise intact', async (t) => {
  const body =
    '{"model":"claude-sonnet-4-5","max_tokens":10,"cache_control":{"type":"ephemeral"},' +
    '"system":[{"type":"text","text":"say \\"cache_control\\":{\\"scope\\":1}","cache_control":{"type":"ephemeral", "scope":"global","ttl":"1h"}}],' +
    '"messages":[{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"scope":{"kind":"org"},"type":"ephemeral"}},{"type":"text","text":"x","cache_control" : { "scope" : "only" }}]}],' +
    '"tools":[{"name":"t","input_schema":{"type":"object","properties":{"scope":{"type":"string"}}},"cache_control":{"type":"ephemeral","scope":"global"}}]}'
  const res = await fetch(`${relay.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
  t.equal(res.status, 200)
  await res.arrayBuffer()
  t.equal(
    mock.last.body.toString(),
    '{"max_tokens":10,' +
      '"system":[{"type":"text","text":"say \\"cache_control\\":{\\"scope\\":1}","cache_control":{"type":"ephemeral","ttl":"1h"}}],' +
      '"messages":[{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral"}},{"type":"text","text":"x","cache_control" : {  }}]}],' +
      '"tools":[{"name":"t","input_schema":{"type":"object","properties":{"scope":{"type":"string"}}},"cache_control":{"type":"ephemeral"}}],' +
      '"anthropic_version":"bedrock-2023-05-31"}',
    'only the scope members and the top-level cache_control are gone; text and schemas that mention scope are untouched',
  )
  const line = await relay.waitForLog((l) => l.msg === 'request' && Array.isArray(l.shaped) && String(l.shaped).includes('cache_control'))
  t.same(line.shaped, ['removed top-level cache_control', 'removed cache_control.scope (4)'])
})

t.test('count_tokens goes to Bedrock CountTokens for the mapped model, not the local estimate (more in bedrock-count-tokens.test.ts)', async (t) => {
  const [req] = await captured(async () => {
    const res = await fetch(`${relay.url}/v1/messages/count_tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'How many tokens is this?' }] }),
    })
    t.equal(res.status, 200)
    t.equal(res.headers.get('x-cc-relay-estimate'), null, 'not flagged as an estimate')
    t.match(JSON.parse(await res.text()), { input_tokens: Number })
  })
  t.equal(req!.url, `/model/${US_PROFILE.replace(/^us\./, "")}/count-tokens`, "a profile is counted as its base model")
  t.equal(req!.auth?.kind, 'sigv4')
})
