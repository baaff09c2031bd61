/**
 * Prompt-cache figures (issue 25): through the running relay, the hit rate
 * `cache_read / (input + cache_read + cache_creation)` per client, provider, model and day in the ledger
 * (`/usage.json`, `cc-relay usage`), the status page's snapshot (`/status.json`: clients, models, and the
 * busiest Claude Code sessions of the last hour, named by a short form of their id), and
 * `cc_relay_tokens_total{kind}` in `/metrics` — each matching the usage the mock upstream answered.
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { MockUpstream, sse } from '../helpers/mock-upstream.js'
import { BIN, startRelay } from '../helpers/relay.js'
import type { StatusSnapshot } from '../../src/admin/status.js'

/** What the mock answers per model: one well-cached prompt, one that writes its cache. */
const USAGE: Record<string, { input_tokens: number; cache_read_input_tokens: number; cache_creation_input_tokens: number; output_tokens: number }> = {
  'claude-cached': { input_tokens: 100, cache_read_input_tokens: 800, cache_creation_input_tokens: 100, output_tokens: 10 },
  'claude-cold': { input_tokens: 500, cache_read_input_tokens: 0, cache_creation_input_tokens: 500, output_tokens: 20 },
}
const SESSION = '9d0c2b7e-1f4a-4c3b-8e6d-5a4b3c2d1e0f'

const mock = await new MockUpstream().start()
mock.handler = (_req, res, recorded) => {
  const { model, stream } = JSON.parse(recorded.body.toString()) as { model: string; stream?: boolean }
  const usage = USAGE[model]!
  if (!stream) {
    return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 'msg_c', type: 'message', role: 'assistant', model, content: [], stop_reason: 'end_turn', stop_sequence: null, usage }))
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' })
  res.end(sse([
    { type: 'message_start', message: { id: 'msg_c', type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 1 } } },
    { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
    { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'ok' } },
    { type: 'content_block_stop', index: 0 },
    { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: usage.output_tokens } },
    { type: 'message_stop' },
  ]))
}
const relay = await startRelay(`server:
  auth:
    clients:
      - { name: alice, key: alice-key }
      - { name: bob, key: bob-key }
providers:
  - { name: main, type: anthropic, base_url: "${mock.url}", keys: [{ key: k }] }
logging: { level: info, format: json }
`)
t.teardown(async () => {
  await relay.stop()
  await mock.close()
})

async function ask(key: string, model: string, session: string | undefined, stream: boolean): Promise<void> {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'x-cc-relay-key': key }
  if (session) headers['x-claude-code-session-id'] = session
  const res = await fetch(`${relay.url}/v1/messages`, { method: 'POST', headers, body: JSON.stringify({ model, max_tokens: 10, stream, messages: [{ role: 'user', content: 'hi' }] }) })
  await res.text()
  if (res.status !== 200) throw new Error(`${model}: ${res.status}`)
}

// alice: two cached prompts (streamed) and a cold one in her session; bob: a cold one in a session whose
// id is not a UUID, and a cached one with no session.
await ask('alice-key', 'claude-cached', SESSION, true)
await ask('alice-key', 'claude-cached', SESSION, true)
await ask('alice-key', 'claude-cold', SESSION, false)
await ask('bob-key', 'claude-cold', 'bob-session-not-a-uuid', true)
await ask('bob-key', 'claude-cached', undefined, false)

type Counters = { input_tokens: number; cache_read_input_tokens: number; cache_creation_input_tokens: number }
const sum = (...models: string[]): Counters =>
  models.reduce((a, m) => ({ input_tokens: a.input_tokens + USAGE[m]!.input_tokens, cache_read_input_tokens: a.cache_read_input_tokens + USAGE[m]!.cache_read_input_tokens, cache_creation_input_tokens: a.cache_creation_input_tokens + USAGE[m]!.cache_creation_input_tokens }), { input_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 })
/** The rate the issue defines, from what the mock answered. */
const rate = (c: Counters): number => c.cache_read_input_tokens / (c.input_tokens + c.cache_read_input_tokens + c.cache_creation_input_tokens)
const close = (a: unknown, b: number): boolean => typeof a === 'number' && Math.abs(a - b) < 1e-4

const alice = sum('claude-cached', 'claude-cached', 'claude-cold')
const bob = sum('claude-cold', 'claude-cached')
const cached = sum('claude-cached', 'claude-cached', 'claude-cached')
const cold = sum('claude-cold', 'claude-cold')

