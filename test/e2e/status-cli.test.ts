/**
 * `cc-relay status` as users run it, against a running relay with an admin key: the summary names what
 * /status.json reports, a missing or wrong key and an unreachable relay end in exit 1 with a one-line
 * reason, the URL and key can come from the relay's own config file, and the admin key is never printed.
 */
import t from 'tap'
import type { Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ServerResponse } from 'node:http'
import { closedPort } from '../helpers/ports.js'
import { MockUpstream } from '../helpers/mock-upstream.js'
import { BIN, startRelay } from '../helpers/relay.js'
import type { RunningRelay } from '../helpers/relay.js'
import type { StatusSnapshot } from '../../src/admin/status.js'

const ADMIN_KEY = `admin-${randomBytes(12).toString('hex')}`
const CLIENTS = [
  { name: 'alice', key: `alice-${randomBytes(8).toString('hex')}` },
  { name: 'bob', key: `bob-${randomBytes(8).toString('hex')}` },
]
const MESSAGE = '{"id":"msg_ok","type":"message","role":"assistant","content":[],"model":"m","stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":10,"output_tokens":5}}'
const ok = (res: ServerResponse): void => void res.writeHead(200, { 'content-type': 'application/json' }).end(MESSAGE)
// No config in the working folder or the home folder, so only what each case passes counts.
const EMPTY_DIR = mkdtempSync(join(tmpdir(), 'cc-relay-status-cli-'))

let relay: RunningRelay | undefined
let upstream: MockUpstream | undefined
t.teardown(async () => {
  await relay?.stop()
  await upstream?.close()
})

function status(args: string[], adminKey: string | undefined): { code: number | null; stdout: string; stderr: string } {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: EMPTY_DIR }
  delete env['CC_RELAY_ADMIN_KEY']
  if (adminKey !== undefined) env['CC_RELAY_ADMIN_KEY'] = adminKey
  const run = spawnSync(process.execPath, [BIN, 'status', ...args], { cwd: EMPTY_DIR, env, encoding: 'utf8', timeout: 30_000 })
  return { code: run.status, stdout: run.stdout, stderr: run.stderr }
}

t.test('cc-relay status', async (t) => {
  upstream = await new MockUpstream().start()
  upstream.handler = (_req, res) => ok(res)
  const port = await closedPort()
  // The config names the port the relay really listens on, so `--config` alone must find it.
  relay = await startRelay(
    `logging: { level: info, format: json }
server:
  listen: "127.0.0.1:${port}"
  auth:
    clients:
${CLIENTS.map((c) => `      - { name: ${c.name}, key: ${c.key}, rpm_limit: 40 }`).join('\n')}
  admin: { api_key: ${ADMIN_KEY} }
providers:
  - name: main
    type: anthropic
    base_url: "${upstream.url}"
    keys: [{ key: main-key-1, rpm_limit: 50 }, { key: main-key-2, rpm_limit: 60 }]
  - { name: spare, type: anthropic, base_url: "${upstream.url}", priority: 0, keys: [{ key: spare-key }] }
`,
    { args: ['--listen', `127.0.0.1:${port}`] },
  )
  const r = relay
  t.equal(r.url, `http://127.0.0.1:${port}`, 'the relay listens where its config says')
  const configFile = String((await r.waitForLog((l) => l.msg === 'listening')).config)
  for (const client of [...CLIENTS, CLIENTS[0]!]) {
    const res = await fetch(`${r.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-cc-relay-key': client.key },
      body: '{"model":"claude-opus-4-8","max_tokens":50,"messages":[]}',
    })
    t.equal(res.status, 200)
    await res.arrayBuffer()
  }
  const snapshotRes = await fetch(`${r.url}/status.json`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })
  const snapshot = (await snapshotRes.json()) as StatusSnapshot
  const hashes = snapshot.providers.flatMap((p) => p.keys.map((k) => k.hash))
  t.equal(hashes.length, 3)

  const summarises = (t: Test, out: string): void => {
    for (const p of snapshot.providers) t.match(out, new RegExp(`^  ${p.name} \\(anthropic\\)  breaker closed`, 'm'), `provider ${p.name} with its breaker`)
    for (const hash of hashes) t.match(out, new RegExp(`^    ${hash}  .*rpm (\\d+/(50|60)|–/∞)`, 'm'), `key ${hash} with its rpm`)
    const alice = snapshot.clients.find((c) => c.name === 'alice')!
    t.equal(alice.requests, 2)
    t.match(out, /^ {2}alice\s+2 requests, 0 errors, .*rpm \d+\/40/m, 'alice with her requests and limit')
    t.match(out, /^ {2}bob\s+1 request, 0 errors/m, 'bob with his')
    t.match(out, /^ {2}main \/ claude-opus-4-8 {2}3 requests/m, 'usage per provider and model')
  }

  t.test('--url with CC_RELAY_ADMIN_KEY prints the summary', async (t) => {
    const run = status(['--url', r.url], ADMIN_KEY)
    t.equal(run.code, 0, run.stderr)
    t.match(run.stdout, new RegExp(`^cc-relay ${snapshot.relay.version} at ${r.url}: up `))
    summarises(t, run.stdout)
    t.notMatch(run.stdout + run.stderr, ADMIN_KEY, 'the admin key is never printed')
  })

  t.test('--config alone finds the URL and the admin key in the relay config', async (t) => {
    const run = status(['--config', configFile], undefined)
    t.equal(run.code, 0, run.stderr)
    summarises(t, run.stdout)
    t.notMatch(run.stdout + run.stderr, ADMIN_KEY, 'the admin key is never printed')
  })

  t.test('a wrong admin key: exit 1 and a hint about the key', async (t) => {
    const wrongKey = `${ADMIN_KEY}-wrong`
    const run = status(['--url', r.url], wrongKey)
    t.equal(run.code, 1)
    t.equal(run.stdout, '')
    t.match(run.stderr, /admin key/)
    t.match(run.stderr, /CC_RELAY_ADMIN_KEY/)
    t.equal(run.stderr.trim().split('\n').length, 1, 'one line')
    t.notMatch(run.stderr, wrongKey, 'the key given is not echoed either')
    // The environment wins over the config, so a wrong one there is refused even with the right config.
    const envWins = status(['--config', configFile], wrongKey)
    t.equal(envWins.code, 1)
    t.match(envWins.stderr, /admin key/)
  })

  t.test('no admin key at all: exit 1 saying it is needed', async (t) => {
    const run = status(['--url', r.url], undefined)
    t.equal(run.code, 1)
    t.match(run.stderr, /needs the admin key/)
  })

  t.test('an unreachable relay: exit 1', async (t) => {
    const closed = await closedPort()
    const run = status(['--url', `http://127.0.0.1:${closed}`], ADMIN_KEY)
    t.equal(run.code, 1)
    t.equal(run.stdout, '')
    t.match(run.stderr, new RegExp(`cannot reach the relay at http://127\\.0\\.0\\.1:${closed}`))
    t.notMatch(run.stderr, ADMIN_KEY)
  })
})
