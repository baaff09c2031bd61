/**
 * The real Claude Code CLI (the pinned release) signs in to the running relay with the gateway
 * protocol, over loopback HTTP and over HTTPS (server.tls, a self-signed certificate the CLI is told to
 * trust): `claude auth login --gateway-json` driven by the test, the browser part done by real Chromium
 * against the mock IdP; `claude auth status` then reports the gateway; a plain `claude -p` gets the mock
 * upstream's answer through the relay, having refreshed its token (token_ttl_s 240 is under the CLI's
 * 5-minute refresh margin) and applied the group's managed settings (their custom header reaches the
 * upstream); the upstream received the pooled key, never the relay's token.
 */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { X509Certificate } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import type { Browser } from 'playwright-core'
import { pinnedClaude } from '../helpers/claude-cli.js'
import { cliEnv, gatewayHome, gatewayLogin, runCli } from '../helpers/claude-gateway.js'
import { needs } from '../helpers/requires.js'
import { POOLED_KEY, signinWorld, USERS } from '../helpers/signin-setup.js'

const CHROMIUM = '/usr/bin/chromium'
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

t.setTimeout(600_000)

const noChromium = needs(t, CHROMIUM, 'apt-get install chromium')
const cli = pinnedClaude(t)
const skip = noChromium || cli.skip

function selfSigned(): { certFile: string; keyFile: string; fingerprint: string } {
  const dir = mkdtempSync(join(tmpdir(), 'cc-relay-signin-tls-'))
  const keyFile = join(dir, 'key.pem')
  const certFile = join(dir, 'cert.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1', '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' })
  const fingerprint = new X509Certificate(readFileSync(certFile)).fingerprint256.replace(/:/g, '').toLowerCase()
  return { certFile, keyFile, fingerprint }
}

let browser: Browser | undefined
t.teardown(() => browser?.close())

for (const scheme of ['http', 'https'] as const) {
  t.test(`Claude Code signs in over ${scheme === 'http' ? 'loopback HTTP' : 'HTTPS'} and works through the relay`, { skip }, async (t) => {
    const bin = cli.bin!
    browser ??= await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
    const tls = scheme === 'https' ? selfSigned() : undefined
    const world = await signinWorld({
      server: tls ? `  tls: { cert_file: "${tls.certFile}", key_file: "${tls.keyFile}" }` : '',
      sso: '      token_ttl_s: 240',
    })
    t.teardown(() => world.close())
    const { idp, upstream, relay } = world
    t.match(relay.url, `${scheme}://127.0.0.1:`)
    idp.loginAs = USERS.alice.email
    const home = gatewayHome(relay.url)
    const env = cliEnv(home, tls ? { NODE_EXTRA_CA_CERTS: tls.certFile } : {})

    const context = await browser.newContext({ ignoreHTTPSErrors: true })
    t.teardown(() => context.close())
    const cookies: string[] = []
    const approve = async (url: string): Promise<void> => {
      const page = await context.newPage()
      page.on('response', (r) => {
        if (r.request().method() === 'POST' && new URL(r.url()).pathname === '/device') void r.headerValue('set-cookie').then((c) => c && cookies.push(c))
      })
      await page.goto(url)
      t.match(await page.textContent('.code'), /^[A-Z]{4}-[A-Z]{4}$/, 'the page shows the code')
      await page.click('button[value=approve]')
      await page.waitForSelector('text=You are signed in', { timeout: 20_000 })
    }
    const login = await gatewayLogin(bin, env, home, approve)
    t.equal(login.code, 0, `login exits 0\n${login.stderr}\n${JSON.stringify(login.states)}`)
    const byState = new Map(login.states.map((s) => [s.state, s]))
    t.equal(byState.get('url_input')?.shown, relay.url, 'the gateway URL from managed settings')
    if (!tls) t.equal(byState.get('trust_prompt')?.shown, 'http-loopback', 'plain HTTP is trusted for loopback only')
    else t.equal(String(byState.get('trust_prompt')?.shown).replace(/:/g, '').toLowerCase(), tls.fingerprint, 'the certificate fingerprint is pinned')
    t.match(byState.get('polling')?.browserUrl, `${relay.url}/device?user_code=`)
    t.equal(byState.get('confirm_account')?.shown, USERS.alice.email, 'the email from the token response is confirmed')
    t.ok(byState.has('done'))
    t.equal(cookies.length, 1, 'the device page set its flow cookie once')
    if (tls) t.match(cookies[0], /^__Host-cc_relay_signin=[^;]+; Max-Age=600; Path=\/; HttpOnly; SameSite=Lax; Secure$/, 'HttpOnly, SameSite=Lax, Secure under https')
    else t.match(cookies[0], /^cc_relay_signin=[^;]+; Max-Age=600; Path=\/; HttpOnly; SameSite=Lax$/, 'HttpOnly, SameSite=Lax')

    const status = await runCli(bin, ['auth', 'status'], env, home)
    t.equal(status.code, 0, status.stderr)
    t.match(JSON.parse(status.stdout), { loggedIn: true, apiProvider: 'gateway', email: USERS.alice.email })

    const refreshesBefore = idp.refreshesOf(USERS.alice.email)
    const print = await runCli(bin, ['-p', 'Say pong.', '--output-format', 'text'], env, home)
    t.equal(print.code, 0, print.stderr)
    t.match(print.stdout, /PONG from the mock upstream/)
    const sent = upstream.requests.filter((r) => r.url.startsWith('/v1/messages'))
    t.ok(sent.length > 0, 'the relay sent the message upstream')
    for (const r of sent) {
      t.equal(r.headers['x-api-key'], POOLED_KEY, 'the pooled key')
      t.equal(r.headers['authorization'], undefined, 'not the relay token')
    }
    t.equal(sent[sent.length - 1]!.headers['x-team-marker'], 'eng', "the group's managed settings applied (its custom header)")
    t.ok(idp.refreshesOf(USERS.alice.email) > refreshesBefore, 'claude -p refreshed its token, and the relay asked the IdP')
    await relay.waitForLog((l) => l.route === 'signin' && l.path === '/managed/settings')
    const seen = (path: string, status: number) => relay.logs.some((l) => l.route === 'signin' && l.path === path && l.status === status)
    t.ok(seen('/managed/settings', 200), 'the relay served /managed/settings')
    t.ok(relay.logs.filter((l) => l.route === 'signin' && l.path === '/oauth/token' && l.status === 200).length >= 2, 'device grant and refresh grants answered')
    // Log lines are flushed every 200 ms: wait for it (with a deadline) rather than read too early.
    const line = await relay.waitForLog((l) => l.route === 'messages' && l.client === USERS.alice.email)
    t.equal(line.status, 200, 'the request is hers')
  })
}
