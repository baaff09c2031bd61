/**
 * What operators look at never shows a secret (CONTRACT §3, DESIGN principle 3): after traffic that
 * touches every kind of credential — pooled keys (one refused, one throttled), a team client's key, a
 * forwarded subscription token — every byte of `/status.json`, the status page, `/metrics`,
 * `cc-relay status` and the relay's log is searched for each configured secret.
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { MockUpstream } from '../helpers/mock-upstream.js'
import { BIN, startRelay } from '../helpers/relay.js'

const secret = (prefix: string): string => `${prefix}${randomBytes(16).toString('hex')}`
const POOLED = secret('sk-ant-api03-pooled-')
const REFUSED = secret('sk-ant-api03-refused-')
const THROTTLED = secret('sk-ant-api03-throttled-')
const ZAI = secret('zai-')
const CLIENT = secret('client-alice-')
const ADMIN = secret('admin-')
const SUBSCRIPTION = secret('sk-ant-oat01-')
const SECRETS = { POOLED, REFUSED, THROTTLED, ZAI, CLIENT, ADMIN, SUBSCRIPTION }

const MESSAGE = '{"id":"msg_ok","type":"message","role":"assistant","content":[],"model":"m","stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}'

t.test('status, page, metrics, CLI and log carry no secret', async (t) => {
  const upstream = await new MockUpstream().start()
  upstream.handler = (req, res) => {
    const key = req.headers['x-api-key']
    if (key === REFUSED) return void res.writeHead(401, { 'content-type': 'application/json' }).end('{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}')
    if (key === THROTTLED) return void res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '30' }).end('{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}')
    res.writeHead(200, { 'content-type': 'application/json' }).end(MESSAGE)
  }
  const relay = await startRelay(`
logging: { level: debug, format: json }
server:
  auth:
    allow_subscription: true
    clients: [{ name: alice, key: "${CLIENT}" }]
  admin: { api_key: "${ADMIN}" }
providers:
  - name: main
    type: anthropic
    base_url: "${upstream.url}"
    models: ["claude-opus-4-8", "claude-haiku-4-5"]
    keys: [{ key: "${REFUSED}", priority: 3 }, { key: "${THROTTLED}", priority: 2 }, { key: "${POOLED}", priority: 1 }]
  - { name: glm, type: zai, base_url: "${upstream.url}", models: ["glm-4.7"], keys: [{ key: "${ZAI}" }] }
`)
  t.teardown(async () => {
    await relay.stop()
    await upstream.close()
  })
  const post = async (model: string, headers: Record<string, string>) => {
    const res = await fetch(`${relay.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-cc-relay-key': CLIENT, ...headers }, body: `{"model":"${model}","max_tokens":5,"messages":[]}` })
    await res.text()
    return res.status
  }
  t.equal(await post('claude-opus-4-8', {}), 200, 'pooled: refused key, throttled key, then the third')
  t.equal(await post('glm-4.7', {}), 200, 'zai key')
  t.equal(await post('claude-haiku-4-5', { authorization: `Bearer ${SUBSCRIPTION}` }), 200, 'a forwarded subscription token')
  t.equal(upstream.requests.at(-1)!.headers.authorization, `Bearer ${SUBSCRIPTION}`, 'it did reach the anthropic upstream')

  const admin = { authorization: `Bearer ${ADMIN}` }
  const outputs: Record<string, string> = {
    '/status.json': await (await fetch(`${relay.url}/status.json`, { headers: admin })).text(),
    '/status': await (await fetch(`${relay.url}/status`, { headers: admin })).text(),
    '/metrics': await (await fetch(`${relay.url}/metrics`, { headers: admin })).text(),
    'cc-relay status': spawnSync(process.execPath, [BIN, 'status', '--url', relay.url], { env: { ...process.env, CC_RELAY_ADMIN_KEY: ADMIN }, encoding: 'utf8', timeout: 30_000 }).stdout,
  }
  t.match(outputs['/status.json'], /"unusable":"the upstream answered 401 to this key"/, 'the refused key is shown (by its hash)')
  t.match(outputs['cc-relay status'], /unusable/, 'the CLI shows it too')
  await relay.waitForLog((l) => l.msg === 'request' && l.model === 'claude-haiku-4-5')
  outputs.log = relay.logs.map((l) => JSON.stringify(l)).join('\n') + relay.stderr()
  for (const [where, text] of Object.entries(outputs)) {
    t.ok(text.length > 0, `${where} has something to search`)
    for (const [name, value] of Object.entries(SECRETS)) {
      // The whole secret, and its random part alone (a truncated or re-encoded form would still carry it).
      const random = value.slice(-32)
      t.notOk(text.includes(value) || text.includes(random), `${where}: no ${name}`)
    }
  }
})
