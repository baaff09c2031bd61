/**
 * Bedrock CountTokens in the bedrock plugin (count-tokens.ts, request.ts) and in the Bedrock double:
 *
 * 1. `prepare` for `count_tokens`: `…/model/{id}/count-tokens` with the id encoded as for invoke, and
 *    `{"input":{"invokeModel":{"body":"<base64>"}}}` whose body is byte for byte the InvokeModel body
 *    the messages route builds, plus the `max_tokens` CountTokens requires.
 * 2. The count_tokens translator: `{"inputTokens":N}` → `{"input_tokens":N}`, garbage → an Anthropic
 *    error, and never a throw.
 * 3. The double's `/count-tokens`: SigV4 verified as for invoke, the envelope and the InvokeModel body
 *    inside it checked, a deterministic count.
 * 4. Through the running relay: `POST /v1/messages/count_tokens` answered from CountTokens (not the
 *    local estimate), Bedrock's errors Anthropic-shaped, `/v1/messages` as before.
 */
import t from 'tap'
import type { Test } from 'tap'
import { request } from 'node:http'
import { Sha256 } from '@aws-crypto/sha256-js'
import { HttpRequest } from '@smithy/protocol-http'
import { SignatureV4 } from '@smithy/signature-v4'
import Anthropic from '@anthropic-ai/sdk'
import bedrock from '../../plugins/bedrock/index.js'
import { anthropicCount, CountTokensTranslator } from '../../plugins/bedrock/count-tokens.js'
import type { BedrockOptions } from '../../plugins/bedrock/request.js'
import type { MappedError, PrepareInput, Route, SseEvent } from '../../plugins/sdk.js'
import { bodyTools, RejectedRequest } from '../../src/shared/json-edit.js'
import { assertEnvelope, readAnswer } from '../helpers/answers.js'
import type { Answer } from '../helpers/answers.js'
import { BedrockMock, mockTokenCount } from '../helpers/bedrock-mock.js'
import type { AwsCredentials, BedrockRequest } from '../helpers/bedrock-mock.js'
import { API_KEY, ARN, BASE_ID, bedrockConfig, CREDS, explicitKeys, GLOBAL_PROFILE, REGION, US_PROFILE } from '../helpers/bedrock-setup.js'
import { startRelay } from '../helpers/relay.js'
import { MESSAGE } from '../fixtures/anthropic.js'

// The Bedrock double (and the relay) start before the first test: tap ends the file's root test once
// its queued tests finish, so nothing may be awaited between tests.
const mock = await new BedrockMock({ region: REGION, credentials: [CREDS], bearerTokens: [API_KEY] }).start()
t.teardown(() => mock.close())

const relay = await startRelay(
  bedrockConfig(
    mock.url,
    `${explicitKeys()}    models: ["${ARN}", "${BASE_ID}", "${US_PROFILE}"]
    model_mapping:
      "claude-sonnet-4-5": "${US_PROFILE}"
`,
  ),
)
t.teardown(() => relay.stop())

const OPTIONS: BedrockOptions = { aws_region: REGION }
const BASE = `https://bedrock-runtime.${REGION}.amazonaws.com`
const text = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8')

/** What Claude Code sends to count_tokens: no max_tokens, no stream; odd spacing the relay must keep. */
function countBody(model: string, extra = ''): string {
  return `{"model": ${JSON.stringify(model)}, "system":[{"type":"text","text":"You are Claude Code.","cache_control":{"type":"ephemeral","scope":"global"}}],
 "messages":[{"role":"user","content":[{"type":"text","text":"how many \\"tokens\\"? ünïcödé ✓"}]}],
 "tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{"location":{"type":"string"}}}}]${extra}, "future_field": [1, 2.5e3, null]}`
}

function input(over: { route?: Route; model?: string; body?: string; stream?: boolean; headers?: Record<string, string> } = {}): PrepareInput<BedrockOptions> {
  const model = over.model ?? BASE_ID
  return {
    route: over.route ?? 'count_tokens',
    requestId: 'req_ccr_count',
    body: Buffer.from(over.body ?? countBody(model)),
    model,
    stream: over.stream ?? false,
    query: 'beta=true',
    headers: over.headers ?? {
      'anthropic-version': '2023-06-01',
      'anthropic-beta': 'claude-code-20250219,interleaved-thinking-2025-05-14,token-counting-2024-11-01',
      'content-type': 'application/json',
      'x-app': 'cli',
      'x-amz-date': '20200101T000000Z',
    },
    baseUrl: BASE,
    options: OPTIONS,
  }
}

