/**
 * What the relay answers to requests it must refuse itself (CONTRACT §3, §4, §6): each gets the right
 * status and an Anthropic error envelope carrying the relay's request id, nothing reaches the upstream,
 * and the relay goes on serving good requests afterwards.
 */
import t from 'tap'
import { MockUpstream } from '../helpers/mock-upstream.js'
import { oneProvider, startRelay } from '../helpers/relay.js'
import { assertEnvelope, rawRequest, readAnswer } from '../helpers/answers.js'
import type { Answer, Asserts } from '../helpers/answers.js'
import { MESSAGE } from '../fixtures/anthropic.js'

const SECRET = 'relay-secret'
const POOLED = 'sk-ant-pooled-key'
const LIMIT = 2048

const upstream = await new MockUpstream().start()
upstream.handler = (_req, res) =>
  res.writeHead(200, { 'content-type': 'application/json', 'request-id': 'req_upstream_ok' }).end(JSON.stringify(MESSAGE))
const relay = await startRelay(
  oneProvider(
    upstream.url,
    `    keys: [{ key: "${POOLED}" }]
    models: ["claude-opus-4-8"]`,
    `server:
  max_body_bytes: ${LIMIT}
  auth:
    api_key: "${SECRET}"`,
  ),
)
t.teardown(async () => {
  await relay.stop()
  await upstream.close()
})

const GOOD_BODY = JSON.stringify({ model: 'claude-opus-4-8', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] })
const JSON_HEADERS = { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }
const AUTHED = { ...JSON_HEADERS, 'x-api-key': SECRET }

/** A hang is a failure with a message, not a stuck file; this is never what a test asserts on. */
const guard = () => AbortSignal.timeout(20_000)

async function send(method: string, path: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  return readAnswer(await fetch(`${relay.url}${path}`, { method, headers, body, signal: guard() }))
}

/** Upstream requests the relay should have made so far (only accepted requests count). */
let accepted = 0

/** Runs `go`, which must be refused by the relay itself: the upstream sees nothing new. */
async function refused(t: Asserts, go: () => Promise<Answer>): Promise<Answer> {
  const before = upstream.requests.length
  const answer = await go()
  t.equal(upstream.requests.length, before, 'nothing reached the upstream')
  return answer
}

t.test('malformed JSON → 400 invalid_request_error', async (t) => {
  const cases: [string, string][] = [
    ['truncated', '{"model":"claude-opus-4-8","max_tokens":64,"messages":[{"role":"user","content":"hi"'],
    ['trailing comma', '{"model":"claude-opus-4-8","max_tokens":64,}'],
    ['not an object: array', '[{"model":"claude-opus-4-8"}]'],
    ['not an object: string', '"claude-opus-4-8"'],
    ['not an object: null', 'null'],
    ['empty body', ''],
  ]
  for (const [name, body] of cases) {
    t.test(name, async (t) => {
      const answer = await refused(t, () => send('POST', '/v1/messages', AUTHED, body))
      assertEnvelope(t, answer, 400, 'invalid_request_error')
    })
  }
})

t.test('bad fields → 400 invalid_request_error', async (t) => {
  const cases: [string, unknown][] = [
    ['missing model', { max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] }],
    ['model not a string', { model: 42, max_tokens: 64, messages: [] }],
    ['stream: "yes"', { model: 'claude-opus-4-8', max_tokens: 64, stream: 'yes', messages: [] }],
  ]
  for (const [name, body] of cases) {
    t.test(name, async (t) => {
      const answer = await refused(t, () => send('POST', '/v1/messages', AUTHED, JSON.stringify(body)))
      assertEnvelope(t, answer, 400, 'invalid_request_error')
    })
  }
})