t.test('/usage.json: the hit rate per client, provider, model and day', async (t) => {
  const rows = (await (await fetch(`${relay.url}/usage.json?by=day,client,provider,model`)).json()) as Record<string, unknown>[]
  const row = (client: string, model: string) => rows.find((r) => r.client === client && r.model === model)
  t.ok(close(row('alice', 'claude-cached')?.cache_hit_rate, 0.8), 'alice, cached model: 80 %')
  t.equal(row('alice', 'claude-cold')?.cache_hit_rate, 0, 'alice, cold model: 0 %')
  t.equal(row('alice', 'claude-cached')?.provider, 'main')
  t.match(row('alice', 'claude-cached')?.day, /^\d{4}-\d{2}-\d{2}$/)
  const byClient = (await (await fetch(`${relay.url}/usage.json?by=client`)).json()) as Record<string, unknown>[]
  t.ok(close(byClient.find((r) => r.client === 'alice')?.cache_hit_rate, rate(alice)), `alice overall ${rate(alice).toFixed(4)}`)
  t.ok(close(byClient.find((r) => r.client === 'bob')?.cache_hit_rate, rate(bob)), `bob overall ${rate(bob).toFixed(4)}`)
  const byModel = (await (await fetch(`${relay.url}/usage.json?by=model`)).json()) as Record<string, unknown>[]
  t.ok(close(byModel.find((r) => r.model === 'claude-cached')?.cache_hit_rate, rate(cached)))
  t.ok(close(byModel.find((r) => r.model === 'claude-cold')?.cache_hit_rate, rate(cold)))
})

t.test('/status.json: hit rates per client and model, and the busiest sessions of the last hour', async (t) => {
  const s = (await (await fetch(`${relay.url}/status.json`)).json()) as StatusSnapshot
  t.ok(close(s.clients.find((c) => c.name === 'alice')?.cache_hit_rate, rate(alice)))
  t.ok(close(s.clients.find((c) => c.name === 'bob')?.cache_hit_rate, rate(bob)))
  t.ok(close(s.usage.find((u) => u.model === 'claude-cached')?.cache_hit_rate, rate(cached)))
  t.ok(close(s.usage.find((u) => u.model === 'claude-cold')?.cache_hit_rate, rate(cold)))
  t.equal(s.sessions.length, 2, 'two sessions (a request without the header is in none)')
  const [busiest, other] = s.sessions
  t.equal(busiest!.session, `${SESSION.slice(0, 8)}…`, 'a UUID is shown by its first block')
  t.match(busiest!, { client: 'alice', requests: 3, ...alice, cache_creation_input_tokens: alice.cache_creation_input_tokens })
  t.ok(close(busiest!.cache_hit_rate, rate(alice)))
  t.match(other!.session, /^#[0-9a-f]{8}$/, 'anything else by a short hash')
  t.match(other!, { client: 'bob', requests: 1, cache_hit_rate: 0 })
  const raw = JSON.stringify(s)
  t.notOk(raw.includes(SESSION) || raw.includes('bob-session-not-a-uuid'), 'no session id appears as sent')
})

t.test('/metrics: cc_relay_tokens_total by kind, provider, model and client', async (t) => {
  const text = await (await fetch(`${relay.url}/metrics`)).text()
  const tokens = (kind: string, model: string, client: string): number =>
    Number(new RegExp(`^cc_relay_tokens_total\\{provider="main",model="${model}",client="${client}",kind="${kind}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN)
  t.equal(tokens('cache_read', 'claude-cached', 'alice'), 1600)
  t.equal(tokens('cache_creation', 'claude-cached', 'alice'), 200)
  t.equal(tokens('input', 'claude-cached', 'alice'), 200)
  t.equal(tokens('cache_creation', 'claude-cold', 'bob'), 500)
  t.equal(tokens('output', 'claude-cold', 'alice'), 20)
  const hit = tokens('cache_read', 'claude-cached', 'alice') / (tokens('input', 'claude-cached', 'alice') + tokens('cache_read', 'claude-cached', 'alice') + tokens('cache_creation', 'claude-cached', 'alice'))
  t.ok(close(hit, 0.8), 'the rate a dashboard computes from the counters is the same')
})

// Last: the command line's runs take seconds, and a keep-alive connection idle that long may be closed.
t.test('cc-relay usage shows the same rates', async (t) => {
  const byClient = (await (await fetch(`${relay.url}/usage.json?by=client`)).json()) as Record<string, unknown>[]
  const cli = (format: string) => spawnSync(process.execPath, [BIN, 'usage', '--url', relay.url, '--by', 'client', '--format', format], { encoding: 'utf8', env: { ...process.env, CC_RELAY_ADMIN_KEY: '' } })
  const json = cli('json')
  t.equal(json.status, 0, json.stderr)
  t.same(JSON.parse(json.stdout), byClient, 'cc-relay usage --format json: the same rows')
  const table = cli('table')
  t.equal(table.status, 0, table.stderr)
  t.match(table.stdout, /cache_hit/)
  t.match(table.stdout, new RegExp(`alice .* ${(rate(alice) * 100).toFixed(1)} %`), 'the table shows alice\'s hit rate')
})
