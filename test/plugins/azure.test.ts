/**
 * The azure (Microsoft Foundry) plugin through the running relay, against a mock of a Foundry resource
 * (`/anthropic/v1/messages`, Anthropic's answers, APIM's 401 wording). The official
 * `@anthropic-ai/foundry-sdk` keeps the mock honest: it reads the mock's answers, and the request it
 * sends is the golden request the relay's upstream request must match apart from credentials. Then
 * `@anthropic-ai/sdk` through the relay gets the same message as the Foundry SDK directly.
 */
import t from 'tap'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import Anthropic from '@anthropic-ai/sdk'
import { AnthropicFoundry } from '@anthropic-ai/foundry-sdk'
import type { ProviderPlugin } from '../../plugins/sdk.js'
import { MockUpstream, sse } from '../helpers/mock-upstream.js'
import type { Recorded } from '../helpers/mock-upstream.js'
import { startRelay } from '../helpers/relay.js'
import type { RunningRelay } from '../helpers/relay.js'
import { claudeCodeBody, MESSAGE, STREAM_EVENTS } from '../fixtures/anthropic.js'
import { post, requestLog } from '../helpers/shaping-client.js'
import type { Asserts } from '../helpers/answers.js'

const ROOT = join(import.meta.dirname, '..', '..')
const azurePlugin = ((await import(pathToFileURL(join(ROOT, 'dist', 'plugins', 'azure', 'index.js')).href)) as { default: ProviderPlugin }).default
const { bodyTools } = (await import(pathToFileURL(join(ROOT, 'dist', 'src', 'shared', 'json-edit.js')).href)) as typeof import('../../src/shared/json-edit.js')
const { authOf } = (await import(pathToFileURL(join(ROOT, 'dist', 'src', 'shared', 'plugins.js')).href)) as typeof import('../../src/shared/plugins.js')

const KEY = 'foundry-key-0123456789abcdef'
const ENTRA = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.entra-token'
const STREAM_TEXT = sse(STREAM_EVENTS as unknown as { type: string }[])

/** A Foundry resource: Anthropic's API under /anthropic, keys in x-api-key or api-key, Entra bearer tokens. */
async function foundryMock(): Promise<MockUpstream> {
  const m = await new MockUpstream().start()
  m.handler = (req, res, rec) => {
    const authorized = req.headers['x-api-key'] === KEY || req.headers['api-key'] === KEY || req.headers.authorization === `Bearer ${ENTRA}`
    const ids = { 'request-id': 'req_foundry_01', 'apim-request-id': '6f1c2a8e-4b1d-4c7e-9a55-1f2e3d4c5b6a' }
    if (!authorized) {
      return void res
        .writeHead(401, { 'content-type': 'application/json', ...ids })
        .end('{"error":{"code":"401","message":"Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."}}')
    }
    if (rec.url === '/anthropic/v1/messages/count_tokens') return void res.writeHead(200, { 'content-type': 'application/json', ...ids }).end('{"input_tokens":2095}')
    if (rec.url !== '/anthropic/v1/messages') return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"code":"404","message":"Resource not found"}}')
    const body = JSON.parse(rec.body.toString()) as { stream?: boolean }
    if (body.stream) res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', ...ids }).end(STREAM_TEXT)
    else res.writeHead(200, { 'content-type': 'application/json', ...ids }).end(JSON.stringify(MESSAGE))
  }
  return m
}

const foundry = await foundryMock()
const claude = await new MockUpstream().start()
claude.handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(MESSAGE))
const relays: RunningRelay[] = []
async function relay(yaml: string, env: NodeJS.ProcessEnv = {}): Promise<RunningRelay> {
  const r = await startRelay(yaml, { env })
  relays.push(r)
  return r
}
t.teardown(async () => {
  await Promise.all(relays.map((r) => r.stop()))
  await Promise.all([foundry.close(), claude.close()])
})

