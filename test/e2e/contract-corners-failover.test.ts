/**
 * The failover scope table's untested rows (CONTRACT §6 "Failover scope", §3, issue 27 corner 5),
 * through the running relay with a second provider present:
 * - a 403 to a pooled key is key-scoped: the same provider's next key serves, the key is marked
 *   unusable, the backup provider is not asked;
 * - a TLS failure (an untrusted certificate; an `https` URL to a plain-HTTP port) or a connection reset
 *   before the head is provider-wide: one attempt on A, then B;
 * - breakers ignore 401/403: more refused keys than `failure_threshold` leave A's circuit closed.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { ServerResponse } from 'node:http'
import { MockUpstream } from '../helpers/mock-upstream.js'
import { startRelay } from '../helpers/relay.js'
import type { RunningRelay } from '../helpers/relay.js'
import type { StatusSnapshot } from '../../src/admin/status.js'

const MESSAGE = (who: string): string => `{"id":"msg_${who}","type":"message","role":"assistant","content":[{"type":"text","text":"from ${who}"}],"model":"m","stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}`

const relays: RunningRelay[] = []
const mocks: MockUpstream[] = []
t.teardown(async () => {
  await Promise.all(relays.map((r) => r.stop()))
  await Promise.all(mocks.map((m) => m.close()))
})
async function mock(handler: MockUpstream['handler'], tls?: { key: string; cert: string }): Promise<MockUpstream> {
  const m = await new MockUpstream(tls).start()
  m.handler = handler
  mocks.push(m)
  return m
}
async function relay(yaml: string): Promise<RunningRelay> {
  const r = await startRelay(`${/^routing:/m.test(yaml) ? '' : 'routing: { debug: true }\n'}logging: { level: info, format: json }\n${yaml}`)
  relays.push(r)
  return r
}
const answer = (who: string) => (_req: unknown, res: ServerResponse) => void res.writeHead(200, { 'content-type': 'application/json' }).end(MESSAGE(who))
const refuse = (status: number) => (_req: unknown, res: ServerResponse) =>
  void res.writeHead(status, { 'content-type': 'application/json' }).end(`{"type":"error","error":{"type":"${status === 401 ? 'authentication_error' : 'permission_error'}","message":"key refused with ${status}"}}`)

async function post(r: RunningRelay) {
  const res = await fetch(`${r.url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'claude-opus-4-8', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] }),
    signal: AbortSignal.timeout(30_000),
  })
  return { res, text: await res.text() }
}
const status = async (r: RunningRelay) => (await (await fetch(`${r.url}/status.json`, { signal: AbortSignal.timeout(10_000) })).json()) as StatusSnapshot

t.test("a 403 to A's pooled key is key-scoped: A's next key serves, the key is unusable, B is not asked", async (t) => {
  const a = await mock((req, res) => (req.headers['x-api-key'] === 'a-1' ? refuse(403)(req, res) : answer('A')(req, res)))
  const b = await mock(answer('B'))
  const r = await relay(`providers:
  - { name: A, type: anthropic, base_url: "${a.url}", priority: 2, keys: [{ key: a-1, priority: 2 }, { key: a-2, priority: 1 }] }
  - { name: B, type: anthropic, base_url: "${b.url}", priority: 1, keys: [{ key: b-1 }] }
`)
  const { res, text } = await post(r)
  t.equal(res.status, 200)
  t.equal(text, MESSAGE('A'), "A's second key answered")
  t.same(a.requests.map((q) => q.headers['x-api-key']), ['a-1', 'a-2'], "A's first key, then its second")
  t.equal(b.requests.length, 0, 'B was not asked')
  const snapshot = await status(r)
  t.equal(snapshot.recent_failovers[0]?.scope, 'key', 'the failover was key-scoped')
  const keys = snapshot.providers.find((p) => p.name === 'A')!.keys
  t.ok(keys[0]!.unusable, `a-1 is marked unusable (${keys[0]!.unusable})`)
  t.equal(keys[1]!.unusable, null, 'a-2 is not')
  await post(r)
  t.same(a.requests.map((q) => q.headers['x-api-key']), ['a-1', 'a-2', 'a-2'], 'the refused key is not tried again')
})

t.test('TLS failures and a reset before the head are provider-wide: one attempt on A (three keys), then B', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cc-relay-tls-'))
  const keyFile = join(dir, 'key.pem')
  const certFile = join(dir, 'cert.pem')
  // A certificate the relay has no reason to trust (no NODE_EXTRA_CA_CERTS): the handshake fails.
  await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { timeout: 60_000 })
  const tls = { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8') }
  // Each case: how A fails, and how many whole requests A receives (none when the handshake fails).
  const cases: [name: string, setup: () => Promise<{ url: string; upstream: MockUpstream }>, received: number][] = [
    ['an untrusted certificate', async () => { const m = await mock(answer('A'), tls); return { url: m.url, upstream: m } }, 0],
    ['https to a plain-HTTP port', async () => { const m = await mock(answer('A')); return { url: m.url.replace('http:', 'https:'), upstream: m } }, 0],
    ['a reset before the head', async () => { const m = await mock((req) => req.socket.destroy()); return { url: m.url, upstream: m } }, 1],
  ]
  for (const [name, setup, received] of cases) {
    const a = await setup()
    const b = await mock(answer('B'))
    const r = await relay(`providers:
  - { name: A, type: anthropic, base_url: "${a.url}", priority: 2, keys: [{ key: a-1 }, { key: a-2 }, { key: a-3 }] }
  - { name: B, type: anthropic, base_url: "${b.url}", priority: 1, keys: [{ key: b-1 }] }
`)
    const { res, text } = await post(r)
    t.equal(res.status, 200, `${name}: 200`)
    t.equal(text, MESSAGE('B'), `${name}: B's answer`)
    t.equal(res.headers.get('x-cc-relay-attempts'), '2', `${name}: one attempt on A, then B`)
    t.equal(a.upstream.requests.length, received, `${name}: A got ${received} whole request(s): one attempt, no retry on A's other keys`)
    t.equal(b.requests.length, 1, `${name}: B was asked once`)
    const line = await r.waitForLog((l) => l.msg === 'request' && l.status === 200)
    t.same((line.failovers as { provider: string; scope: string }[]).map((f) => [f.provider, f.scope]), [['A', 'provider']], `${name}: a provider-wide failover`)
    t.equal((await status(r)).providers.find((p) => p.name === 'A')!.breaker.failures, 1, `${name}: the breaker counted it`)
  }
})

t.test('breakers ignore 401/403 to pooled keys: four refused keys against failure_threshold 2 leave the circuit closed', async (t) => {
  const a = await mock((req, res) => refuse(Number(String(req.headers['x-api-key']).slice(-3)))(req, res))
  const b = await mock(answer('B'))
  const r = await relay(`health: { circuit_breaker: { failure_threshold: 2, open_duration_ms: 60000 }, health_check: { enabled: false } }
routing: { debug: true, max_attempts: 5 }
providers:
  - { name: A, type: anthropic, base_url: "${a.url}", priority: 2, keys: [{ key: k1-401, priority: 4 }, { key: k2-403, priority: 3 }, { key: k3-401, priority: 2 }, { key: k4-403, priority: 1 }] }
  - { name: B, type: anthropic, base_url: "${b.url}", priority: 1, keys: [{ key: b-1 }] }
`)
  const { res, text } = await post(r)
  t.equal(res.status, 200)
  t.equal(text, MESSAGE('B'), 'B served once every key of A was refused')
  t.same(a.requests.map((q) => q.headers['x-api-key']), ['k1-401', 'k2-403', 'k3-401', 'k4-403'], "each of A's keys once")
  const snapshot = await status(r)
  const breaker = snapshot.providers.find((p) => p.name === 'A')!.breaker
  t.equal(breaker.state, 'closed', 'four refusals, threshold 2: still closed')
  t.equal(breaker.failures, 0, 'none counted as a failure')
  t.same(snapshot.providers.find((p) => p.name === 'A')!.keys.map((k) => Boolean(k.unusable)), [true, true, true, true], 'every refused key is unusable')
})