/** The envelope's parts: it must be exactly `{"input":{"invokeModel":{"body":…}}}`. */
function unwrap(t: Test, body: Uint8Array): Buffer {
  const json = JSON.parse(text(body)) as { input: { invokeModel: { body: string } } }
  t.same(Object.keys(json), ['input'], 'the envelope has input only')
  t.same(Object.keys(json.input), ['invokeModel'], 'an InvokeModel input, not a Converse one')
  t.same(Object.keys(json.input.invokeModel), ['body'])
  const blob = json.input.invokeModel.body
  t.match(blob, /^[A-Za-z0-9+/]*={0,2}$/, 'standard base64')
  return Buffer.from(blob, 'base64')
}

t.test('prepare count_tokens: the CountTokens URL, with the model id encoded as for invoke', async (t) => {
  const cases: [model: string, path: string][] = [
    [BASE_ID, `/model/${BASE_ID}/count-tokens`],
    // CountTokens refuses cross-region profile ids: their base model is counted.
    [US_PROFILE, `/model/${US_PROFILE.replace(/^us\./, '')}/count-tokens`],
    [GLOBAL_PROFILE, `/model/${GLOBAL_PROFILE.replace(/^global\./, '')}/count-tokens`],
    [ARN, '/model/arn:aws:bedrock:us-east-1:123456789012:application-inference-profile%2Fa1b2c3d4e5f6/count-tokens'],
    ['weird model/@id+x', '/model/weird%20model%2F@id+x/count-tokens'],
  ]
  for (const [model, path] of cases) {
    const spec = bedrock.prepare(input({ model }), bodyTools)
    t.equal(spec.url, `${BASE}${path}`, model)
    const invoke = bedrock.prepare(input({ model, route: 'messages', body: countBody(model, ', "max_tokens": 5') }), bodyTools)
    t.equal(spec.url.replace(/\/count-tokens$/, ''), invoke.url.replace(/\/invoke$/, '').replace(/\/model\/(?:us|global)\./, '/model/'), `${model}: the invoke path, less any profile prefix`)
  }
  for (const model of ['', '.', '..', ';x']) {
    let thrown: unknown
    try {
      bedrock.prepare(input({ model }), bodyTools)
    } catch (err) {
      thrown = err
    }
    t.ok(thrown instanceof RejectedRequest, `"${model}" is refused as for invoke`)
  }
})

t.test('prepare count_tokens: headers as for a non-streaming invoke', async (t) => {
  const { headers } = bedrock.prepare(input(), bodyTools)
  t.equal(headers['content-type'], 'application/json')
  t.equal(headers['accept'], 'application/json', 'CountTokens answers JSON')
  t.equal(headers['anthropic-version'], undefined, 'the version travels in the InvokeModel body')
  t.equal(headers['anthropic-beta'], undefined, 'the betas travel in the InvokeModel body')
  t.equal(headers['x-amz-date'], undefined, "a client's x-amz-* never reaches the signed request")
  t.equal(headers['x-app'], 'cli', "the client's other headers go along")
})

t.test('prepare count_tokens: base64 of the InvokeModel body the messages route sends, plus max_tokens', async (t) => {
  const spec = bedrock.prepare(input(), bodyTools)
  const decoded = unwrap(t, spec.body)
  const json = JSON.parse(decoded.toString('utf8')) as Record<string, unknown>
  t.equal(json.anthropic_version, 'bedrock-2023-05-31', 'the documented Bedrock API version')
  t.notOk('model' in json, 'no model: it is in the URL')
  t.notOk('stream' in json)
  t.equal(json.max_tokens, 1, 'max_tokens added: CountTokens validates the body as an InvokeModel body')
  t.same(json.anthropic_beta, ['interleaved-thinking-2025-05-14'], 'betas filtered to what Bedrock accepts, in the body')
  t.same(json.future_field, [1, 2500, null], 'unknown fields kept')
  t.match(spec.notes, [/dropped betas Bedrock rejects: claude-code-20250219, token-counting-2024-11-01/, /removed cache_control.scope \(1\)/])

  // Byte for byte what /invoke would get for the same body (the same edits, in the same order).
  const invoke = bedrock.prepare(input({ route: 'messages' }), bodyTools)
  t.equal(decoded.toString('utf8'), text(bodyTools.setField(invoke.body, 'max_tokens', '1')), 'the invoke body with max_tokens, every other byte the same')
  t.equal(invoke.url, `${BASE}/model/${BASE_ID}/invoke`, 'the messages route is unchanged')
  t.equal(invoke.headers['accept'], 'application/json')
  const streamed = bedrock.prepare(input({ route: 'messages', stream: true }), bodyTools)
  t.equal(streamed.url, `${BASE}/model/${BASE_ID}/invoke-with-response-stream`)
  t.equal(streamed.headers['accept'], 'application/vnd.amazon.eventstream')
})