// The seed's Azure example, word for word, plus base_url pointed at the mock resource's API root.
const seedYaml = `
providers:
  - name: "azure"
    type: "azure"
    enabled: true
    azure_resource_name: "my-azure-resource"
    azure_api_version: "2024-06-01"
    base_url: "${foundry.url}/anthropic"
    keys:
      - key: "\${AZURE_API_KEY}"
    model_mapping:
      "claude-sonnet-4-5-20250514": "claude-sonnet-4-5"
`
const seed = await relay(seedYaml, { AZURE_API_KEY: KEY })

const foundrySdk = new AnthropicFoundry({ apiKey: KEY, baseURL: `${foundry.url}/anthropic/`, maxRetries: 0 })
const viaRelay = new Anthropic({ baseURL: seed.url, apiKey: 'sk-ant-api03-client-own-key', maxRetries: 0 })
const params = {
  max_tokens: 1024,
  messages: [{ role: 'user' as const, content: 'What is the weather in San Francisco?' }],
  tools: [{ name: 'get_weather', description: 'Get the weather', input_schema: { type: 'object' as const, properties: { location: { type: 'string' } } } }],
  thinking: { type: 'enabled' as const, budget_tokens: 512 },
}

/** Headers that legitimately differ between the SDK's request and the relay's (identity, transport, credentials). */
const NOT_COMPARED = new Set(['host', 'connection', 'content-length', 'user-agent', 'accept-encoding', 'x-api-key', 'api-key', 'authorization'])
const notCompared = (name: string) => NOT_COMPARED.has(name) || name.startsWith('x-stainless-')

function sameRequest(t: Asserts, relayed: Recorded, golden: Recorded): void {
  t.equal(relayed.method, golden.method, 'method')
  t.equal(relayed.url, golden.url, 'path and query')
  t.equal(relayed.body.toString(), golden.body.toString(), 'body bytes')
  for (const [name, value] of Object.entries(golden.headers)) if (!notCompared(name)) t.equal(relayed.headers[name], value, `header ${name}`)
  t.equal(golden.headers['x-api-key'], KEY, 'the SDK sends the key as x-api-key')
  t.equal(relayed.headers['x-api-key'], KEY, 'so does the relay')
  t.equal(relayed.headers['api-key'], KEY, "and as Azure's api-key (CONTRACT §3)")
  t.equal(relayed.headers['accept-encoding'], 'identity')
}

t.test('golden request: the relay sends what the Foundry SDK sends (messages, streaming, count_tokens)', async (t) => {
  const direct = await foundrySdk.messages.create({ ...params, model: 'claude-sonnet-4-5' })
  const golden = foundry.last
  const relayed = await viaRelay.messages.create({ ...params, model: 'claude-sonnet-4-5-20250514' })
  sameRequest(t, foundry.last, golden)
  t.same(relayed, direct, 'the same message: thinking with its signature, text, usage')

  const directEvents: unknown[] = []
  for await (const event of await foundrySdk.messages.create({ ...params, model: 'claude-sonnet-4-5', stream: true })) directEvents.push(event)
  const goldenStream = foundry.last
  const relayedEvents: unknown[] = []
  for await (const event of await viaRelay.messages.create({ ...params, model: 'claude-sonnet-4-5-20250514', stream: true })) relayedEvents.push(event)
  sameRequest(t, foundry.last, goldenStream)
  t.same(relayedEvents, directEvents, 'the same events')
  t.equal(relayedEvents.length, STREAM_EVENTS.filter((e) => e.type !== 'ping').length, 'every event but the ping (the SDK skips pings)')

  const directFinal = await foundrySdk.messages.stream({ ...params, model: 'claude-sonnet-4-5' }).finalMessage()
  const relayedFinal = await viaRelay.messages.stream({ ...params, model: 'claude-sonnet-4-5-20250514' }).finalMessage()
  t.same(relayedFinal, directFinal, 'the same accumulated message')
  t.match(relayedFinal.content, [{ type: 'thinking', signature: 'EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds' }, { type: 'text' }, { type: 'tool_use', input: { location: 'San Francisco, CA', unit: 'celsius' } }])
  t.same(relayedFinal.usage, directFinal.usage)

  const countParams = { messages: [{ role: 'user' as const, content: 'count me' }] }
  const directCount = await foundrySdk.messages.countTokens({ ...countParams, model: 'claude-sonnet-4-5' })
  const goldenCount = foundry.last
  const relayedCount = await viaRelay.messages.countTokens({ ...countParams, model: 'claude-sonnet-4-5-20250514' })
  sameRequest(t, foundry.last, goldenCount)
  t.same(relayedCount, directCount)
})