t.test('bodies that are not valid UTF-8 JSON are refused, never forwarded, and name the byte (CONTRACT §6)', async (t) => {
  const prefix = '{"model":"claude-opus-4-8","max_tokens":64,"messages":[{"role":"user","content":"'
  const at = Buffer.byteLength(prefix)
  const cases: [string, Buffer, string][] = [
    // Issue 11 reproduction: one stray backslash in metadata.user_id used to end the process.
    ['a bad escape in metadata.user_id', Buffer.from('{"model":"claude-opus-4-8","max_tokens":64,"metadata":{"user_id":"{\\"device_id\\":\\"d\\",\\"session\\x69d\\":\\"s\\"}"},"messages":[]}'), 'invalid escape in a string at byte 96'],
    ['a bad escape in a message', Buffer.from(`${prefix}C:\\temp\\q"}]}`), `invalid escape in a string at byte ${at + 7}`],
    ['a \\u escape with too few hex digits', Buffer.from(`${prefix}\\u12"}]}`), `invalid escape in a string at byte ${at}`],
    ['a raw newline inside a string', Buffer.from(`${prefix}line one\nline two"}]}`), `control character in a string at byte ${at + 8}`],
    ['invalid UTF-8 (a lone 0xff)', Buffer.concat([Buffer.from(prefix), Buffer.from([0x68, 0xff, 0x69]), Buffer.from('"}]}')]), `invalid UTF-8 at byte ${at + 1}`],
    ['a lone surrogate in raw bytes', Buffer.concat([Buffer.from(prefix), Buffer.from([0xed, 0xa0, 0xbd]), Buffer.from('"}]}')]), `invalid UTF-8 at byte ${at}`],
    ['a repeated model', Buffer.from('{"model":"claude-opus-4-8","max_tokens":64,"model":"claude-opus-4-8-other","messages":[]}'), 'model: appears 2 times'],
  ]
  for (const [name, body, message] of cases) {
    t.test(name, async (t) => {
      const answer = await refused(t, async () => readAnswer(await fetch(`${relay.url}/v1/messages`, { method: 'POST', headers: AUTHED, body, signal: guard() })))
      const envelope = assertEnvelope(t, answer, 400, 'invalid_request_error')
      t.match(envelope.error.message, message)
    })
  }
})

t.test('content-type text/plain → 400 invalid_request_error', async (t) => {
  const answer = await refused(t, () => send('POST', '/v1/messages', { ...AUTHED, 'content-type': 'text/plain' }, GOOD_BODY))
  assertEnvelope(t, answer, 400, 'invalid_request_error')
})

t.test('oversized body → 413 request_too_large', async (t) => {
  t.test('declared content-length over the limit (no body sent)', async (t) => {
    const answer = await refused(t, () =>
      rawRequest(relay.url, {
        method: 'POST',
        path: '/v1/messages',
        headers: { ...AUTHED, 'content-length': String(LIMIT * 50) },
        end: false,
      }),
    )
    assertEnvelope(t, answer, 413, 'request_too_large')
  })

  t.test('chunked upload without content-length that exceeds the limit', async (t) => {
    // 4 chunks of 600 bytes: the limit is crossed by the last one.
    const chunks = [`{"model":"claude-opus-4-8","pad":"${'x'.repeat(600 - 34)}`, 'y'.repeat(600), 'z'.repeat(600), 'w'.repeat(600)]
    const answer = await refused(t, () =>
      rawRequest(relay.url, {
        method: 'POST',
        path: '/v1/messages',
        headers: { ...AUTHED, 'transfer-encoding': 'chunked' },
        chunks,
        end: false,
      }),
    )
    assertEnvelope(t, answer, 413, 'request_too_large')
  })
})

t.test('unknown path → 404 not_found_error', async (t) => {
  t.test('GET /v1/nope', async (t) => {
    assertEnvelope(t, await refused(t, () => send('GET', '/v1/nope', AUTHED)), 404, 'not_found_error')
  })
  t.test('POST /v2/messages', async (t) => {
    assertEnvelope(t, await refused(t, () => send('POST', '/v2/messages', AUTHED, GOOD_BODY)), 404, 'not_found_error')
  })
})

