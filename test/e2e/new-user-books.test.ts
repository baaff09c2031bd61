/**
 * The books as a new user reads them (issue 27): `/usage.json` and `cc-relay usage` leave out the
 * dimensions not asked for (no "(shared key)" for every client together); refusals are requests and
 * errors, booked to no client when the caller is unknown; count_tokens is not a ledger request;
 * `cc-relay status` says each provider type's credential (CONTRACT §3) and shows budgets.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { closedPort } from '../helpers/ports.js'
import { MockUpstream } from '../helpers/mock-upstream.js'
import { BIN, startRelay } from '../helpers/relay.js'
import type { RunningRelay } from '../helpers/relay.js'
import { within } from '../helpers/wait.js'

const MESSAGE = '{"id":"msg_ok","type":"message","role":"assistant","content":[],"model":"claude-x","stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":10,"output_tokens":5}}'
const BODY = JSON.stringify({ model: 'claude-x', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] })
const signal = (): AbortSignal => AbortSignal.timeout(20_000)

/** The upstream answers messages and counts tokens like Anthropic's API. */
function anthropicLike(upstream: MockUpstream): void {
  upstream.handler = (req, res) => {
    if (req.url?.startsWith('/v1/messages/count_tokens')) return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"input_tokens":12}')
    res.writeHead(200, { 'content-type': 'application/json' }).end(MESSAGE)
  }
}

/** Stops a relay, SIGKILL if it has not exited 20 s after SIGTERM. */
async function stopRelay(relay: RunningRelay | undefined): Promise<void> {
  if (!relay || relay.child.exitCode !== null) return
  try {
    await within('the relay exits after SIGTERM', relay.stop(), 20_000)
  } catch {
    relay.child.kill('SIGKILL')
  }
}

interface Run {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

function cli(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr })
    })
  })
}

t.test('the books: dimensions not asked for are left out; refusals are requests and errors; count_tokens is not a ledger request', async (t) => {
  const upstream = await new MockUpstream().start()
  anthropicLike(upstream)
  const relay = await startRelay(`
server:
  auth:
    clients: [{ name: alice, key: alice-key }]
providers:
  - name: upstream
    type: anthropic
    base_url: "${upstream.url}"
    keys: [{ key: k }]
health: { health_check: { enabled: false } }
`)
  t.teardown(async () => {
    await stopRelay(relay)
    await upstream.close()
  })
  const post = (path: string, headers: Record<string, string>) => fetch(relay.url + path, { method: 'POST', headers, body: BODY, signal: signal() })
  const ok = await post('/v1/messages', { 'content-type': 'application/json', 'x-cc-relay-key': 'alice-key' })
  t.equal(ok.status, 200)
  await ok.arrayBuffer()
  const counted = await post('/v1/messages/count_tokens', { 'content-type': 'application/json', 'x-cc-relay-key': 'alice-key' })
  t.equal(counted.status, 200)
  t.same(await counted.json(), { input_tokens: 12 })
  const wrongKey = await post('/v1/messages', { 'content-type': 'application/json', 'x-cc-relay-key': 'nobody' })
  t.equal(wrongKey.status, 401)
  await wrongKey.arrayBuffer()
  const wrongType = await post('/v1/messages', { 'content-type': 'text/plain', 'x-cc-relay-key': 'alice-key' })
  t.equal(wrongType.status, 400)
  await wrongType.arrayBuffer()

  for (const by of ['provider', 'model', 'day']) {
    const res = await fetch(`${relay.url}/usage.json?by=${by}`, { signal: signal() })
    t.equal(res.status, 200)
    const rows = (await res.json()) as Record<string, unknown>[]
    t.equal(rows.length, 1, `by=${by}: one row`)
    t.notOk('client' in rows[0]!, `by=${by}: no client dimension (it was not asked for): ${JSON.stringify(rows[0])}`)
    t.equal(rows[0]!.requests, 1, `by=${by}: the messages request only; count_tokens is not booked as a ledger request`)
  }
  // The table the CLI prints from those rows (one run: the machine is shared, a run costs seconds).
  const table = await cli(['usage', '--url', relay.url, '--by', 'provider'])
  t.equal(table.code, 0, table.stderr)
  t.notMatch(table.stdout, /shared key/, 'usage --by provider does not call every client together "(shared key)"')
  t.notMatch(table.stdout.split('\n')[1] ?? '', /client/, 'usage --by provider: no client column')
  const byClient = (await (await fetch(`${relay.url}/usage.json?by=client`, { signal: signal() })).json()) as Record<string, unknown>[]
  t.same(byClient.map((r) => [r.client, r.requests]), [['alice', 1]], 'by=client: alice, one ledger request')

  const status = (await (await fetch(`${relay.url}/status.json`, { signal: signal() })).json()) as {
    traffic: { error_rate: number }
    clients: { name: string; requests: number; errors: number }[]
  }
  const alice = status.clients.find((c) => c.name === 'alice')
  t.equal(alice?.requests, 3, "alice's requests: the answer, the count and her refused request")
  t.equal(alice?.errors, 1, 'the 400 the relay gave her is an error')
  t.notOk(status.clients.find((c) => c.name === '' && c.requests > 0), `a caller with a wrong key is booked to no client: ${JSON.stringify(status.clients)}`)
  t.equal(Math.round(status.traffic.error_rate * 100), 50, 'traffic: 2 of 4 requests were errors (the 401 and the 400)')
  const line = await cli(['status', '--url', relay.url])
  t.match(line.stdout, /50\.0% errors/)
})

t.test("cc-relay status says each provider type's credential, and shows budgets", async (t) => {
  const dead = `http://127.0.0.1:${await closedPort()}`
  const relay = await startRelay(`
server:
  auth:
    allow_subscription: true
    clients: [{ name: alice, key: alice-key, budget: { usd: 10, period: month } }]
    groups: [{ name: eng, budget: { usd: 100, period: week } }]
providers:
  - { name: claude, type: anthropic, base_url: "${dead}" }
  - { name: aws, type: bedrock, base_url: "${dead}", aws_region: us-east-1, aws_access_key_id: AKIDEXAMPLE, aws_secret_access_key: secret }
  - { name: local, type: ollama, base_url: "${dead}" }
  - { name: gcp, type: vertex, base_url: "${dead}", gcp_project_id: my-project, gcp_region: us-east5 }
health: { health_check: { enabled: false } }
`)
  t.teardown(() => stopRelay(relay))
  const r = await cli(['status', '--url', relay.url])
  t.equal(r.code, 0, r.stderr)
  const block = (name: string): string => new RegExp(`^ {2}${name} \\(.*\\n(?: {4}.*\\n)*`, 'm').exec(r.stdout)?.[0] ?? ''
  t.match(block('claude'), /no pooled keys: client credentials forwarded/, 'anthropic with allow_subscription forwards the client credential')
  for (const name of ['aws', 'local', 'gcp']) t.notMatch(block(name), /client credentials forwarded/, `${name}: CONTRACT §3 — never a client credential`)
  t.match(block('aws'), /no pooled keys: AWS SigV4/)
  t.match(block('local'), /no pooled keys: no credential needed/)
  t.match(block('gcp'), /no pooled keys: Google OAuth/)
  t.match(r.stdout, /^budgets:\n {2}alice +\$0\.0000 of \$10\.00 this month, resets \d{4}-\d{2}-\d{2}/m, "alice's own budget")
  t.match(r.stdout, /^ {2}group eng +\$0\.0000 of \$100\.00 this week/m, "the group's pool")
})