t.test('prepare count_tokens: max_tokens kept when sent, above the thinking budget when thinking is on', async (t) => {
  const maxTokens = (extra: string): unknown => {
    const decoded = unwrap(t, bedrock.prepare(input({ body: countBody(BASE_ID, extra) }), bodyTools).body)
    return (JSON.parse(decoded.toString('utf8')) as Record<string, unknown>).max_tokens
  }
  t.equal(maxTokens(', "max_tokens": 4096'), 4096, "the client's own max_tokens is kept")
  t.equal(maxTokens(', "thinking": {"type":"enabled","budget_tokens":2048}'), 2049, 'max_tokens must exceed budget_tokens')
  t.equal(maxTokens(', "thinking": {"type":"adaptive"}'), 1, 'adaptive thinking has no budget')
  t.equal(maxTokens(', "thinking": {"type":"enabled","budget_tokens":"lots"}'), 1, 'a budget that is not a number is not ours to fix')
  const input0 = input()
  const before = Buffer.from(input0.body)
  bedrock.prepare(input0, bodyTools)
  t.ok(Buffer.from(input0.body).equals(before), "the client's body is not mutated")
})

t.test('translator: count_tokens answers become Anthropic counts; messages keep the stream translator', async (t) => {
  const translator = bedrock.translator!(input())
  t.type(translator, CountTokensTranslator)
  t.notOk(bedrock.translator!(input({ route: 'messages' })) instanceof CountTokensTranslator, 'messages: the event-stream translator')
  const whole = (body: string): string | MappedError => (translator as CountTokensTranslator).onWhole(body)
  t.equal(whole('{"inputTokens":1234}'), '{"input_tokens":1234}')
  t.equal(whole('{ "inputTokens" : 0 }'), '{"input_tokens":0}')
  t.equal(whole('{"inputTokens":7,"other":true}'), '{"input_tokens":7}', 'members Anthropic does not define are not passed on')
  for (const garbage of ['', 'garbage', '{', 'null', '[]', '{"inputTokens":"12"}', '{"inputTokens":-1}', '{"inputTokens":1.5}', '{"input_tokens":3}', 'x'.repeat(100_000)]) {
    const mapped = anthropicCount(garbage)
    t.match(mapped, { status: 500, type: 'api_error', message: /Bedrock CountTokens answered without an inputTokens count/ }, `garbage ${garbage.slice(0, 20)}`)
    t.ok(typeof mapped === 'object' && mapped.message.length < 300, 'the message quotes a bounded slice')
  }
})

t.test('count_tokens translator: an event stream instead of a count is one error event, never a throw', async (t) => {
  const frames: SseEvent[] = [
    { event: 'chunk', data: '{"bytes":"eyJ0eXBlIjoicGluZyJ9"}', headers: { ':event-type': 'chunk', ':message-type': 'event' } },
    { event: '', data: '' },
    { event: 'throttlingException', data: '{', headers: { ':message-type': 'exception' } },
  ]
  const emitted: [string, string][] = []
  const translator = new CountTokensTranslator('req_x')
  for (const frame of frames) t.doesNotThrow(() => translator.onEvent(frame, (e, d) => void emitted.push([e, d])))
  t.equal(emitted.length, 1, 'one error, then nothing more')
  t.equal(emitted[0]![0], 'error')
  t.match(JSON.parse(emitted[0]![1]), { type: 'error', error: { type: 'api_error', message: /event stream instead of a count/ }, request_id: 'req_x' })
})

