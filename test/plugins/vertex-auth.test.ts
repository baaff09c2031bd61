/**
 * Google credentials through the running relay, against a local token endpoint that checks the
 * service-account JWT grant (signature included): a key file from `gcp_credentials_file`, Application
 * Default Credentials from `GOOGLE_APPLICATION_CREDENTIALS`, a refresh that fails no request, and a key
 * Google refuses.
 *
 * Refresh: google-auth-library 10 refreshes a token `eagerRefreshThresholdMillis` before it expires,
 * 5 minutes by default (`build/src/auth/authclient.js` `DEFAULT_EAGER_REFRESH_THRESHOLD_MILLIS = 5 * 60 *
 * 1000`, checked in `OAuth2Client.isTokenExpiring`). So a first token issued with `expires_in: 60` is
 * already due: the next request must fetch a new one before it calls Vertex. The mock accepts `tok-1`
 * until `tok-2` is issued, then only `tok-2`: a relay that sent the stale token would fail a request.
 */
import t from 'tap'
import Anthropic from '@anthropic-ai/sdk'
import { MESSAGE } from '../fixtures/anthropic.js'
import { startRelay } from '../helpers/relay.js'
import { writeServiceAccount } from '../helpers/vertex-google.js'
import { STREAM_MESSAGE } from '../helpers/vertex-mock.js'
import { vertexConfig, vertexWorld } from '../helpers/vertex-setup.js'

const PARAMS = { model: 'claude-opus-4-6', max_tokens: 4096, messages: [{ role: 'user' as const, content: 'hi' }] }

function wire(message: object): unknown {
  const copy = JSON.parse(JSON.stringify(message)) as Record<string, unknown>
  delete copy.parsed_output
  return copy
}

t.test('a token due for refresh is replaced before the request; no request fails', async (t) => {
  const world = await vertexWorld()
  t.teardown(() => world.close())
  world.google.plan = [
    { access_token: 'tok-1', expires_in: 60 },
    { access_token: 'tok-2', expires_in: 3600 },
  ]
  // Google has rotated: once tok-2 exists, tok-1 is refused.
  world.google.onIssue = (token) => {
    world.mock.tokens.clear()
    world.mock.tokens.add(token)
  }
  const relay = await startRelay(vertexConfig({ baseUrl: world.mock.url, keyFile: world.account.keyFile }), { env: world.google.env() })
  t.teardown(() => relay.stop())
  const client = new Anthropic({ baseURL: relay.url, apiKey: 'sk-ant-api03-client', maxRetries: 0 })

  t.strictSame(wire(await client.messages.stream(PARAMS).finalMessage()), STREAM_MESSAGE, 'first request (tok-1)')
  t.strictSame(wire(await client.messages.create(PARAMS)), MESSAGE, 'second request (tok-2)')
  t.same(world.google.issued, ['tok-1', 'tok-2'], 'the token endpoint was called twice')
  t.same(world.mock.authorizations, ['Bearer tok-1', 'Bearer tok-2'], 'each request carried a token Vertex accepted; none was retried')

  t.strictSame(wire(await client.messages.create(PARAMS)), MESSAGE, 'third request')
  t.same(world.google.issued, ['tok-1', 'tok-2'], 'a fresh token is cached: no third grant')
  t.equal(world.mock.authorizations[2], 'Bearer tok-2')

  const grant = world.google.grants[0]!
  t.equal(grant.valid, true, 'the JWT grant verified with the service account public key')
  t.same(grant.header, { alg: 'RS256' })
  t.has(grant.claims, { iss: world.account.clientEmail, aud: 'https://oauth2.googleapis.com/token', scope: 'https://www.googleapis.com/auth/cloud-platform' })
  t.same(world.google.unexpected, [])
})

t.test("Application Default Credentials: GOOGLE_APPLICATION_CREDENTIALS, the seed's example shape", async (t) => {
  const world = await vertexWorld()
  t.teardown(() => world.close())
  // No gcp_credentials_file; `vertex-internal` is a pool slot, not a credential.
  const relay = await startRelay(vertexConfig({ baseUrl: world.mock.url, region: 'global', extra: '    keys: [{ key: "vertex-internal" }]' }), {
    env: { ...world.google.env(), GOOGLE_APPLICATION_CREDENTIALS: world.account.keyFile },
  })
  t.teardown(() => relay.stop())
  const client = new Anthropic({ baseURL: relay.url, apiKey: 'sk-ant-api03-client', maxRetries: 0 })
  t.strictSame(wire(await client.messages.create(PARAMS)), MESSAGE)
  t.same(world.google.issued, ['tok-1'])
  t.equal(world.google.grants[0]?.claims?.iss, world.account.clientEmail, 'the grant was signed by the ADC key')
  t.same(world.mock.authorizations, ['Bearer tok-1'])
  t.equal(world.mock.last.recorded.url, '/v1/projects/relay-test-project/locations/global/publishers/anthropic/models/claude-opus-4-6:rawPredict')
  t.notMatch(JSON.stringify(world.mock.last.recorded.headers), /vertex-internal/, 'the slot label is never sent')
})

t.test('a key Google refuses fails the request with an Anthropic error; Vertex is never called', async (t) => {
  const world = await vertexWorld()
  t.teardown(() => world.close())
  const stranger = writeServiceAccount() // its key does not match the public key the token endpoint knows
  const relay = await startRelay(vertexConfig({ baseUrl: world.mock.url, keyFile: stranger.keyFile }), { env: world.google.env() })
  t.teardown(() => relay.stop())
  const res = await fetch(`${relay.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(PARAMS) })
  t.ok(res.status >= 400, `an error status (${res.status})`)
  const body = (await res.json()) as { type: string; error: { type: string; message: string }; request_id: string }
  t.equal(body.type, 'error')
  t.match(body.error.message, /provider vertex/)
  t.match(body.error.message, /invalid_grant/, "Google's reason is named")
  t.notMatch(body.error.message, /PRIVATE KEY/, 'no key material in the message')
  t.equal(body.request_id, res.headers.get('x-cc-relay-request-id'))
  t.equal(world.google.grants[0]?.valid, false)
  t.equal(world.google.grants[0]?.why, 'Invalid JWT Signature.')
  t.equal(world.mock.requests.length, 0)
})
