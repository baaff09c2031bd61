/**
 * What the upstream receives: the client's body byte for byte (only the mapped model edited), the
 * headers that matter, and exactly the credential CONTRACT §3 allows.
 */
import t from 'tap'
import { MockUpstream } from '../helpers/mock-upstream.js'
import { startRelay } from '../helpers/relay.js'
import { claudeCodeBody, MESSAGE } from '../fixtures/anthropic.js'

const upstream = await new MockUpstream().start()
upstream.handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(MESSAGE))

// Two providers: `pooled` (keys, no subscription passthrough) serves mapped models; `subscription`
// (its own relay, allow_subscription) forwards the client's login.
const pooled = await startRelay(`
server: { auth: { api_key: "relay-secret" } }
providers:
  - name: pooled
    type: anthropic
    base_url: "${upstream.url}/"
    keys: [{ key: "sk-ant-pool-A" }, { key: "sk-ant-pool-B" }]
    model_mapping: { "claude-opus-4-8": "claude-opus-4-8-20261101", "claude-haiku-*": "claude-haiku-4-5-20251001", "claude-haiku-4-6-exact": "haiku-exact" }
    models: ["claude-sonnet-4-6", "m"]
`)
const subscription = await startRelay(`
server: { auth: { allow_subscription: true } }
providers:
  - name: anthropic
    type: anthropic
    base_url: "${upstream.url}"
    keys: [{ key: "sk-ant-team-key" }]
    max_output_tokens: 8192
`)
t.teardown(async () => {
  await Promise.all([pooled.stop(), subscription.stop()])
  await upstream.close()
})

async function post(url: string, body: string, headers: Record<string, string>, path = '/v1/messages') {
  const res = await fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body })
  await res.arrayBuffer()
  return { res, sent: upstream.last }
}

const clientHeaders = {
  'anthropic-version': '2023-06-01',
  'anthropic-beta': 'claude-code-20250219,oauth-2025-04-20,interleaved-thinking-2025-05-14',
  'user-agent': 'claude-cli/2.1.300 (external, cli)',
  'x-stainless-retry-count': '0',
  'x-claude-code-session-id': 'f3a1b2c3-session',
  'x-app': 'cli',
}

t.test('the body reaches the upstream byte for byte except the mapped model', async (t) => {
  const body = claudeCodeBody('claude-opus-4-8', false)
  const { res, sent } = await post(pooled.url, body, { ...clientHeaders, 'x-api-key': 'relay-secret' })
  t.equal(res.status, 200)
  const expected = body.replace('"model": "claude-opus-4-8"', '"model": "claude-opus-4-8-20261101"')
  t.equal(sent.body.toString(), expected, 'only the model value changed; spacing, order and unknown fields intact')
  t.match(sent.body.toString(), /"output_config":\{"effort":"high"\},"context_management"/)
  t.match(sent.body.toString(), /\{"role":"system","content":"mid-conversation system note"\}/)
})

t.test('an unmapped model passes unchanged; [1m] is removed; wildcard and exact mappings apply', async (t) => {
  const cases: [string, string][] = [
    ['claude-sonnet-4-6', 'claude-sonnet-4-6'],
    ['claude-sonnet-4-6[1m]', 'claude-sonnet-4-6'],
    ['claude-opus-4-8[1M][1m]', 'claude-opus-4-8-20261101'],
    ['claude-haiku-4-5', 'claude-haiku-4-5-20251001'],
    ['claude-haiku-4-6-exact', 'haiku-exact'],
  ]
  for (const [model, upstreamModel] of cases) {
    const body = `{"model":${JSON.stringify(model)},"max_tokens":10,"messages":[]}`
    const { sent } = await post(pooled.url, body, { 'x-api-key': 'relay-secret' })
    t.equal(sent.body.toString(), `{"model":${JSON.stringify(upstreamModel)},"max_tokens":10,"messages":[]}`, model)
  }
})

