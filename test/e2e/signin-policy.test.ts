/**
 * Policy follows the identity provider (CONTRACT §10, §12): a signed-in user's relay groups come from
 * their IdP groups, and the admission door holds them to those groups' policy and budgets — an engineer
 * gets Opus, an intern is refused Opus with the protocol's 400 and served Haiku, with the usage-limit
 * headers of their member budget; `GET /api/oauth/usage` shows that budget in dollars.
 */
import t from 'tap'
import { SigninClient } from '../helpers/signin-flow.js'
import { signinWorld, USERS } from '../helpers/signin-setup.js'

const world = await signinWorld({ top: 'pricing: { "claude-*": { input: 3, output: 15 } }' })
t.teardown(() => world.close())
const { idp, upstream, relay } = world
const client = new SigninClient(relay.url)
const ask = (token: string, model: string) =>
  client.request(`${relay.url}/v1/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }),
  })

idp.loginAs = USERS.alice.email
const alice = await client.signIn()
idp.loginAs = USERS.ivan.email
const ivan = await client.signIn()

t.test('an engineer gets Opus', async (t) => {
  const answer = await ask(alice.access_token, 'claude-opus-4-8')
  t.equal(answer.status, 200, answer.text)
  t.equal(answer.headers.get('anthropic-ratelimit-unified-status'), null, 'no budget, no usage-limit headers')
})

t.test('an intern is refused Opus with the 400 the protocol asks for, nothing sent upstream', async (t) => {
  const before = upstream.requests.length
  const answer = await ask(ivan.access_token, 'claude-opus-4-8')
  t.equal(answer.status, 400)
  t.match(JSON.parse(answer.text), { type: 'error', error: { type: 'invalid_request_error', message: /claude-opus-4-8.*not allowed.*ivan@corp\.example/ } })
  t.equal(upstream.requests.length, before)
  const line = await relay.waitForLog((l) => l.route === 'messages' && l.client === USERS.ivan.email && l.status === 400)
  t.equal(line.refused, 'model_policy')
})

t.test('and served Haiku, with the usage-limit headers of their member budget', async (t) => {
  const answer = await ask(ivan.access_token, 'claude-haiku-4-5')
  t.equal(answer.status, 200, answer.text)
  t.equal(answer.headers.get('anthropic-ratelimit-unified-status'), 'allowed')
  t.equal(answer.headers.get('anthropic-ratelimit-unified-representative-claim'), 'overage')
  t.match(answer.headers.get('anthropic-ratelimit-unified-overage-utilization'), /^0\.\d\d$|^0$/)
})

t.test('GET /api/oauth/usage: the member budget in dollars, its row active', async (t) => {
  await relay.waitForLog((l) => l.route === 'messages' && l.client === USERS.ivan.email && l.status === 200)
  const answer = await client.request(`${relay.url}/api/oauth/usage`, { headers: { authorization: `Bearer ${ivan.access_token}` } })
  t.equal(answer.status, 200)
  const view = JSON.parse(answer.text) as { extra_usage: Record<string, unknown>; limits: Record<string, unknown>[] }
  t.match(view.extra_usage, { is_enabled: true, monthly_limit: 500, currency: 'USD' })
  t.type(view.extra_usage['used_credits'], 'number')
  t.equal(view.limits.length, 1)
  t.match(view.limits[0], { kind: 'spend', group: 'daily', is_active: true, severity: 'normal' })
  const reset = new Date(String(view.limits[0]!['resets_at']))
  t.equal(reset.getUTCHours(), 0, 'resets at UTC midnight')
  const noCaps = await client.request(`${relay.url}/api/oauth/usage`, { headers: { authorization: `Bearer ${alice.access_token}` } })
  t.same(JSON.parse(noCaps.text).limits, [], 'an engineer has no cap: spend only')
})