t.test('no api-version query, on any route: the Foundry Anthropic endpoint takes none', async (t) => {
  const res = await post(seed, '{"model":"claude-sonnet-4-5-20250514","max_tokens":5,"messages":[]}', {}, '/v1/messages?beta=true')
  t.equal(res.status, 200)
  t.equal(foundry.last.url, '/anthropic/v1/messages', 'neither api-version nor the client query string')
})

t.test('the default API root comes from azure_resource_name', async (t) => {
  const options = { azure_resource_name: 'my-azure-resource', azure_api_version: '2024-06-01' }
  const base = azurePlugin.defaultBaseUrl(options)
  t.equal(base, 'https://my-azure-resource.services.ai.azure.com/anthropic')
  const body = Buffer.from('{"model":"claude-sonnet-4-5","max_tokens":1}')
  for (const [route, path] of [['messages', '/v1/messages'], ['count_tokens', '/v1/messages/count_tokens']] as const) {
    const spec = azurePlugin.prepare({ route, requestId: 'r', body, model: 'claude-sonnet-4-5', stream: false, query: 'beta=true', headers: {}, baseUrl: base, options }, bodyTools)
    t.equal(spec.url, `https://my-azure-resource.services.ai.azure.com/anthropic${path}`)
    t.equal(spec.body, body, 'untouched: the very same bytes')
  }
  t.same(authOf(azurePlugin, options), { kind: 'keys', headers: ['x-api-key', 'api-key'] })
  t.same(authOf(azurePlugin, { ...options, azure_auth_token: '' }), { kind: 'keys', headers: ['x-api-key', 'api-key'] }, 'an empty token is no token')
})

t.test("Claude Code's body goes byte for byte (only the mapped model), and nothing is logged as shaped", async (t) => {
  const body = claudeCodeBody('claude-sonnet-4-5-20250514', true)
  const res = await post(seed, body)
  t.equal(res.status, 200)
  t.equal(res.text, STREAM_TEXT)
  t.equal(foundry.last.body.toString(), body.replace('"claude-sonnet-4-5-20250514"', '"claude-sonnet-4-5"'))
  t.notOk((await requestLog(seed, res.requestId)).shaped)
})

t.test('shaping: cache_control.scope is removed wherever Claude Code put it; type and ttl stay', async (t) => {
  const body = `{"model": "claude-sonnet-4-5-20250514", "max_tokens": 32000, "stream": false,
 "system": [{"type":"text","text":"x-anthropic-billing-header: cc_version=2.1.300"}, {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral", "scope": "global"}}],
 "tools": [{"name":"Bash","input_schema":{"type":"object","properties":{"scope":{"type":"string"}}},"cache_control":{"type":"ephemeral","ttl":"1h","scope":"global"}}],
 "messages": [{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral","scope":"global"}}]},
  {"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"Bash","input":{"scope":"keep me"}}]},
  {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"ok","cache_control":{"type":"ephemeral","scope":"global"}}]}]}],
 "future_field": {"scope": "not a cache breakpoint"}}`
  const res = await post(seed, body)
  t.equal(res.status, 200)
  // Removed on the bytes: every other byte (spacing included) stays as the client sent it.
  const expected = body
    .replace('"claude-sonnet-4-5-20250514"', '"claude-sonnet-4-5"')
    .replaceAll(', "scope": "global"', '')
    .replaceAll(',"scope":"global"', '')
  t.equal(foundry.last.body.toString(), expected, 'only the scope keys are gone; tool schemas, tool input and unknown fields keep theirs; every other byte as sent')
  t.same((await requestLog(seed, res.requestId)).shaped, ['removed cache_control.scope from 4 cache breakpoints: Foundry accepts only type and ttl'])

  const top = '{"model":"claude-sonnet-4-5-20250514","max_tokens":5,"cache_control":{"type":"ephemeral","scope":"global"},"messages":[]}'
  await post(seed, top)
  t.equal(foundry.last.body.toString(), '{"model":"claude-sonnet-4-5","max_tokens":5,"cache_control":{"type":"ephemeral"},"messages":[]}', 'top-level automatic caching too')
})

