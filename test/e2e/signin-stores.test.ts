/**
 * Where sign-in state lives (CONTRACT §12): in the usage database file on one relay — a restart loses no
 * signed-in user, and revocations survive it too — and in Redis when relays share state: a device flow
 * started on relay A is approved through relay B and polled on A, the token works on both, and a
 * revocation on A holds on B.
 */
import t from 'tap'
import { SigninClient } from '../helpers/signin-flow.js'
import { closedPort } from '../helpers/ports.js'
import { RedisServer } from '../helpers/redis-server.js'
import { needs } from '../helpers/requires.js'
import { MockUpstream } from '../helpers/mock-upstream.js'
import { OidcIssuer } from '../helpers/oidc-issuer.js'
import { startRelay } from '../helpers/relay.js'
import { ssoYaml, USERS } from '../helpers/signin-setup.js'
import { until } from '../helpers/wait.js'
import { MESSAGE } from '../fixtures/anthropic.js'
import { dirname, join } from 'node:path'

const idp = await new OidcIssuer().start()
for (const user of Object.values(USERS)) idp.add(user)
idp.loginAs = USERS.alice.email
const upstream = await new MockUpstream().start()
upstream.handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(MESSAGE))
t.teardown(async () => {
  await upstream.close()
  await idp.close()
})

const yaml = (top = '') => ssoYaml(idp, { top }).replace('UPSTREAM_URL', upstream.url)
const settingsOf = (client: SigninClient, token: string) => client.request(`${client.relay}/managed/settings`, { headers: { authorization: `Bearer ${token}` } })

t.test('one relay with its database file: a restart keeps the user signed in, refresh working and revocations in force', async (t) => {
  const port = await closedPort()
  const first = await startRelay(yaml(), { args: ['--listen', `127.0.0.1:${port}`] })
  const client = new SigninClient(first.url)
  const tokens = await client.signIn()
  const second = await client.signIn()
  t.equal((await client.form('/oauth/revoke', { token: second.access_token })).status, 200)
  const db = join(dirname(first.configFile), 'cc-relay', 'usage.db')
  t.equal(await first.stop(), 0)

  // The same file, the same port (the token's issuer is the relay's URL).
  const again = await startRelay(yaml(`usage: { db: "${db}" }`), { args: ['--listen', `127.0.0.1:${port}`] })
  t.teardown(() => again.stop())
  t.equal(again.url, first.url)
  t.equal((await settingsOf(client, tokens.access_token)).status, 200, 'the token still works')
  t.equal((await settingsOf(client, second.access_token)).status, 401, 'the revoked one is still revoked')
  const refreshed = await client.refresh(tokens.refresh_token!)
  t.equal(refreshed.status, 200, `the refresh session survived: ${refreshed.text}`)
})

t.test('two relays on one Redis: start on A, approve through B, poll on A; revocation on A holds on B', async (t) => {
  const skip = needs(t, 'redis-server', 'apt-get install redis-server')
  if (skip) return t.skip(skip)
  const redis = await new RedisServer().start()
  t.teardown(() => redis.stop())
  const shared = `state: { store: redis, redis: { url: "${redis.url}", key_prefix: "signin-test:" } }`
  // One public URL for both (they sit behind one name in production); here A's address, which B also claims.
  const portA = await closedPort()
  const a = await startRelay(yaml(shared), { args: ['--listen', `127.0.0.1:${portA}`] })
  t.teardown(() => a.stop())
  const b = await startRelay(yaml(shared).replace('server:\n', `server:\n  public_url: "${a.url}"\n`))
  t.teardown(() => b.stop())
  const onA = new SigninClient(a.url)
  const onB = new SigninClient(b.url)

  const start = await onA.start()
  t.match(start.verification_uri, a.url)
  const page = await onB.approve(start.user_code)
  t.equal(page.status, 200, 'approved through B')
  const answer = await onA.poll(start.device_code)
  t.equal(answer.status, 200, 'polled on A')
  const tokens = JSON.parse(answer.text) as { access_token: string; refresh_token: string }
  t.equal((await settingsOf(onA, tokens.access_token)).status, 200, 'the token works on A')
  t.equal((await settingsOf(onB, tokens.access_token)).status, 200, 'and on B')
  t.equal((await onB.refresh(tokens.refresh_token)).status, 200, 'a refresh session made on A refreshes on B')

  const other = await onA.signIn()
  t.equal((await settingsOf(onB, other.access_token)).status, 200)
  t.equal((await onA.form('/oauth/revoke', { token: other.access_token })).status, 200, 'revoked on A')
  await until('B refuses the token revoked on A', async () => (await settingsOf(onB, other.access_token)).status === 401, 10_000, 200)
  const refused = await settingsOf(onB, other.access_token)
  t.equal(refused.headers.get('x-should-retry'), 'false')
})