t.test('wrong method on a known path → 405 invalid_request_error', async (t) => {
  t.test('GET /v1/messages', async (t) => {
    assertEnvelope(t, await refused(t, () => send('GET', '/v1/messages', AUTHED)), 405, 'invalid_request_error')
  })
  t.test('POST /health', async (t) => {
    assertEnvelope(t, await refused(t, () => send('POST', '/health', AUTHED, GOOD_BODY)), 405, 'invalid_request_error')
  })
})

t.test('relay key missing or wrong → 401 authentication_error', async (t) => {
  const cases: [string, Record<string, string>][] = [
    ['missing', {}],
    ['wrong in x-api-key', { 'x-api-key': 'relay-wrong' }],
    ['wrong in Authorization: Bearer', { authorization: 'Bearer relay-wrong' }],
    ['wrong in x-cc-relay-key', { 'x-cc-relay-key': 'relay-wrong' }],
    ['right key as a non-Bearer Authorization', { authorization: `Basic ${SECRET}` }],
  ]
  for (const [name, headers] of cases) {
    t.test(name, async (t) => {
      const answer = await refused(t, () => send('POST', '/v1/messages', { ...JSON_HEADERS, ...headers }, GOOD_BODY))
      assertEnvelope(t, answer, 401, 'authentication_error')
    })
  }
})

t.test('the right relay key in any of the three places is accepted and never reaches the upstream', async (t) => {
  const cases: [string, Record<string, string>][] = [
    ['x-api-key', { 'x-api-key': SECRET }],
    ['Authorization: Bearer', { authorization: `Bearer ${SECRET}` }],
    ['x-cc-relay-key', { 'x-cc-relay-key': SECRET }],
    // Beside the client's own Anthropic key: allow_subscription is off, so that key is stripped too (§3).
    ['x-cc-relay-key beside a client x-api-key', { 'x-cc-relay-key': SECRET, 'x-api-key': 'sk-ant-api03-client-own' }],
  ]
  for (const [name, headers] of cases) {
    t.test(name, async (t) => {
      const before = upstream.requests.length
      const answer = await send('POST', '/v1/messages', { ...JSON_HEADERS, ...headers }, GOOD_BODY)
      t.equal(answer.status, 200)
      t.same(JSON.parse(answer.text), MESSAGE)
      accepted++
      t.equal(upstream.requests.length, before + 1, 'one upstream request')
      const sent = upstream.last.headers
      t.equal(sent['x-cc-relay-key'], undefined, 'no x-cc-relay-key upstream')
      t.equal(sent['x-api-key'], POOLED, 'the upstream gets the pooled key')
      t.equal(sent.authorization, undefined, 'no Authorization upstream')
      const leaked = Object.entries(sent).filter(([, v]) => [v ?? ''].flat().some((s) => s.includes(SECRET)))
      t.same(leaked, [], 'the relay key is in no upstream header')
      t.notMatch(JSON.stringify(sent), /client-own/, "the client's own key is not forwarded")
    })
  }
})

t.test('a model no provider serves → 404 not_found_error naming what is served', async (t) => {
  const body = JSON.stringify({ model: 'gpt-4', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] })
  const answer = await refused(t, () => send('POST', '/v1/messages', AUTHED, body))
  const envelope = assertEnvelope(t, answer, 404, 'not_found_error')
  t.match(envelope.error.message, 'claude-opus-4-8', 'the message names the served model')
})

t.test('GET /health without a key → 200 {"status":"ok"}', async (t) => {
  const answer = await refused(t, () => send('GET', '/health', {}))
  t.equal(answer.status, 200)
  t.same(JSON.parse(answer.text), { status: 'ok' })
  t.match(answer.headers['x-cc-relay-request-id'], /^req_ccr_/, 'every answer carries the relay id')
})

t.test('after all of that the relay still serves a good request, and only accepted requests went upstream', async (t) => {
  const answer = await send('POST', '/v1/messages', AUTHED, GOOD_BODY)
  t.equal(answer.status, 200)
  t.same(JSON.parse(answer.text), MESSAGE)
  t.equal(answer.headers['request-id'], 'req_upstream_ok')
  accepted++
  t.equal(upstream.requests.length, accepted, 'the upstream saw exactly the accepted requests')
})
