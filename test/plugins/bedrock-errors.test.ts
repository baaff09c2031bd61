/**
 * Bedrock's errors through the running relay (wire-protocols §3.6): restJson1 answers mapped to
 * Anthropic's errors with the wording kept, stream exceptions mid-stream as `event: error` after the
 * events that came before, and broken event streams as a clean `event: error`.
 */
import t from 'tap'
import { BedrockMock, chunkFrame, corruptCrc, exceptionFrame, rawChunkFrame, streamFrames } from '../helpers/bedrock-mock.js'
import { bedrockConfig, CREDS, explicitKeys, REGION } from '../helpers/bedrock-setup.js'
import { assertEnvelope, assertEnvelopeBody, readAnswer } from '../helpers/answers.js'
import type { Envelope } from '../helpers/answers.js'
import { sse } from '../helpers/mock-upstream.js'
import { startRelay } from '../helpers/relay.js'
import { STREAM_EVENTS } from '../fixtures/anthropic.js'

const mock = await new BedrockMock({ region: REGION, credentials: [CREDS] }).start()
// No key slots: a 403 or 429 here must not change the next test's conditions.
const relay = await startRelay(bedrockConfig(mock.url, explicitKeys()))
t.teardown(async () => {
  await relay.stop()
  await mock.close()
})

const post = (stream: boolean) =>
  fetch(`${relay.url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'us.anthropic.claude-sonnet-4-5-20250929-v1:0', max_tokens: 64, stream, messages: [{ role: 'user', content: 'hi' }] }),
  })

const awsError = (status: number, type: string, message: string, headers: Record<string, string> = {}) => ({
  status,
  headers: { 'x-amzn-ErrorType': `${type}:http://internal.amazon.com/coral/com.amazon.bedrock/`, ...headers },
  body: JSON.stringify({ message }),
})

t.test('HTTP errors: each Bedrock exception → its Anthropic status and type, wording kept', async (t) => {
  const cases: [status: number, exception: string, message: string, wantStatus: number, wantType: string][] = [
    [400, 'ValidationException', 'Input is too long for requested model.', 400, 'invalid_request_error'],
    [400, 'ValidationException', 'The model returned the following errors: invalid beta flag', 400, 'invalid_request_error'],
    [403, 'AccessDeniedException', "You don't have access to the model with the specified model ID.", 403, 'permission_error'],
    [404, 'ResourceNotFoundException', 'Could not resolve the foundation model from the provided model identifier.', 404, 'not_found_error'],
    [429, 'ThrottlingException', 'Too many requests, please wait before trying again.', 429, 'rate_limit_error'],
    [400, 'ServiceQuotaExceededException', 'Your request exceeds the service quota for your account.', 429, 'rate_limit_error'],
    [429, 'ModelNotReadyException', 'The model is not ready to serve inference requests.', 529, 'overloaded_error'],
    [503, 'ServiceUnavailableException', 'Bedrock is unable to process your request.', 529, 'overloaded_error'],
    [500, 'InternalServerException', 'The server encountered an error processing your request.', 500, 'api_error'],
    [408, 'ModelTimeoutException', 'Model has timed out in processing the request.', 504, 'timeout_error'],
    [424, 'ModelErrorException', 'The model returned an error.', 500, 'api_error'],
  ]
  for (const [status, exception, message, wantStatus, wantType] of cases) {
    mock.override = awsError(status, exception, message)
    for (const stream of [false, true]) {
      const answer = await readAnswer(await post(stream))
      const envelope = assertEnvelope(t, answer, wantStatus, wantType)
      t.equal(envelope.error.message, message, `${exception} (${stream ? 'streaming' : 'non-streaming'}): wording verbatim`)
    }
  }
  mock.override = undefined
})

t.test('HTTP errors: retry-after passes along; other shapes of error bodies', async (t) => {
  mock.override = awsError(429, 'ThrottlingException', 'Too many tokens, please wait before trying again.', { 'retry-after': '7' })
  const throttled = await readAnswer(await post(false))
  assertEnvelope(t, throttled, 429, 'rate_limit_error')
  t.equal(throttled.headers['retry-after'], '7')

  // Newer Bedrock paths answer in Anthropic's own envelope (wire-protocols §3.6).
  mock.override = { status: 400, body: '{"type":"error","error":{"type":"invalid_request_error","message":"invalid beta flag"}}' }
  const env = assertEnvelope(t, await readAnswer(await post(false)), 400, 'invalid_request_error')
  t.equal(env.error.message, 'invalid beta flag')

  mock.override = { status: 503, body: '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}' }
  t.equal(assertEnvelope(t, await readAnswer(await post(true)), 529, 'overloaded_error').error.message, 'Overloaded')

  // `{"Message":…}` and no type header: by status.
  mock.override = { status: 400, body: '{"Message":"Malformed input request: #: extraneous key [foo] is not permitted"}' }
  t.equal(assertEnvelope(t, await readAnswer(await post(false)), 400, 'invalid_request_error').error.message, 'Malformed input request: #: extraneous key [foo] is not permitted')

  // The type from the body's __type when the header is missing.
  mock.override = { status: 400, body: '{"__type":"com.amazon.coral.service#ServiceQuotaExceededException","message":"quota"}' }
  assertEnvelope(t, await readAnswer(await post(false)), 429, 'rate_limit_error')

  // Not JSON at all (a proxy in front of a private endpoint).
  mock.override = { status: 502, headers: { 'content-type': 'text/html' }, body: '<html>Bad Gateway</html>' }
  t.equal(assertEnvelope(t, await readAnswer(await post(false)), 502, 'api_error').error.message, '<html>Bad Gateway</html>')
  mock.override = undefined
})

