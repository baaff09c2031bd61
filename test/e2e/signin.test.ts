/**
 * Sign-in with the gateway protocol (CONTRACT §12) through the running relay, every endpoint as Claude
 * Code and a browser call it: discovery, the device flow, the IdP round trip, tokens and refresh,
 * bearer use on /v1/messages (the upstream sees the pooled key, never the relay's token), revocation
 * (RFC 7009 and `cc-relay users revoke`), deprovisioning in the IdP, group mapping, managed settings,
 * the usage view and the telemetry sink. The attacks are in signin-attacks.test.ts.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { jwtVerify } from 'jose'
import { checksumOf } from '../../src/signin/managed-settings.js'
import { BIN } from '../helpers/relay.js'
import { SigninClient } from '../helpers/signin-flow.js'
import { claimsOf, POOLED_KEY, SECRET, signinWorld, USERS } from '../helpers/signin-setup.js'

const world = await signinWorld({ top: 'pricing: { "claude-sonnet-4-5*": { input: 3, output: 15 } }' })
t.teardown(() => world.close())
const { idp, upstream, relay } = world
const client = new SigninClient(relay.url)
const base = relay.url

const messages = (token: string, extra: Record<string, string> = {}) =>
  client.request(`${base}/v1/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...extra },
    body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }),
  })
const bearerGet = (path: string, token: string, headers: Record<string, string> = {}) => client.request(`${base}${path}`, { headers: { authorization: `Bearer ${token}`, ...headers } })
/** `cc-relay users …` as a user runs it (asynchronously: a blocked event loop would miss the relay closing idle sockets). */
const users = (...args: string[]) =>
  new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [BIN, 'users', ...args, '--url', base], { encoding: 'utf8', env: { ...process.env, CC_RELAY_ADMIN_KEY: '' }, timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    )
  })

t.test('discovery: RFC 8414 metadata with absolute URLs on the relay', async (t) => {
  const answer = await client.request(`${base}/.well-known/oauth-authorization-server`)
  t.equal(answer.status, 200)
  t.equal(answer.headers.get('cache-control'), 'no-store')
  t.same(JSON.parse(answer.text), {
    issuer: base,
    device_authorization_endpoint: `${base}/oauth/device_authorization`,
    token_endpoint: `${base}/oauth/token`,
    revocation_endpoint: `${base}/oauth/revoke`,
    grant_types_supported: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
    response_types_supported: [],
    token_endpoint_auth_methods_supported: ['none'],
    revocation_endpoint_auth_methods_supported: ['none'],
  })
})

t.test('device authorization: a 256-bit device code, a base-20 user code, unknown parameters ignored', async (t) => {
  const answer = await client.form('/oauth/device_authorization', { surface: 'claude_code', client_id: 'whatever', future_param: 'x' })
  t.equal(answer.status, 200)
  const start = JSON.parse(answer.text) as Record<string, unknown>
  t.match(start, { verification_uri: `${base}/device`, expires_in: 600, interval: 5 })
  t.ok(Buffer.from(String(start['device_code']), 'base64url').length >= 32, 'at least 256 bits')
  t.match(String(start['user_code']), /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/)
  t.equal(start['verification_uri_complete'], `${base}/device?user_code=${start['user_code']}`)
  const twice = await client.request(`${base}/oauth/device_authorization`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'surface=a&surface=b' })
  t.equal(twice.status, 400)
  t.same(JSON.parse(twice.text).error, 'invalid_request')
})

t.test('the device page shows the code in a form and never submits it by itself', async (t) => {
  const start = await client.start()
  const page = await client.request(start.verification_uri_complete)
  t.equal(page.status, 200)
  t.match(page.headers.get('content-type'), /text\/html/)
  t.match(page.text, start.user_code)
  t.match(page.text, /<form method="post" action="\/device">/)
  t.notMatch(page.text, /<script/i, 'no script, so nothing submits the code')
  t.match(page.headers.get('content-security-policy'), new RegExp(`form-action 'self' ${idp.url}`))
  t.equal(page.headers.get('x-frame-options'), 'DENY')
  const empty = await client.request(`${base}/device`)
  t.match(empty.text, /name="user_code"/)
})

let alice: { access_token: string; refresh_token?: string }

t.test('the whole sign-in: approve in the browser, poll, a relay JWT for alice with her relay groups', async (t) => {
  idp.loginAs = USERS.alice.email
  const start = await client.start()
  t.equal((await client.poll(start.device_code)).text, '{"error":"authorization_pending"}')
  const fast = await client.poll(start.device_code)
  t.same(JSON.parse(fast.text), { error: 'slow_down' }, 'polling faster than the interval')
  const page = await client.approve(start.user_code)
  t.equal(page.status, 200)
  t.match(page.text, /signed in/i)
  t.match(page.text, USERS.alice.email)
  t.match(page.headers.get('set-cookie'), /Max-Age=0/, 'the flow cookie is cleared')
  const answer = await client.poll(start.device_code)
  t.equal(answer.status, 200)
  const tokens = JSON.parse(answer.text) as { access_token: string; refresh_token: string; token_type: string; expires_in: number; email: string }
  t.match(tokens, { token_type: 'Bearer', expires_in: 3600, email: USERS.alice.email })
  t.type(tokens.refresh_token, 'string')
  const { payload, protectedHeader } = await jwtVerify(tokens.access_token, new TextEncoder().encode(SECRET), { audience: 'cc-relay', issuer: base, algorithms: ['HS256'] })
  t.equal(protectedHeader.alg, 'HS256')
  t.match(payload, { sub: USERS.alice.sub, email: USERS.alice.email, name: USERS.alice.name, groups: ['eng', 'everyone'] })
  t.type(payload.jti, 'string')
  t.equal(payload.exp! - payload.iat!, 3600)
  t.equal((await client.poll(start.device_code)).text.includes('expired_token'), true, 'a device code works once')
  alice = tokens
})