t.test('max_output_tokens clamps a larger max_tokens and nothing else', async (t) => {
  const { sent } = await post(subscription.url, '{"max_tokens": 32000, "model":"claude-sonnet-4-6"}', {})
  t.equal(sent.body.toString(), '{"max_tokens": 8192, "model":"claude-sonnet-4-6"}')
  const small = await post(subscription.url, '{"max_tokens": 100, "model":"claude-sonnet-4-6"}', {})
  t.equal(small.sent.body.toString(), '{"max_tokens": 100, "model":"claude-sonnet-4-6"}')
})

t.test('headers that matter pass; per-hop ones are rebuilt; upstream is asked for identity encoding', async (t) => {
  const { sent } = await post(pooled.url, '{"model":"m"}', { ...clientHeaders, 'x-api-key': 'relay-secret', 'accept-encoding': 'gzip, br' }, '/v1/messages?beta=true')
  for (const [name, value] of Object.entries(clientHeaders)) t.equal(sent.headers[name], value, name)
  t.equal(sent.headers['accept-encoding'], 'identity')
  t.equal(sent.headers['content-length'], '13')
  t.equal(sent.url, '/v1/messages?beta=true', 'query string forwarded to an anthropic upstream; base_url trailing slash ignored')
})

t.test('a configured key replaces the client credential; the relay key never leaves', async (t) => {
  const seen = new Set<string>()
  for (const credential of [
    { 'x-api-key': 'relay-secret' },
    { authorization: 'Bearer relay-secret' },
    { 'x-cc-relay-key': 'relay-secret', authorization: 'Bearer sk-ant-oat01-client-login', 'x-api-key': 'sk-ant-api03-client' },
  ]) {
    const { res, sent } = await post(pooled.url, '{"model":"m"}', credential)
    t.equal(res.status, 200)
    t.notOk(sent.headers.authorization, 'client authorization stripped (no allow_subscription)')
    t.match(sent.headers['x-api-key'], /^sk-ant-pool-[AB]$/)
    seen.add(String(sent.headers['x-api-key']))
    t.notMatch(JSON.stringify(sent.headers), /relay-secret|client-login|sk-ant-api03-client/)
  }
  t.same([...seen].sort(), ['sk-ant-pool-A', 'sk-ant-pool-B'], 'keys are pooled and rotated')
})

t.test('subscription passthrough: a client login goes unchanged to an anthropic provider', async (t) => {
  const login = { authorization: 'Bearer sk-ant-oat01-subscription-token', 'anthropic-beta': 'oauth-2025-04-20,claude-code-20250219' }
  const { sent } = await post(subscription.url, '{"model":"claude-opus-4-8"}', login)
  t.equal(sent.headers.authorization, 'Bearer sk-ant-oat01-subscription-token')
  t.equal(sent.headers['anthropic-beta'], 'oauth-2025-04-20,claude-code-20250219')
  t.notOk(sent.headers['x-api-key'], 'no pooled key added beside the login')
  const own = await post(subscription.url, '{"model":"claude-opus-4-8"}', { 'x-api-key': 'sk-ant-api03-own' })
  t.equal(own.sent.headers['x-api-key'], 'sk-ant-api03-own', "the client's own API key goes through too")
  const none = await post(subscription.url, '{"model":"claude-opus-4-8"}', {})
  t.equal(none.sent.headers['x-api-key'], 'sk-ant-team-key', 'no client credential: the pooled key')
})

t.test('count_tokens is passed through to the anthropic provider', async (t) => {
  upstream.handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"input_tokens":2095}')
  const body = '{"model":"claude-sonnet-4-6","messages":[{"role":"user","content":"hi"}]}'
  const res = await fetch(`${pooled.url}/v1/messages/count_tokens?beta=true`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'relay-secret', 'anthropic-beta': 'token-counting-2024-11-01' },
    body,
  })
  t.equal(res.status, 200)
  t.same(await res.json(), { input_tokens: 2095 })
  t.equal(upstream.last.url, '/v1/messages/count_tokens?beta=true')
  t.equal(upstream.last.body.toString(), body)
  t.equal(upstream.last.headers['anthropic-beta'], 'token-counting-2024-11-01')
})
