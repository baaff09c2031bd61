/**
 * What operators look at never shows a secret (CONTRACT §3, DESIGN principle 3): after traffic that
 * touches every kind of credential — pooled keys (one refused, one throttled), a team client's key, a
 * forwarded subscription token — every byte of `/status.json`, `/metrics`, `/usage.json`, the status page
 * as Chromium renders it (the page is a shell that fetches `status.json` itself: its HTML alone carries no
 * data), `cc-relay status` and everything the relay wrote to stdout and stderr (JSON or not) is searched for
 * each configured secret. Each output is first checked to be a real answer (200, with the data in it), so
 * a refusal's short body cannot pass for a clean one.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { promisify } from 'node:util'
import { chromium } from 'playwright-core'
import { MockUpstream } from '../helpers/mock-upstream.js'
import { BIN, startRelay } from '../helpers/relay.js'
import { needs } from '../helpers/requires.js'

const CHROMIUM = '/usr/bin/chromium'
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
const run = promisify(execFile)

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
    const res = await fetch(`${relay.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-cc-relay-key': CLIENT, ...headers }, body: `{"model":"${model}","max_tokens":5,"messages":[]}`, signal: AbortSignal.timeout(20_000) })
    await res.text()
    return res.status
  }
  t.equal(await post('claude-opus-4-8', {}), 200, 'pooled: refused key, throttled key, then the third')
  t.equal(await post('glm-4.7', {}), 200, 'zai key')
  t.equal(await post('claude-haiku-4-5', { authorization: `Bearer ${SUBSCRIPTION}` }), 200, 'a forwarded subscription token')
  t.equal(upstream.requests.at(-1)!.headers.authorization, `Bearer ${SUBSCRIPTION}`, 'it did reach the anthropic upstream')

  const admin = { authorization: `Bearer ${ADMIN}` }
  const get = async (path: string): Promise<string> => {
    const res = await fetch(`${relay.url}${path}`, { headers: admin, signal: AbortSignal.timeout(10_000) })
    t.equal(res.status, 200, `${path} answers 200 to the admin key`)
    return res.text()
  }
  const outputs: Record<string, string> = {
    '/status.json': await get('/status.json'),
    '/metrics': await get('/metrics'),
    '/usage.json': await get('/usage.json'),
    'cc-relay status': (await run(process.execPath, [BIN, 'status', '--url', relay.url], { env: { ...process.env, CC_RELAY_ADMIN_KEY: ADMIN }, encoding: 'utf8', timeout: 30_000 })).stdout,
  }
  t.match(outputs['/status.json'], /"unusable":"the upstream answered 401 to this key"/, 'the refused key is shown (by its hash)')
  t.match(outputs['/status.json'], /"name":"alice"/, 'the team client is in /status.json')
  t.match(outputs['/metrics'], /cc_relay_requests_total\{[^}]*client="alice"/, '/metrics has the traffic')
  t.match(outputs['/usage.json'], /"client":"alice"/, '/usage.json has the traffic')
  t.match(outputs['cc-relay status'], /unusable/, 'the CLI shows it too')

  const skipPage = needs(t, CHROMIUM, 'apt-get install chromium (.ci/run does it)')
  if (!skipPage) {
    // The page as a browser shows it: markup after its script filled it from status.json, and its text.
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 })
    t.teardown(() => browser.close())
    const context = await browser.newContext({ httpCredentials: { username: 'admin', password: ADMIN } })
    const page = await context.newPage()
    page.setDefaultTimeout(20_000)
    const response = await page.goto(`${relay.url}/status`)
    t.equal(response?.status(), 200, '/status answers 200 to the admin key')
    await page.locator('#last-refresh[data-at]').waitFor()
    await page.locator('#clients tr[data-client="alice"]').waitFor()
    const rendered = `${await page.content()}\n${await page.locator('body').innerText()}`
    t.match(rendered, /the upstream answered 401 to this key|unusable/, 'the rendered page shows the refused key')
    outputs['/status (rendered by Chromium)'] = rendered
  }

  await relay.waitForLog((l) => l.msg === 'request' && l.model === 'claude-haiku-4-5')
  // Everything the process wrote, not only the lines that parse as JSON.
  outputs['stdout and stderr'] = relay.rawOutput()
  t.ok(relay.logs.filter((l) => l.msg === 'request').length >= 3, 'the output has the request lines')
  for (const [where, text] of Object.entries(outputs)) {
    t.ok(text.length > 0, `${where} has something to search`)
    for (const [name, value] of Object.entries(SECRETS)) {
      // The whole secret, and its random part alone (a truncated or re-encoded form would still carry it).
      const random = value.slice(-32)
      t.notOk(text.includes(value) || text.includes(random), `${where}: no ${name}`)
    }
  }
})