t.test('keys: a 401 to one pooled key moves to the next key; APIM wording passes through when none is left', async (t) => {
  const r = await relay(`
routing: { debug: true }
providers:
  - name: azure
    type: azure
    azure_resource_name: "my-azure-resource"
    base_url: "${foundry.url}/anthropic"
    keys: [{ key: "revoked-key", priority: 2 }, { key: "${KEY}", priority: 1 }]
`)
  const res = await post(r, '{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[]}')
  t.equal(res.status, 200)
  t.equal(res.headers.get('x-cc-relay-attempts'), '2')
  const bad = await relay(`providers:\n  - { name: azure, type: azure, azure_resource_name: r, base_url: "${foundry.url}/anthropic", keys: [{ key: "wrong" }] }\n`)
  const denied = await post(bad, '{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[]}')
  t.equal(denied.status, 401)
  t.match(denied.text, /Access denied due to invalid subscription key/)
})

t.test('azure_auth_token: an Entra ID token as Authorization: Bearer, keys become pool slots', async (t) => {
  const r = await relay(
    `providers:
  - name: azure
    type: azure
    azure_resource_name: "my-azure-resource"
    azure_auth_token: "\${AZURE_AUTH_TOKEN}"
    base_url: "${foundry.url}/anthropic"
    keys: [{ key: "entra-slot", rpm_limit: 100 }]
`,
    { AZURE_AUTH_TOKEN: ENTRA },
  )
  const res = await post(r, '{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[]}')
  t.equal(res.status, 200)
  t.equal(foundry.last.headers.authorization, `Bearer ${ENTRA}`)
  t.notOk(foundry.last.headers['x-api-key'] ?? foundry.last.headers['api-key'], 'no key header')
  t.notMatch(JSON.stringify(foundry.last.headers), /entra-slot/)
})

t.test("no credential reaches Foundry but its own: not the client's Anthropic key or login, not another provider's key", async (t) => {
  const r = await relay(
    `
server: { auth: { allow_subscription: true } }
providers:
  - { name: claude, type: anthropic, base_url: "${claude.url}", keys: [{ key: "sk-ant-api03-team" }], models: ["claude-opus-4-8"] }
  - name: azure
    type: azure
    azure_resource_name: "my-azure-resource"
    base_url: "${foundry.url}/anthropic"
    keys: [{ key: "\${AZURE_API_KEY}" }]
    model_mapping: { "claude-sonnet-4-5-20250514": "claude-sonnet-4-5" }
`,
    { AZURE_API_KEY: KEY },
  )
  const client = { 'x-api-key': 'sk-ant-api03-client-key', authorization: 'Bearer sk-ant-oat01-client-login' }
  const res = await post(r, '{"model":"claude-sonnet-4-5-20250514","max_tokens":5,"messages":[]}', client)
  t.equal(res.status, 200)
  t.equal(foundry.last.headers['x-api-key'], KEY)
  t.equal(foundry.last.headers['api-key'], KEY)
  t.notOk(foundry.last.headers.authorization, 'the client login is not forwarded')
  t.notMatch(JSON.stringify(foundry.last.headers) + foundry.last.body.toString(), /sk-ant-/)
  await post(r, '{"model":"claude-opus-4-8","max_tokens":5,"messages":[]}', client)
  t.equal(claude.last.headers.authorization, 'Bearer sk-ant-oat01-client-login')
  t.notMatch(JSON.stringify(claude.last.headers), new RegExp(KEY))
})