t.test("CountTokens errors map like Bedrock's other errors (AWS-CT error list)", async (t) => {
  const aws = (type: string) => ({ 'x-amzn-errortype': `${type}:http://internal.amazon.com/coral/com.amazon.bedrock/` })
  const cases: [status: number, type: string, message: string, wantStatus: number, wantType: string][] = [
    [400, 'ValidationException', "The provided model doesn't support counting tokens.", 400, 'invalid_request_error'],
    [403, 'AccessDeniedException', 'User is not authorized to perform: bedrock:CountTokens', 403, 'permission_error'],
    [404, 'ResourceNotFoundException', 'Could not resolve the foundation model from the provided model identifier.', 404, 'not_found_error'],
    [429, 'ThrottlingException', 'Too many requests, please wait before trying again.', 429, 'rate_limit_error'],
    [503, 'ServiceUnavailableException', 'Bedrock is unable to process your request.', 529, 'overloaded_error'],
  ]
  for (const [status, type, message, wantStatus, wantType] of cases) {
    // A throttle is the account's quota, shared by every key slot: declared provider-wide (CONTRACT §6).
    const scope = type === 'ThrottlingException' ? { scope: 'provider' } : {}
    t.same(bedrock.mapError!(status, aws(type), JSON.stringify({ message })), { status: wantStatus, type: wantType, message, ...scope }, type)
  }
})

// ---- The Bedrock double's CountTokens ----

interface Sent {
  readonly status: number
  readonly headers: Record<string, string | string[] | undefined>
  readonly json: Record<string, unknown>
}

/** POSTs `body` to the mock at `path`, SigV4-signed for `creds` (or with a bearer token) as the relay signs. */
async function send(path: string, body: string, auth: { creds: AwsCredentials } | { bearer: string }): Promise<Sent> {
  const url = new URL(mock.url)
  let headers: Record<string, string> = { host: url.host, 'content-type': 'application/json', accept: 'application/json' }
  if ('bearer' in auth) headers.authorization = `Bearer ${auth.bearer}`
  else {
    const signer = new SignatureV4({ service: 'bedrock', region: REGION, credentials: auth.creds, sha256: Sha256 })
    const signed = await signer.sign(new HttpRequest({ method: 'POST', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path, headers, body }))
    headers = signed.headers
  }
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method: 'POST', path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, json: JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown> }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

const envelope = (invokeBody: string): string => JSON.stringify({ input: { invokeModel: { body: Buffer.from(invokeBody).toString('base64') } } })
const GOOD = '{"anthropic_version":"bedrock-2023-05-31","max_tokens":1,"messages":[{"role":"user","content":"hi"}]}'

t.test('the double: a signed CountTokens request is counted from the InvokeModel body it carries', async (t) => {
  const path = `/model/${BASE_ID}/count-tokens`
  const ok = await send(path, envelope(GOOD), { creds: CREDS })
  t.equal(ok.status, 200)
  t.same(ok.json, { inputTokens: mockTokenCount(Buffer.from(GOOD)) })
  t.equal(mock.last.action, 'count-tokens')
  t.equal(mock.last.model, BASE_ID)
  t.equal(mock.last.auth?.kind, 'sigv4', 'the signature verified')
  t.equal(mock.last.invokeBody?.toString(), GOOD, 'the decoded InvokeModel body is recorded')

  const arnPath = `/model/${encodeURIComponent(ARN).replace(/%3A/g, ':')}/count-tokens`
  t.equal((await send(arnPath, envelope(GOOD), { creds: CREDS })).status, 200, 'an ARN path (encoded once more by the signer) verifies')
  t.equal(mock.last.model, ARN)

  t.equal((await send(path, envelope(GOOD), { bearer: API_KEY })).status, 200, 'a Bedrock API key works too')
})

