/**
 * The live status page in a real browser (Debian's Chromium through playwright-core), against a running
 * relay with two providers (one unreachable, so requests fail over), two team clients and an admin key:
 * the page must show what /status.json reports, keep up with new traffic, refuse a visitor without the
 * key, and say so when the relay goes away while keeping the last data on screen.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import { chromium } from 'playwright-core'
import { needs } from '../helpers/requires.js'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { closedPort } from '../helpers/ports.js'
import { MockUpstream } from '../helpers/mock-upstream.js'
import { startRelay } from '../helpers/relay.js'
import type { RunningRelay } from '../helpers/relay.js'
import type { StatusSnapshot } from '../../src/admin/status.js'

const CHROMIUM = '/usr/bin/chromium'
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
/** Several 2 s polls; generous because CI machines stall. */
const WAIT_MS = 20_000
const ADMIN_KEY = `admin-${randomBytes(12).toString('hex')}`
const ALICE = { name: 'alice', key: `alice-${randomBytes(8).toString('hex')}` }
// Markup in a name must reach the page as text, not as elements.
const BOB = { name: 'bob & <i>ops</i>', key: `bob-${randomBytes(8).toString('hex')}` }
const MESSAGE = '{"id":"msg_ok","type":"message","role":"assistant","content":[],"model":"m","stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":10,"output_tokens":5}}'
const ok = (res: ServerResponse): void => void res.writeHead(200, { 'content-type': 'application/json' }).end(MESSAGE)

let relay: RunningRelay | undefined
let upstream: MockUpstream | undefined
let browser: Browser | undefined
t.teardown(async () => {
  await browser?.close()
  await relay?.stop()
  await upstream?.close()
})