/** Reads a streamed answer; returns the raw text and the `event: error` payload, if any. */
async function streamed(): Promise<{ status: number; text: string; requestId: string | null; error: Envelope | undefined }> {
  const res = await post(true)
  const text = await res.text()
  const m = /event: error\ndata: (.*)\n\n$/.exec(text)
  return { status: res.status, text, requestId: res.headers.get('x-cc-relay-request-id'), error: m ? (JSON.parse(m[1]!) as Envelope) : undefined }
}

const before = sse(STREAM_EVENTS.slice(0, 4) as unknown as { type: string }[])
const first4 = streamFrames().slice(0, 4)

t.test('mid-stream exceptions: the events before, then event: error with the mapped type, then a clean end', async (t) => {
  const cases: [exception: string, payload: Record<string, unknown>, type: string, message: string][] = [
    ['throttlingException', { message: 'Too many requests, please wait before trying again.' }, 'rate_limit_error', 'Too many requests, please wait before trying again.'],
    ['serviceUnavailableException', { message: 'Bedrock is unable to process your request.' }, 'overloaded_error', 'Bedrock is unable to process your request.'],
    ['modelNotReadyException', { message: 'not ready' }, 'overloaded_error', 'not ready'],
    ['validationException', { message: 'Input is too long for requested model.' }, 'invalid_request_error', 'Input is too long for requested model.'],
    ['internalServerException', { message: 'internal' }, 'api_error', 'internal'],
    ['modelStreamErrorException', { message: 'The model stream failed.', originalStatusCode: 500 }, 'api_error', 'The model stream failed.'],
    ['modelTimeoutException', { message: 'Model has timed out in processing the request.' }, 'timeout_error', 'Model has timed out in processing the request.'],
    // The model's own Anthropic error carried inside the exception.
    [
      'modelStreamErrorException',
      { message: 'Model stream error', originalStatusCode: 529, originalMessage: '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}' },
      'overloaded_error',
      'Overloaded',
    ],
  ]
  for (const [exception, payload, type, message] of cases) {
    // Frames after an exception are never shown to the client.
    mock.override = { frames: [...first4, exceptionFrame(exception, payload), ...streamFrames().slice(4)] }
    const got = await streamed()
    t.equal(got.status, 200, `${exception}: the stream had started`)
    t.ok(got.text.startsWith(before), `${exception}: the events before the exception, byte for byte`)
    t.equal(got.text.slice(before.length).split('event: ').length, 2, `${exception}: exactly one more event`)
    assertEnvelopeBody(t, got.error!, type, got.requestId ?? undefined)
    t.equal(got.error?.error.message, message, `${exception}: wording kept`)
  }
  mock.override = undefined
})

t.test('an exception as the first frame; an Anthropic error inside a chunk; keep-alive chunks', async (t) => {
  mock.override = { frames: [exceptionFrame('throttlingException', { message: 'slow down' })] }
  const first = await streamed()
  t.equal(first.status, 200)
  t.equal(first.text, `event: error\ndata: ${JSON.stringify({ type: 'error', error: { type: 'rate_limit_error', message: 'slow down' }, request_id: first.requestId })}\n\n`)

  const inner = { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }
  mock.override = { frames: [...first4, chunkFrame(inner)] }
  const chunked = await streamed()
  t.equal(chunked.text, before + sse([inner]), "Anthropic's error event inside a chunk goes out as event: error, unchanged")

  mock.override = { frames: [...first4, chunkFrame({}), chunkFrame({ keepalive: true }), ...streamFrames().slice(4)] }
  const kept = await streamed()
  t.equal(kept.text, sse(STREAM_EVENTS as unknown as { type: string }[]), 'chunks without a type are dropped, as the official SDK does')
  mock.override = undefined
})

t.test('a broken event stream ends with event: error api_error (malformed stream)', async (t) => {
  const frames = streamFrames()
  const cases: [string, Buffer[], RegExp][] = [
    ['a bad CRC', [...first4, corruptCrc(frames[4]!), ...frames.slice(5)], /provider bedrock sent a malformed stream/],
    ['a stream cut inside a frame', [...first4, frames[4]!.subarray(0, 20)], /provider bedrock sent a malformed stream/],
    ['a chunk whose bytes are not JSON', [...first4, rawChunkFrame('{"bytes":"bm90IGpzb24="}'), ...frames.slice(4)], /Bedrock sent a malformed stream chunk: its bytes are not JSON: not json/],
    ['a chunk payload that is not JSON', [...first4, rawChunkFrame('garbage'), ...frames.slice(4)], /Bedrock sent a malformed stream chunk: the payload is not JSON/],
  ]
  for (const [name, bad, wording] of cases) {
    mock.override = { frames: bad }
    const got = await streamed()
    t.equal(got.status, 200, name)
    t.ok(got.text.startsWith(before), `${name}: the good events first`)
    t.equal(got.text.slice(before.length).split('event: ').length, 2, `${name}: then exactly one event`)
    assertEnvelopeBody(t, got.error!, 'api_error', got.requestId ?? undefined)
    t.match(got.error?.error.message, wording, name)
  }
  mock.override = undefined
  const after = await streamed()
  t.equal(after.text, sse(STREAM_EVENTS as unknown as { type: string }[]), 'the next request is served normally')
})