t.test('the double: CountTokens refuses what Bedrock refuses', async (t) => {
  const path = `/model/${BASE_ID}/count-tokens`
  const refused = async (body: string, creds: AwsCredentials, status: number, type: string, message: RegExp, what: string) => {
    const answer = await send(path, body, { creds })
    t.equal(answer.status, status, what)
    t.match(answer.headers['x-amzn-errortype'], new RegExp(`^${type}:`), `${what}: ${type}`)
    t.match(answer.json.message, message, what)
  }
  await refused(envelope(GOOD), { ...CREDS, secretAccessKey: 'not-the-secret' }, 403, 'InvalidSignatureException', /signature we calculated does not match/, 'a wrong secret')
  await refused(envelope(GOOD.replace('"max_tokens":1,', '')), CREDS, 400, 'ValidationException', /required key \[max_tokens\]/, 'no max_tokens')
  await refused(envelope(GOOD.replace('{', '{"model":"x",')), CREDS, 400, 'ValidationException', /extraneous key \[model\]/, 'a model in the body')
  await refused(envelope(GOOD.replace('"anthropic_version":"bedrock-2023-05-31",', '')), CREDS, 400, 'ValidationException', /required key \[anthropic_version\]/, 'no anthropic_version')
  await refused(GOOD, CREDS, 400, 'ValidationException', /input\.invokeModel\.body/, 'an InvokeModel body without the envelope')
  await refused('{"input":{"invokeModel":{"body":"e30"}}}', CREDS, 400, 'ValidationException', /Invalid base64/, 'unpadded base64')
})

// ---- Through the running relay ----

const CLIENT_HEADERS = {
  'content-type': 'application/json',
  'anthropic-version': '2023-06-01',
  'anthropic-beta': 'claude-code-20250219,interleaved-thinking-2025-05-14,token-counting-2024-11-01',
  'x-app': 'cli',
}
const countTokens = (body: string): Promise<Response> =>
  fetch(`${relay.url}/v1/messages/count_tokens?beta=true`, { method: 'POST', headers: CLIENT_HEADERS, body })

/** The requests the mock received while `fn` ran. */
async function captured(fn: () => Promise<unknown>): Promise<BedrockRequest[]> {
  const before = mock.requests.length
  await fn()
  return mock.requests.slice(before)
}

t.test('count_tokens through the relay: counted by Bedrock CountTokens, answered in Anthropic’s shape', async (t) => {
  const body = countBody('claude-sonnet-4-5')
  let answer: Answer | undefined
  const [upstream] = await captured(async () => (answer = await readAnswer(await countTokens(body))))
  t.ok(upstream, 'the request reached Bedrock')
  t.equal(upstream!.url, `/model/${US_PROFILE.replace(/^us\./, '')}/count-tokens`, "CountTokens for the mapped model's base model, no ?beta=true")
  t.equal(upstream!.auth?.kind, 'sigv4', "the relay's signature verified")
  t.equal(upstream!.headers['accept'], 'application/json')
  t.equal(upstream!.headers['anthropic-beta'], undefined)
  t.equal(upstream!.headers['anthropic-version'], undefined)

  // The InvokeModel body inside the envelope, checked against the client's body independently of the plugin.
  const sent = JSON.parse(body) as Record<string, unknown>
  delete sent.model
  ;(sent.system as { cache_control: Record<string, unknown> }[])[0]!.cache_control = { type: 'ephemeral' }
  t.same(JSON.parse(upstream!.invokeBody!.toString()), {
    ...sent,
    anthropic_version: 'bedrock-2023-05-31',
    anthropic_beta: ['interleaved-thinking-2025-05-14'],
    max_tokens: 1,
  }, 'the Anthropic body with anthropic_version and max_tokens, without model, betas filtered, scope removed')

  const expected = mockTokenCount(upstream!.invokeBody!)
  t.equal(answer!.status, 200)
  t.equal(answer!.text, `{"input_tokens":${expected}}`, "exactly Anthropic's answer, with Bedrock's count")
  t.match(answer!.headers['content-type'], /^application\/json/)
  t.equal(answer!.headers['x-cc-relay-estimate'], undefined, 'not the local estimate')
  t.not(expected, Math.ceil(Buffer.byteLength(body) / 4), "Bedrock's count is not what the estimate would say")
})

t.test('count_tokens through the relay with @anthropic-ai/sdk: base ids, profiles and ARNs', async (t) => {
  const client = new Anthropic({ baseURL: relay.url, apiKey: 'sk-ant-api03-client-own', maxRetries: 0 })
  const cases: [model: string, path: string][] = [
    [BASE_ID, `/model/${BASE_ID}/count-tokens`],
    [US_PROFILE, `/model/${US_PROFILE.replace(/^us\./, '')}/count-tokens`],
    [ARN, '/model/arn:aws:bedrock:us-east-1:123456789012:application-inference-profile%2Fa1b2c3d4e5f6/count-tokens'],
  ]
  for (const [model, path] of cases) {
    const params = { model, system: 'You are Claude Code.', messages: [{ role: 'user' as const, content: 'How many tokens is this?' }] }
    let count: { input_tokens: number } | undefined
    const [upstream] = await captured(async () => (count = await client.messages.countTokens(params)))
    t.equal(upstream!.url, path, `${model}: the path`)
    t.same(count, { input_tokens: mockTokenCount(upstream!.invokeBody!) }, `${model}: the SDK reads Bedrock's count`)
    t.equal(upstream!.headers['x-api-key'], undefined, "the client's Anthropic key never reaches Bedrock")
  }
})

