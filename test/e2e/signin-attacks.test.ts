/**
 * Sign-in under attack, through the running relay: bearer tokens that are forged, expired, for another
 * audience or issuer, `alg: none`, HS512, RS256 or tampered, on every bearer endpoint (401,
 * `x-should-retry: false`, nothing sent upstream); replayed device codes; a cross-site POST to the
 * device page; the per-address limits; callbacks with a bad state, from another browser, or carrying an
 * id_token with the wrong nonce, audience, issuer, signature or expiry (the code stays unapproved and
 * the terminal is told); and random bytes at every sign-in endpoint (never a 5xx, never a crash).
 */
import t from 'tap'
import fc from 'fast-check'
import { createHash } from 'node:crypto'
import { SignJWT, UnsecuredJWT } from 'jose'
import { SigninClient } from '../helpers/signin-flow.js'
import { claimsOf, SECRET, signinWorld, USERS } from '../helpers/signin-setup.js'
import type { Tamper } from '../helpers/oidc-issuer.js'

const world = await signinWorld()
t.teardown(() => world.close())
const { idp, upstream, relay } = world
const client = new SigninClient(relay.url)
const base = relay.url
idp.loginAs = USERS.alice.email
const good = await client.signIn()
const claims = claimsOf(good.access_token)
const kid = (secret: string) => createHash('sha256').update(secret).digest('hex').slice(0, 16)
const key = (secret: string) => new TextEncoder().encode(secret)

async function signed(over: { secret?: string; alg?: string; kid?: string; aud?: string; iss?: string; exp?: number; email?: string }): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  const secret = over.secret ?? SECRET
  return new SignJWT({ email: over.email ?? USERS.alice.email, name: 'x', groups: ['eng'] })
    .setProtectedHeader({ alg: over.alg ?? 'HS256', typ: 'JWT', kid: over.kid ?? kid(SECRET) })
    .setSubject(USERS.alice.sub)
    .setAudience(over.aud ?? 'cc-relay')
    .setIssuer(over.iss ?? base)
    .setJti(`jti-${Math.random()}`)
    .setIssuedAt(now - 10)
    .setExpirationTime(over.exp ?? now + 600)
    .sign(key(secret))
}

t.test('forged, expired, foreign and malformed bearer tokens are refused everywhere, with x-should-retry: false', async (t) => {
  const [h, p] = good.access_token.split('.') as [string, string, string]
  const tamperedPayload = Buffer.from(JSON.stringify({ ...claims, email: 'boss@corp.example', groups: ['admins'] })).toString('base64url')
  const cases: Record<string, string> = {
    'another secret': await signed({ secret: 'an-attackers-secret-of-32-characters!!' }),
    'another secret, our kid': await signed({ secret: 'an-attackers-secret-of-32-characters!!', kid: kid(SECRET) }),
    expired: await signed({ exp: Math.floor(Date.now() / 1000) - 5 }),
    'wrong audience': await signed({ aud: 'claude-gateway' }),
    'wrong issuer': await signed({ iss: 'https://relay.evil.example' }),
    'HS512 with our secret': await signed({ alg: 'HS512' }),
    'alg: none': new UnsecuredJWT({ ...claims }).encode(),
    'alg: none with our kid': `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT', kid: kid(SECRET) })).toString('base64url')}.${p}.`,
    'tampered payload, original signature': `${h}.${tamperedPayload}.${good.access_token.split('.')[2]}`,
    'signature stripped': `${h}.${p}.`,
    'RS256 header on an HMAC': `${Buffer.from(JSON.stringify({ alg: 'RS256', kid: kid(SECRET) })).toString('base64url')}.${p}.${good.access_token.split('.')[2]}`,
  }
  const before = upstream.requests.length
  for (const [name, token] of Object.entries(cases)) {
    for (const [method, path] of [['POST', '/v1/messages'], ['GET', '/managed/settings'], ['GET', '/v1/models'], ['GET', '/api/oauth/usage'], ['POST', '/v1/metrics']] as const) {
      const answer = await client.request(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        ...(method === 'POST' ? { body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }) } : {}),
      })
      t.equal(answer.status, 401, `${name}: ${method} ${path}`)
      t.equal(answer.headers.get('x-should-retry'), 'false', `${name}: ${path} says do not retry`)
      t.match(JSON.parse(answer.text), { type: 'error', error: { type: 'authentication_error' } })
    }
  }
  t.equal(upstream.requests.length, before, 'nothing reached the upstream')
  t.equal((await client.request(`${base}/managed/settings`, { headers: { authorization: `Bearer ${good.access_token}` } })).status, 200, 'the genuine token still works')
})