async function send(r: RunningRelay, clientKey: string): Promise<number> {
  const res = await fetch(`${r.url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-cc-relay-key': clientKey },
    body: '{"model":"claude-opus-4-8","max_tokens":50,"messages":[]}',
  })
  await res.arrayBuffer()
  return res.status
}

async function snapshot(r: RunningRelay): Promise<StatusSnapshot> {
  const res = await fetch(`${r.url}/status.json`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })
  if (res.status !== 200) throw new Error(`/status.json answered ${res.status}`)
  return (await res.json()) as StatusSnapshot
}

/** The text of one field of the client row named `name` (matched by attribute value, so any characters work). */
function clientField(page: Page, name: string, field: string): Promise<string | null> {
  return page.evaluate(
    ([wanted, wantedField]) => {
      const row = [...document.querySelectorAll('#clients tr[data-client]')].find((tr) => tr.getAttribute('data-client') === wanted)
      return row?.querySelector(`[data-field="${wantedField}"]`)?.textContent ?? null
    },
    [name, field] as const,
  )
}

function waitForClientRequests(page: Page, name: string, requests: number): Promise<unknown> {
  return page.waitForFunction(
    ([wanted, count]) => {
      const row = [...document.querySelectorAll('#clients tr[data-client]')].find((tr) => tr.getAttribute('data-client') === wanted)
      return row?.querySelector('[data-field="requests"]')?.textContent === String(count)
    },
    [name, requests] as const,
    { timeout: WAIT_MS },
  )
}

/**
 * The status of the browser's answer for `url`. Headless Chromium with no credentials to offer turns a 401
 * challenge into a failed navigation (ERR_INVALID_AUTH_CREDENTIALS), so the answer is read off the
 * response event rather than off goto().
 */
async function pageStatus(context: BrowserContext, url: string): Promise<number> {
  const page = await context.newPage()
  const answered = page.waitForResponse((res) => res.url() === url, { timeout: WAIT_MS })
  await page.goto(url).catch(() => undefined)
  return (await answered).status()
}

const skip = needs(t, CHROMIUM, 'apt-get install chromium (.ci/run does it)')

t.test('the status page shows the relay as /status.json reports it and keeps up', { skip }, async (t) => {
  upstream = await new MockUpstream().start()
  upstream.handler = (_req, res) => ok(res)
  const deadPort = await closedPort()
  relay = await startRelay(`logging: { level: info, format: json }
server:
  auth:
    groups:
      - { name: opus-users, models: ["claude-opus-*"], deny_models: ["claude-opus-3"], rpm_limit: 500, budget: { usd: 5, period: month } }
    clients:
      - { name: ${ALICE.name}, key: ${ALICE.key}, group: opus-users, rpm_limit: 100, budget: { usd: 0.01, period: month } }
      - { name: ${JSON.stringify(BOB.name)}, key: ${BOB.key}, max_concurrent: 4 }
  admin: { api_key: ${ADMIN_KEY} }
providers:
  - { name: dead, type: anthropic, base_url: "http://127.0.0.1:${deadPort}", priority: 2, keys: [{ key: dead-key }] }
  - name: main
    type: anthropic
    base_url: "${upstream.url}"
    priority: 1
    keys: [{ key: main-key-1, rpm_limit: 50 }, { key: main-key-2, rpm_limit: 60 }]
`)
  const r = relay
  for (let i = 0; i < 3; i++) t.equal(await send(r, ALICE.key), 200, 'alice is answered (after failing over from dead)')
  for (let i = 0; i < 2; i++) t.equal(await send(r, BOB.key), 200, 'bob is answered')
  const before = await snapshot(r)
  const aliceBefore = before.clients.find((c) => c.name === ALICE.name)!.requests
  const bobBefore = before.clients.find((c) => c.name === BOB.name)!.requests
  t.equal(aliceBefore, 3, '/status.json counts alice')
  t.ok(before.recent_failovers.length > 0, '/status.json has a failover to show')

  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
  const context = await browser.newContext({ httpCredentials: { username: 'admin', password: ADMIN_KEY } })
  const page = await context.newPage()
  const response = await page.goto(`${r.url}/status`)
  t.equal(response?.status(), 200, 'the admin key as Basic password opens the page')
  await page.locator('#last-refresh[data-at]').waitFor({ timeout: WAIT_MS })

  t.test('providers and their keys', async (t) => {
    for (const provider of before.providers) {
      const body = page.locator(`#providers tbody[data-provider="${provider.name}"]`)
      t.equal(await body.count(), 1, `provider ${provider.name} has its rows`)
      t.match(await body.locator('[data-field="name"]').textContent(), provider.name)
      t.same(await body.locator('[data-field="hash"]').allTextContents(), provider.keys.map((k) => k.hash), `${provider.name}'s key hashes as /status.json has them`)
    }
    const mainRpm = await page.locator('#providers tbody[data-provider="main"] [data-field="rpm"]').allTextContents()
    t.match(mainRpm[0], /\/ 50$/, 'rpm used against the key limit')
    t.match(mainRpm[1], /\/ 60$/)
    t.match(await page.locator('#providers tbody[data-provider="dead"] [data-field="rpm"]').textContent(), /\/ ∞$/, 'no limit shows as ∞')
    t.equal(await page.locator('#providers tbody[data-provider="main"] [data-field="breaker"]').textContent(), 'closed')
    const rendered = await page.content()
    for (const key of ['dead-key', 'main-key-1', 'main-key-2', ALICE.key, BOB.key, ADMIN_KEY]) t.notOk(rendered.includes(key), 'the rendered page shows no configured key')
  })

  t.test('team clients with their counts, names shown as text', async (t) => {
    t.equal(await clientField(page, ALICE.name, 'requests'), String(aliceBefore))
    t.equal(await clientField(page, BOB.name, 'requests'), String(bobBefore))
    t.equal(await clientField(page, BOB.name, 'name'), BOB.name, 'the markup in the name is shown literally')
    t.equal(await page.locator('#clients i').count(), 0, 'and never parsed into elements')
    t.equal(await clientField(page, ALICE.name, 'rpm'), `${before.clients.find((c) => c.name === ALICE.name)!.rpm.used} / 100`)
    t.equal(await clientField(page, BOB.name, 'max-concurrent'), '4')
    t.match(await clientField(page, ALICE.name, 'cost'), /^\$\d+\.\d{4}$/, 'estimated cost in USD with 4 decimals')
    t.equal(await page.locator('#usage tr[data-provider="main"][data-model="claude-opus-4-8"]').count(), 1, 'usage per provider and model')
    t.equal(await clientField(page, ALICE.name, 'cache-hit'), '0.0 %', 'the prompt-cache hit rate (no cache reads here)')
    t.match(await page.locator('#sessions').textContent(), /no Claude Code sessions in the last hour/, 'no session header, no sessions')
  })

  t.test("alice's budget as a bar, and 30 days of spend as an inline SVG chart", async (t) => {
    // 3 requests of 10 input and 5 output tokens at Opus 4's $15 / $75 per million: $0.001575 of $0.01.
    const budget = before.budgets.find((b) => b.client === ALICE.name)!
    t.equal(budget.spent_usd.toFixed(6), '0.001575', "/status.json has alice's spend this month")
    const row = page.locator(`#budgets tr[data-client="${ALICE.name}"]`)
    t.equal(await row.locator('[data-field="spent"]').textContent(), '$0.0016')
    t.equal(await row.locator('[data-field="budget"]').textContent(), '$0.01')
    t.equal(await row.locator('[data-field="period"]').textContent(), 'month')
    t.equal(await row.locator('[data-field="bar"]').getAttribute('data-percent'), '16', 'the bar is 16 % full')
    const fill = await row.locator('[data-field="bar"] > div').evaluate((d) => (d as HTMLElement).getBoundingClientRect().width / (d.parentElement as HTMLElement).getBoundingClientRect().width)
    t.ok(fill > 0.1 && fill < 0.2, `the bar's fill is drawn at that width (${fill.toFixed(2)})`)
    const bars = page.locator('#spend-chart svg rect')
    t.equal(await bars.count(), 30, 'one bar per day')
    const today = page.locator('#spend-chart svg rect.today')
    t.equal(await today.getAttribute('data-day'), new Date().toISOString().slice(0, 10))
    t.ok(Number(await today.getAttribute('height')) > 0, "today's bar has height")
    t.match(await page.locator('#spend-chart [data-field="caption"]').textContent(), /last 30 days/)
    t.match(await page.locator('#rules').textContent(), /no routing rules/, 'no rules here: the rules table says so')
  })

  t.test("groups: members, policy and pooled limits; each client's group and models", async (t) => {
    const row = page.locator('#groups tr[data-group="opus-users"]')
    t.equal(await row.locator('[data-field="members"]').textContent(), ALICE.name)
    t.equal(await row.locator('[data-field="models"]').textContent(), 'claude-opus-*')
    t.equal(await row.locator('[data-field="denied"]').textContent(), 'claude-opus-3')
    t.match(await row.locator('[data-field="rpm"]').textContent(), /\/ 500$/, 'the pooled rpm limit')
    t.equal(await clientField(page, ALICE.name, 'group'), 'opus-users')
    t.equal(await clientField(page, ALICE.name, 'models'), 'claude-opus-*')
    t.equal(await clientField(page, BOB.name, 'models'), 'every model')
    const pool = page.locator('#budgets tr[data-scope="group_pool"]')
    t.equal(await pool.locator('[data-field="name"]').textContent(), 'group opus-users (pool)')
  })

  t.test('failovers', async (t) => {
    const newest = before.recent_failovers[0]!
    const row = page.locator(`#failovers tr[data-request-id="${newest.request_id}"]`)
    t.equal(await row.count(), 1, 'the newest failover has a row')
    t.equal(await row.locator('[data-field="provider"]').textContent(), 'dead')
    t.equal(await row.locator('[data-field="reason"]').textContent(), newest.reason)
    t.equal(newest.scope, 'provider', 'a dead provider is a provider-wide failure')
    t.equal(await row.locator('[data-field="scope"]').textContent(), 'next provider')
    t.equal(await page.locator('#failover-count').textContent(), String(before.traffic.failovers))
  })

  t.test('new traffic appears without reloading the page', async (t) => {
    const refreshedAt = await page.locator('#last-refresh').getAttribute('data-at')
    for (let i = 0; i < 2; i++) t.equal(await send(r, ALICE.key), 200)
    const after = await snapshot(r)
    const aliceAfter = after.clients.find((c) => c.name === ALICE.name)!.requests
    t.equal(aliceAfter, aliceBefore + 2)
    await waitForClientRequests(page, ALICE.name, aliceAfter)
    t.pass('alice\'s request count went up on the page')
    t.not(await page.locator('#last-refresh').getAttribute('data-at'), refreshedAt, 'the refresh time moved on')
    t.ok(await page.locator('#disconnected').isHidden(), 'no disconnected banner while the relay answers')
  })

  t.test('without the admin key the page is refused', async (t) => {
    const anonymous = await browser!.newContext()
    t.equal(await pageStatus(anonymous, `${r.url}/status`), 401, 'no credentials: 401')
    await anonymous.close()
    const wrong = await browser!.newContext({ httpCredentials: { username: 'admin', password: `${ADMIN_KEY}-wrong` } })
    t.equal(await pageStatus(wrong, `${r.url}/status`), 401, 'a wrong password: 401')
    await wrong.close()
  })

  t.test('when the relay goes away the page says so and keeps the last data', async (t) => {
    const shown = await clientField(page, ALICE.name, 'requests')
    await r.stop()
    await page.locator('#disconnected').waitFor({ state: 'visible', timeout: WAIT_MS })
    t.match(await page.locator('#disconnected').textContent(), /disconnected — retrying/)
    t.equal(await clientField(page, ALICE.name, 'requests'), shown, 'the last numbers stay on screen')
    t.equal(await page.locator('#providers tbody[data-provider="main"]').count(), 1)
  })
})