t.test('count_tokens errors from Bedrock reach the client Anthropic-shaped, wording kept', async (t) => {
  const cases: [status: number, exception: string, message: string, wantStatus: number, wantType: string][] = [
    [400, 'ValidationException', "The provided model doesn't support counting tokens.", 400, 'invalid_request_error'],
    [403, 'AccessDeniedException', 'User: arn:aws:iam::123456789012:user/relay is not authorized to perform: bedrock:CountTokens', 403, 'permission_error'],
    [404, 'ResourceNotFoundException', 'Could not resolve the foundation model from the provided model identifier.', 404, 'not_found_error'],
  ]
  try {
    for (const [status, exception, message, wantStatus, wantType] of cases) {
      mock.override = (req) =>
        req.action === 'count-tokens'
          ? { status, headers: { 'x-amzn-ErrorType': `${exception}:http://internal.amazon.com/coral/com.amazon.bedrock/` }, body: JSON.stringify({ message }) }
          : undefined
      const answer = await readAnswer(await countTokens(countBody(BASE_ID)))
      const envelope = assertEnvelope(t, answer, wantStatus, wantType)
      t.equal(envelope.error.message, message, `${exception}: wording verbatim`)
      t.equal(answer.headers['x-cc-relay-estimate'], undefined, `${exception}: no estimate in its place`)
    }

    // A 200 that is not a count is Bedrock's fault: an api_error, never a made-up number.
    mock.override = (req) => (req.action === 'count-tokens' ? { status: 200, body: '{"tokens":12}' } : undefined)
    const answer = await readAnswer(await countTokens(countBody(BASE_ID)))
    const envelope = assertEnvelope(t, answer, 500, 'api_error')
    t.match(envelope.error.message, /without an inputTokens count/)
  } finally {
    mock.override = undefined
  }

  // The relay's own signature refused (a mock that does not know the key): the operator's problem.
  const stranger = await new BedrockMock({ region: REGION, credentials: [] }).start()
  const other = await startRelay(bedrockConfig(stranger.url, explicitKeys()))
  try {
    const refused = await readAnswer(await fetch(`${other.url}/v1/messages/count_tokens`, { method: 'POST', headers: CLIENT_HEADERS, body: countBody(BASE_ID) }))
    const envelope = assertEnvelope(t, refused, 403, 'permission_error')
    t.equal(envelope.error.message, 'The security token included in the request is invalid.')
    t.equal(stranger.last.action, 'count-tokens')
  } finally {
    await other.stop()
    await stranger.close()
  }
})

t.test('/v1/messages still goes to InvokeModel, unchanged by count_tokens', async (t) => {
  const client = new Anthropic({ baseURL: relay.url, apiKey: 'sk-ant-api03-client-own', maxRetries: 0 })
  const params = { model: 'claude-sonnet-4-5', max_tokens: 1024, messages: [{ role: 'user' as const, content: 'What is the weather?' }] }
  const [invoked] = await captured(async () => t.same(await client.messages.create(params), MESSAGE, 'non-streaming: the message JSON unchanged'))
  t.equal(invoked!.url, `/model/${US_PROFILE}/invoke`)
  t.equal(invoked!.invokeBody, undefined, 'no CountTokens envelope')
  t.same(JSON.parse(invoked!.body.toString()), { max_tokens: 1024, messages: params.messages, anthropic_version: 'bedrock-2023-05-31' })
  const [streamed] = await captured(async () => {
    const message = await client.messages.stream(params).finalMessage()
    t.same(message.content.map((b) => b.type), ['thinking', 'text', 'tool_use'], 'streaming: translated from the event stream')
    t.equal(message.usage.output_tokens, 89)
  })
  t.equal(streamed!.url, `/model/${US_PROFILE}/invoke-with-response-stream`)
})