t.test('device codes: a replayed or invented code is expired_token; only one of two racing polls gets the token', async (t) => {
  const start = await client.start()
  await client.approve(start.user_code)
  const [a, b] = await Promise.all([client.poll(start.device_code), client.poll(start.device_code)])
  t.same([a.status, b.status].sort(), [200, 400], 'one winner')
  t.equal(JSON.parse((a.status === 400 ? a : b).text).error, 'expired_token')
  t.equal(JSON.parse((await client.poll(start.device_code)).text).error, 'expired_token', 'replayed')
  t.equal(JSON.parse((await client.poll('A'.repeat(43))).text).error, 'expired_token', 'invented')
  const missing = await client.form('/oauth/token', { grant_type: 'urn:ietf:params:oauth:grant-type:device_code' })
  t.equal(JSON.parse(missing.text).error, 'invalid_request')
  t.equal(JSON.parse((await client.form('/oauth/token', { grant_type: 'password', username: 'a' })).text).error, 'unsupported_grant_type')
  const notForm = await client.request(`${base}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"grant_type":"refresh_token"}' })
  t.equal(JSON.parse(notForm.text).error, 'invalid_request')
})

t.test('a cross-site POST to /device is blocked and approves nothing', async (t) => {
  const start = await client.start()
  for (const headers of [{ 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' }, { origin: 'https://evil.example' }, {}]) {
    const answer = await client.form('/device', { user_code: start.user_code, action: 'approve' }, headers)
    t.equal(answer.status, 403, JSON.stringify(headers))
    t.match(answer.text, /another site/)
  }
  t.equal(JSON.parse((await client.poll(start.device_code)).text).error, 'authorization_pending')
})

t.test('callbacks: a bad state, another browser, or an IdP error approve nothing', async (t) => {
  const forged = await client.request(`${base}/oauth/callback?code=abc&state=not-a-state`)
  t.equal(forged.status, 400)
  t.match(forged.text, /not valid or has expired/)

  const start = await client.start()
  const posted = await client.form('/device', { user_code: start.user_code, action: 'approve' }, { 'sec-fetch-site': 'same-origin' })
  const idpAnswer = await client.request(posted.headers.get('location')!)
  const callback = idpAnswer.headers.get('location')!
  const otherBrowser = await client.request(callback, { headers: { cookie: 'cc_relay_signin=someone-elses-cookie' } })
  t.equal(otherBrowser.status, 400)
  t.match(otherBrowser.text, /another browser/)
  const replay = await client.request(callback, { headers: { cookie: (posted.headers.get('set-cookie') ?? '').split(';')[0]! } })
  t.equal(replay.status, 400, 'a flow state works once')
  t.equal(JSON.parse((await client.poll(start.device_code)).text).error, 'authorization_pending', 'still not approved')

  idp.refuseNext = true
  const refused = await client.start()
  const page = await client.approve(refused.user_code)
  t.match(page.text, /access_denied/)
  t.equal(JSON.parse((await client.poll(refused.device_code)).text).error, 'access_denied')
})

for (const tamper of ['nonce', 'audience', 'issuer', 'signature', 'expired'] as Tamper[]) {
  t.test(`an id_token with the wrong ${tamper} is refused and the code is denied`, async (t) => {
    idp.loginAs = USERS.alice.email
    idp.tamperNext = tamper
    const start = await client.start()
    const page = await client.approve(start.user_code)
    t.equal(page.status, 400)
    t.match(page.text, /could not be verified/)
    t.equal(JSON.parse((await client.poll(start.device_code)).text).error, 'access_denied')
  })
}

t.test('random bytes at every sign-in endpoint: never a 5xx, and the relay lives on', async (t) => {
  const paths = ['/oauth/device_authorization', '/oauth/token', '/oauth/revoke', '/device', '/v1/metrics']
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...paths), fc.uint8Array({ maxLength: 600 }), fc.constantFrom('application/x-www-form-urlencoded', 'application/json', 'text/plain', ''), async (path, bytes, type) => {
      const res = await fetch(`${base}${path}`, { method: 'POST', headers: { ...(type ? { 'content-type': type } : {}), authorization: `Bearer ${Buffer.from(bytes.slice(0, 40)).toString('base64url')}.e30.x`, 'sec-fetch-site': 'same-origin' }, body: bytes, signal: AbortSignal.timeout(10_000) })
      await res.arrayBuffer()
      return res.status < 500
    }),
    { numRuns: 150 },
  )
  const queries = ['user_code=%ZZ', 'user_code=' + 'A'.repeat(5000), 'state=%00&code=%FF', 'error=x&state=' + '\u{1F600}'.repeat(50)]
  for (const q of queries) for (const path of ['/device', '/oauth/callback']) t.ok((await client.request(`${base}${path}?${q}`)).status < 500, `${path}?${q.slice(0, 30)}`)
  t.equal((await client.request(`${base}/health`)).status, 200)
})

t.test('POST /device is rate-limited per address (RFC 8628 §5.1)', async (t) => {
  const statuses: number[] = []
  for (let i = 0; i < 12; i++) statuses.push((await client.form('/device', { user_code: 'BBBB-BBBB' }, { 'sec-fetch-site': 'same-origin' })).status)
  t.ok(statuses.includes(429), `429 after the limit: ${statuses.join(',')}`)
})
