/**
 * Signed-in users on the status page and in /status.json (CONTRACT §12: what `cc-relay users` lists —
 * email, relay groups, last seen, spend this month), against a running relay with sign-in on: two
 * members sign in through the device flow, one of them spends, and a real browser (Debian's Chromium
 * through playwright-core) must show both as /status.json has them, with no token or secret anywhere.
 * A relay without sign-in says so (`users: null`).
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { chromium } from 'playwright-core'
import type { Browser, Page } from 'playwright-core'
import { needs } from '../helpers/requires.js'
import { SigninClient } from '../helpers/signin-flow.js'
import { POOLED_KEY, SECRET, signinWorld, USERS } from '../helpers/signin-setup.js'
import type { SigninWorld } from '../helpers/signin-setup.js'
import { MockUpstream } from '../helpers/mock-upstream.js'
import { oneProvider, startRelay } from '../helpers/relay.js'
import type { StatusSnapshot } from '../../src/admin/status.js'

// A sign-in world and a browser on a shared 2-core machine: more than tap's default 180 s per file.
t.setTimeout(480_000)
const CHROMIUM = '/usr/bin/chromium'
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
const WAIT_MS = 20_000
const ADMIN_KEY = `admin-${randomBytes(12).toString('hex')}`

async function snapshot(url: string): Promise<StatusSnapshot> {
  const res = await fetch(`${url}/status.json`, { headers: { authorization: `Bearer ${ADMIN_KEY}` }, signal: AbortSignal.timeout(10_000) })
  if (res.status !== 200) throw new Error(`/status.json answered ${res.status}`)
  return (await res.json()) as StatusSnapshot
}

function userField(page: Page, email: string, field: string): Promise<string | null> {
  return page.evaluate(
    ([wanted, wantedField]) => {
      const row = [...document.querySelectorAll('#users tr[data-user]')].find((tr) => tr.getAttribute('data-user') === wanted)
      return row?.querySelector(`[data-field="${wantedField}"]`)?.textContent ?? null
    },
    [email, field] as const,
  )
}

const skip = needs(t, CHROMIUM, 'apt-get install chromium (.ci/run does it)')

let world: SigninWorld | undefined
let browser: Browser | undefined
t.teardown(async () => {
  await browser?.close()
  await world?.close()
})

t.test('signed-in users: in /status.json and on the page, with no secret', async (t) => {
  world = await signinWorld({ server: `  admin: { api_key: ${ADMIN_KEY} }`, top: 'pricing: { "claude-sonnet-4-5*": { input: 3, output: 15 } }' })
  const { relay, idp } = world
  const client = new SigninClient(relay.url)
  idp.loginAs = USERS.alice.email
  const alice = await client.signIn()
  idp.loginAs = USERS.ivan.email
  const ivan = await client.signIn()
  const answer = await fetch(`${relay.url}/v1/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${alice.access_token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }),
    signal: AbortSignal.timeout(20_000),
  })
  t.equal(answer.status, 200, 'alice is answered')
  await answer.text()

  const s = await snapshot(relay.url)
  t.same(s.users?.map((u) => u.email), [USERS.alice.email, USERS.ivan.email], 'both members, by email')
  const a = s.users!.find((u) => u.email === USERS.alice.email)!
  t.same(a.groups, ['eng', 'everyone'], "alice's relay groups")
  t.equal(a.name, USERS.alice.name)
  t.ok(a.spend_usd_month > 0, `alice has spent this month ($${a.spend_usd_month})`)
  t.equal(s.users!.find((u) => u.email === USERS.ivan.email)!.spend_usd_month, 0, 'ivan has not')
  t.ok(Date.parse(a.last_seen) >= Date.parse(a.first_seen), 'first and last seen are times')
  t.equal(s.users_error, undefined)
  const secrets = [alice.access_token, alice.refresh_token!, ivan.access_token, SECRET, POOLED_KEY, ADMIN_KEY, world.idp.clientSecret]
  const text = JSON.stringify(s)
  t.notOk(secrets.some((x) => text.includes(x)), 'no token, signing secret, pooled key or IdP secret in /status.json')

  t.test('the page in a real browser', { skip }, async (t) => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
    const context = await browser.newContext({ httpCredentials: { username: 'admin', password: ADMIN_KEY } })
    const page = await context.newPage()
    t.equal((await page.goto(`${relay.url}/status`))?.status(), 200)
    await page.locator('#users tr[data-user]').first().waitFor({ timeout: WAIT_MS })
    t.equal(await userField(page, USERS.alice.email, 'email'), USERS.alice.email)
    t.equal(await userField(page, USERS.alice.email, 'groups'), 'eng, everyone')
    t.equal(await userField(page, USERS.alice.email, 'name'), USERS.alice.name)
    t.equal(await userField(page, USERS.alice.email, 'spend'), `$${a.spend_usd_month.toFixed(4)}`)
    t.match(await userField(page, USERS.alice.email, 'last-seen'), /^\d+(s|m|h|d) ago$/)
    t.equal(await userField(page, USERS.ivan.email, 'groups'), 'interns')
    t.equal(await userField(page, USERS.ivan.email, 'spend'), '$0.0000')
    // The member shows among the clients too, under the same email.
    await page.waitForFunction((email) => [...document.querySelectorAll('#clients tr[data-client]')].some((tr) => tr.getAttribute('data-client') === email), USERS.alice.email, { timeout: WAIT_MS })
    const rendered = await page.content()
    t.notOk(secrets.some((x) => rendered.includes(x)), 'the rendered page shows no token or secret')
  })
})

t.test('without sign-in: users is null and the page says sign-in is off', async (t) => {
  const upstream = await new MockUpstream().start()
  const relay = await startRelay(`${oneProvider(upstream.url)}\nserver: { admin: { api_key: ${ADMIN_KEY} } }\n`)
  t.teardown(async () => {
    await relay.stop()
    await upstream.close()
  })
  t.equal((await snapshot(relay.url)).users, null)
  t.test('the page', { skip }, async (t) => {
    browser ??= await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
    const context = await browser.newContext({ httpCredentials: { username: 'admin', password: ADMIN_KEY } })
    const page = await context.newPage()
    await page.goto(`${relay.url}/status`)
    await page.locator('#last-refresh[data-at]').waitFor({ timeout: WAIT_MS })
    t.match(await page.locator('#users').textContent(), /sign-in is off/)
    await context.close()
  })
})