t.test('a signed-in request: the upstream gets the pooled key and never the relay token; the ledger names the email', async (t) => {
  const answer = await messages(alice.access_token, { 'x-trace-me': 'yes' })
  t.equal(answer.status, 200, answer.text)
  const seen = upstream.last
  t.equal(seen.headers['x-api-key'], POOLED_KEY)
  t.equal(seen.headers['authorization'], undefined)
  t.notOk(JSON.stringify(seen.headers).includes(alice.access_token.slice(0, 30)), 'no header carries the token')
  t.equal(seen.headers['x-trace-me'], 'yes')
  const line = await relay.waitForLog((l) => l.msg === 'request' && l.route === 'messages' && l.client === USERS.alice.email)
  t.equal(line.status, 200)
  const usage = await client.request(`${base}/usage.json?by=client`)
  t.ok((JSON.parse(usage.text) as { client: string }[]).some((r) => r.client === USERS.alice.email), 'cc-relay usage --by client shows her')
})

t.test('GET /v1/models with the bearer; no bearer, no models', async (t) => {
  t.equal((await bearerGet('/v1/models', alice.access_token)).status, 200)
  t.equal((await client.request(`${base}/v1/models`)).status, 401)
})

t.test('managed settings: merged in group order, the protocol checksum, ETag and 304 only to a match', async (t) => {
  const answer = await bearerGet('/managed/settings', alice.access_token)
  t.equal(answer.status, 200)
  const doc = JSON.parse(answer.text) as { uuid: string; checksum: string; settings: Record<string, unknown> }
  t.same(doc.settings, { env: { TEAM: 'eng', FOO: '2', ANTHROPIC_CUSTOM_HEADERS: 'x-team-marker: eng' }, permissions: { deny: ['WebFetch'] }, model: 'sonnet' })
  t.match(doc.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  t.equal(doc.checksum, checksumOf(doc.settings))
  t.equal(doc.checksum, `sha256:${(await import('node:crypto')).createHash('sha256').update('{"env":{"ANTHROPIC_CUSTOM_HEADERS":"x-team-marker: eng","FOO":"2","TEAM":"eng"},"model":"sonnet","permissions":{"deny":["WebFetch"]}}').digest('hex')}`)
  t.equal(answer.headers.get('etag'), `"${doc.checksum}"`)
  const same = await bearerGet('/managed/settings', alice.access_token, { 'if-none-match': `"${doc.checksum}"` })
  t.equal(same.status, 304)
  t.equal(same.text, '')
  t.equal((await bearerGet('/managed/settings', alice.access_token, { 'if-none-match': '"sha256:old"' })).status, 200)
  t.equal((await bearerGet('/managed/settings', alice.access_token, { 'if-none-match': '*' })).status, 200, 'Desktop asks with *: answered as without it')
})

t.test('usage: the protocol dollar view of her spend (no caps: day, week, month in cents, null limits)', async (t) => {
  const answer = await bearerGet('/api/oauth/usage', alice.access_token)
  t.equal(answer.status, 200)
  const view = JSON.parse(answer.text) as { extra_usage: Record<string, unknown>; limits: unknown[] }
  t.same(view.limits, [])
  t.match(view.extra_usage, { is_enabled: true, monthly_limit: null, utilization: null, currency: 'USD', daily: { limit: null, utilization: null }, weekly: { limit: null } })
  t.type(view.extra_usage['used_credits'], 'number')
})

t.test('telemetry: Claude Code OTLP batches are answered 200 with the bearer, 401 without', async (t) => {
  for (const signal of ['metrics', 'logs', 'traces']) {
    const sent = await client.request(`${base}/v1/${signal}`, { method: 'POST', headers: { authorization: `Bearer ${alice.access_token}`, 'content-type': 'application/x-protobuf' }, body: 'opaque-otlp-bytes' })
    t.equal(sent.status, 200, signal)
  }
  t.equal((await client.request(`${base}/v1/metrics`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status, 401)
})

t.test('refresh asks the IdP again and rotates; a late duplicate of that refresh gets the same answer', async (t) => {
  const before = idp.refreshesOf(USERS.alice.email)
  const answer = await client.refresh(alice.refresh_token!)
  t.equal(answer.status, 200, answer.text)
  const next = JSON.parse(answer.text) as { access_token: string; refresh_token: string }
  t.equal(idp.refreshesOf(USERS.alice.email), before + 1, 'the IdP was asked')
  t.not(next.refresh_token, alice.refresh_token)
  // Claude Code refreshes twice with one token at times (seen with 2.1.332 right after login).
  const again = await client.refresh(alice.refresh_token!)
  t.equal(again.status, 200)
  t.same(JSON.parse(again.text), next, 'the same pair, without asking the IdP again')
  t.equal(idp.refreshesOf(USERS.alice.email), before + 1)
  alice = next
})

t.test('a wrong method on a sign-in path is 405, naming the allowed one', async (t) => {
  const answer = await client.request(`${base}/oauth/token`)
  t.equal(answer.status, 405)
  t.equal(answer.headers.get('allow'), 'POST')
})

t.test('groups: an intern maps to interns; a user in no mapped group and another domain are refused on the page', async (t) => {
  idp.loginAs = USERS.ivan.email
  const ivan = await client.signIn()
  t.same(claimsOf(ivan.access_token)['groups'], ['interns'])
  t.equal((await bearerGet('/managed/settings', ivan.access_token)).status, 404, 'interns have no managed settings')
  for (const user of [USERS.olga, USERS.mallory]) {
    idp.loginAs = user.email
    const start = await client.start()
    const page = await client.approve(start.user_code)
    t.equal(page.status, 403, user.email)
    t.match(page.text, user === USERS.olga ? /no group that may use this relay/ : /may not sign in/)
    t.same(JSON.parse((await client.poll(start.device_code)).text).error, 'access_denied', 'and the terminal is told')
  }
})

t.test('RFC 7009 revocation: the access token is dead at once (401, x-should-retry: false), the refresh token too', async (t) => {
  idp.loginAs = USERS.alice.email
  const tokens = await client.signIn()
  t.equal((await messages(tokens.access_token)).status, 200)
  t.equal((await client.form('/oauth/revoke', { token: tokens.access_token })).status, 200)
  const refused = await messages(tokens.access_token)
  t.equal(refused.status, 401)
  t.equal(refused.headers.get('x-should-retry'), 'false')
  t.match(JSON.parse(refused.text), { type: 'error', error: { type: 'authentication_error', message: /revoked/ } })
  t.equal((await client.form('/oauth/revoke', { token: tokens.refresh_token!, token_type_hint: 'refresh_token' })).status, 200)
  t.equal((await client.refresh(tokens.refresh_token!)).status, 401)
  t.equal((await client.form('/oauth/revoke', { token: 'not-a-token-at-all' })).status, 200, 'an unknown token is fine (RFC 7009 §2.2)')
})

t.test('cc-relay users lists signed-in users; revoke ends every token and refresh session of one user', async (t) => {
  const listed = await users('list')
  t.equal(listed.status, 0, listed.stderr)
  t.match(listed.stdout, /EMAIL\s+GROUPS\s+LAST SEEN\s+SPEND \(MONTH\)/)
  t.match(listed.stdout, new RegExp(`${USERS.alice.email}\\s+eng,everyone`))
  t.match(listed.stdout, USERS.ivan.email)
  const json = JSON.parse((await users('list', '--json')).stdout) as { email: string; spend_usd_month: number }[]
  t.ok(json.find((u) => u.email === USERS.alice.email)!.spend_usd_month > 0, 'her spend this month')

  t.equal((await messages(alice.access_token)).status, 200)
  const revoked = await users('revoke', USERS.alice.email)
  t.equal(revoked.status, 0, revoked.stderr)
  t.match(revoked.stdout, /revoked alice@corp.example/)
  const refused = await messages(alice.access_token)
  t.equal(refused.status, 401)
  t.equal(refused.headers.get('x-should-retry'), 'false')
  t.equal((await bearerGet('/managed/settings', alice.access_token)).status, 401)
  const refresh = await client.refresh(alice.refresh_token!)
  t.equal(refresh.status, 401)
  t.equal(JSON.parse(refresh.text).error, 'invalid_grant')
  await new Promise((r) => setTimeout(r, 1100)) // a token issued in the revocation's second counts as revoked
  const back = await client.signIn()
  t.equal((await messages(back.access_token)).status, 200, 'signing in again works')
})

t.test('deprovisioned in the IdP: the next refresh is invalid_grant, and the user is out', async (t) => {
  idp.loginAs = USERS.ivan.email
  const tokens = await client.signIn()
  idp.deprovision(USERS.ivan.email)
  const refresh = await client.refresh(tokens.refresh_token!)
  t.equal(refresh.status, 401)
  t.same(JSON.parse(refresh.text).error, 'invalid_grant')
  t.equal((await client.refresh(tokens.refresh_token!)).status, 401, 'and stays out')
})

t.test('nothing secret in the relay log', async (t) => {
  const text = JSON.stringify(relay.logs)
  for (const secret of [SECRET, POOLED_KEY, alice.access_token, alice.refresh_token!, idp.clientSecret]) t.notOk(text.includes(secret), `log holds no ${secret.slice(0, 12)}…`)
})
