/**
 * The usage ledger and budgets (issue 16, CONTRACT §9) through the running relay with a real database
 * file: spend recorded per client, a budget of $0.001 against a $0.067 request (the first served, the
 * second refused with 429, `retry-after` to the UTC reset and `x-should-retry: false`, other clients
 * unaffected), the usage still there after a restart and after a `kill -9` 1.5 s after a request,
 * `cc-relay usage` in its three formats, the budget metrics, and 1-hour cache writes priced at 2×.
 */
import t from 'tap'
import { mkdtempSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MockUpstream } from '../helpers/mock-upstream.js'
import { run } from '../helpers/run.js'
import { BIN, startRelay } from '../helpers/relay.js'
import type { RunningRelay } from '../helpers/relay.js'
import { until } from '../helpers/wait.js'
import { RedisServer } from '../helpers/redis-server.js'
import { needs } from '../helpers/requires.js'
import type { StatusSnapshot } from '../../src/admin/status.js'

const mock = await new MockUpstream().start()
/** 1,000 input and 1,140 output tokens: $0.067 at $10 / $50 per million. */
mock.handler = (_req, res, recorded) => {
  const model = (JSON.parse(recorded.body.toString()) as { model: string }).model
  const usage = model === 'claude-cached' ? { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 3_000_000, cache_creation: { ephemeral_5m_input_tokens: 1_000_000, ephemeral_1h_input_tokens: 2_000_000 } } : { input_tokens: 1000, output_tokens: 1140 }
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 'msg_1', type: 'message', role: 'assistant', model, content: [{ type: 'text', text: 'ok' }], stop_reason: 'end_turn', stop_sequence: null, usage }))
}
const relays: RunningRelay[] = []
t.teardown(async () => {
  await Promise.all(relays.map((r) => r.stop()))
  await mock.close()
})

const dir = mkdtempSync(join(tmpdir(), 'cc-relay-ledger-'))
const DB = join(dir, 'state', 'usage.db')
const yaml = `server:
  auth:
    clients:
      - { name: alice, key: alice-key, budget: { usd: 0.001, period: day } }
      - { name: bob, key: bob-key }
  admin: { api_key: admin-key }
providers:
  - { name: main, type: anthropic, base_url: "${mock.url}", keys: [{ key: k }] }
pricing:
  "claude-priced": { input: 10, output: 50 }
  "claude-cached": { input: 1, output: 1 }
usage: { db: "${DB}" }
logging: { level: info, format: json }
`
const start = async (): Promise<RunningRelay> => {
  const r = await startRelay(yaml)
  relays.push(r)
  return r
}
const ask = (r: RunningRelay, key: string, model = 'claude-priced') =>
  fetch(`${r.url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-cc-relay-key': key },
    body: JSON.stringify({ model, max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
    signal: AbortSignal.timeout(20_000),
  })
const admin = { authorization: 'Bearer admin-key' }
type Row = { day?: string; client: string; provider?: string; model?: string; requests: number; input_tokens: number; output_tokens: number; cache_creation_input_tokens: number; cost_usd: number }
const usage = async (r: RunningRelay, query = 'by=client') => (await (await fetch(`${r.url}/usage.json?${query}`, { headers: admin })).json()) as Row[]
const secondsToUtcMidnight = (): number => Math.ceil((Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate() + 1) - Date.now()) / 1000)

let relay: RunningRelay

t.test('spend is recorded per client; a budget refuses the next request, and no one else', async (t) => {
  relay = await start()
  t.ok(existsSync(DB), 'the database file is created with its folder')
  const first = await ask(relay, 'alice-key')
  t.equal(first.status, 200, 'within budget: served')
  await first.text()
  const second = await ask(relay, 'alice-key')
  t.equal(second.status, 429, 'over budget: refused')
  const body = (await second.json()) as { type: string; error: { type: string; message: string } }
  // CONTRACT §10: Claude Code's gateway protocol shape for a spent budget.
  t.equal(body.error.type, 'billing_error')
  t.match(body.error.message, /^client alice's budget of \$0\.001 per day \(UTC\) is used up \(\$0\.067 spent\); it resets at \d{4}-\d\d-\d\dT00:00:00\.000Z, in \d+ (hours|minutes)$/)
  t.equal(second.headers.get('anthropic-ratelimit-unified-status'), 'rejected')
  t.equal(second.headers.get('anthropic-ratelimit-unified-overage-period'), 'daily')
  t.equal(second.headers.get('x-should-retry'), 'false')
  const retry = Number(second.headers.get('retry-after'))
  const expected = secondsToUtcMidnight()
  t.ok(retry >= expected - 5 && retry <= expected + 5, `retry-after ${retry} s is the time to the UTC reset (${expected} s)`)
  t.equal((await ask(relay, 'bob-key')).status, 200, 'bob has no budget: served')
  const rows = await usage(relay)
  const alice = rows.find((r) => r.client === 'alice')!
  t.equal(alice.requests, 1, "alice's refused request is not counted")
  t.equal(alice.input_tokens, 1000)
  t.equal(alice.output_tokens, 1140)
  t.equal(alice.cost_usd, 0.067, '$0.067')
  t.equal(rows.find((r) => r.client === 'bob')?.requests, 1)
  const full = await usage(relay, '')
  t.match(full[0], { day: new Date().toISOString().slice(0, 10), provider: 'main', model: 'claude-priced' }, 'by day, client, provider and model by default')
  const metrics = await (await fetch(`${relay.url}/metrics`, { headers: admin })).text()
  t.match(metrics, /cc_relay_budget_spent_usd\{client="alice"\} 0\.067/)
  t.match(metrics, /cc_relay_budget_limit_usd\{client="alice"\} 0\.001/)
  t.match(metrics, /cc_relay_rate_limited_total\{scope="budget"\} 1/)
  const status = (await (await fetch(`${relay.url}/status.json`, { headers: admin })).json()) as StatusSnapshot
  t.match(status.budgets, [{ client: 'alice', usd: 0.001, period: 'day', spent_usd: 0.067 }])
  t.equal(status.ledger?.store, `file ${DB}`)
  t.equal(status.ledger?.daily.length, 30)
  t.equal(status.ledger?.daily.at(-1)?.cost_usd, 0.067 * 2, "today's spend, every client")
})

t.test('1-hour cache writes are priced at 2× input, 5-minute ones at 1.25×', async (t) => {
  const res = await ask(relay, 'bob-key', 'claude-cached')
  t.equal(res.status, 200)
  await res.text()
  const rows = await usage(relay, 'by=client,model')
  const cached = rows.find((r) => r.model === 'claude-cached')!
  t.equal(cached.cache_creation_input_tokens, 3_000_000)
  t.equal(cached.cost_usd, 1 * 1.25 + 2 * 2, '$1.25 for 1M 5-minute writes, $4 for 2M 1-hour writes')
})

t.test('cc-relay usage in table, csv and json', async (t) => {
  const cli = (args: string[]) => run(process.execPath, [BIN, 'usage', '--url', relay.url, ...args], { env: { ...process.env, CC_RELAY_ADMIN_KEY: 'admin-key' } })
  const json = await cli(['--format', 'json', '--by', 'client'])
  t.equal(json.status, 0, json.stderr)
  t.same(JSON.parse(json.stdout), await usage(relay, 'by=client'), 'json: the rows /usage.json serves')
  const csv = await cli(['--format', 'csv', '--by', 'client'])
  t.equal(csv.status, 0)
  const lines = csv.stdout.trim().split('\n')
  t.equal(lines[0], 'client,requests,input_tokens,output_tokens,cache_read_input_tokens,cache_creation_input_tokens,cost_usd,cache_hit_rate')
  t.ok(lines.includes('alice,1,1000,1140,0,0,0.067,0'), 'a csv line per client')
  const table = await cli(['--by', 'client,model'])
  t.equal(table.status, 0)
  t.match(table.stdout, /alice\s+claude-priced\s+1\s+1,000\s+1,140\s+0\s+0\s+0\.0670/)
  const bad = await cli(['--since', '2026-13-45'])
  t.equal(bad.status, 2, 'a bad day is a usage error')
  const wrongKey = await run(process.execPath, [BIN, 'usage', '--url', relay.url], { env: { ...process.env, CC_RELAY_ADMIN_KEY: 'nope' } })
  t.equal(wrongKey.status, 1)
  t.match(wrongKey.stderr, /refused the admin key/)
})

t.test('after a restart the usage is there and the budget still holds', async (t) => {
  t.equal(await relay.stop(), 0)
  relay = await start()
  t.equal((await usage(relay)).find((r) => r.client === 'alice')?.cost_usd, 0.067)
  t.equal((await ask(relay, 'alice-key')).status, 429, 'still over budget')
})

t.test('kill -9 1.5 s after a request loses nothing of it', async (t) => {
  const before = (await usage(relay)).find((r) => r.client === 'bob')!.requests
  const res = await ask(relay, 'bob-key')
  t.equal(res.status, 200)
  await res.text()
  await new Promise((r) => setTimeout(r, 1500))
  relay.child.kill('SIGKILL')
  await new Promise((r) => relay.child.once('exit', r))
  relay = await start()
  t.equal((await usage(relay)).find((r) => r.client === 'bob')?.requests, before + 1, "the request is in the ledger")
  t.equal((await ask(relay, 'alice-key')).status, 429, 'the budget still holds')
})

t.test('a reload changes a budget at once', async (t) => {
  const { writeFileSync } = await import('node:fs')
  const reloads = () => relay.logs.filter((l) => String(l.msg).startsWith('config reload')).length
  const seen = reloads()
  writeFileSync(relay.configFile, yaml.replace('budget: { usd: 0.001, period: day }', 'budget: { usd: 5, period: month }'))
  await until('the reload', () => reloads() > seen)
  t.equal((await ask(relay, 'alice-key')).status, 200, 'a larger monthly budget: served again')
})

t.test('two relays on one file: both write it, neither loses the other\'s rows', async (t) => {
  const shared = join(dir, 'shared', 'usage.db')
  const both = yaml.replace(`usage: { db: "${DB}" }`, `usage: { db: "${shared}" }`)
  const a = await startRelay(both)
  const b = await startRelay(both)
  relays.push(a, b)
  // Interleaved, so both relays' batches land in the same seconds.
  for (let i = 0; i < 10; i++) {
    const [ra, rb] = await Promise.all([ask(a, 'bob-key'), ask(b, 'bob-key')])
    await Promise.all([ra.text(), rb.text()])
  }
  await until('each relay reads the other\'s rows from the file', async () => (await usage(a)).find((r) => r.client === 'bob')?.requests === 20 && (await usage(b)).find((r) => r.client === 'bob')?.requests === 20, 10_000, 250)
  t.equal(await a.stop(), 0)
  t.equal(await b.stop(), 0)
  const again = await startRelay(both)
  relays.push(again)
  t.equal((await usage(again)).find((r) => r.client === 'bob')?.requests, 20, 'the file holds all 20 after both stopped')
})

const noRedis = needs(t, 'redis-server', 'apt-get install redis-server (.ci/run does it)')
t.test('two relays on one Redis: the ledger and the budget are shared (spent on A, refused on B)', { skip: noRedis }, async (t) => {
  const redis = await new RedisServer().start()
  t.teardown(() => redis.stop())
  const shared = yaml.replace(`usage: { db: "${DB}" }`, `state: { store: redis, redis: { url: "${redis.url}", key_prefix: "ledger-${process.pid}:" } }`)
  const a = await startRelay(shared)
  const b = await startRelay(shared)
  relays.push(a, b)
  t.equal((await ask(b, 'alice-key')).status, 200, 'within budget on B')
  const spent = await ask(a, 'alice-key')
  t.equal(spent.status, 200, "A has not seen B's spend yet, or it has: either way the first on A may be served")
  await spent.text()
  // Within a write (≤ 1 s) and a read back (≤ 1 s), each relay has every relay's spend.
  await until('B refuses alice', async () => (await ask(b, 'bob-key'), (await ask(b, 'alice-key')).status === 429), 10_000, 250)
  t.equal((await ask(a, 'alice-key')).status, 429, 'and A too')
  t.equal((await ask(a, 'bob-key')).status, 200, 'bob is unaffected')
  // Each relay writes its batch within a second; the reports then agree.
  const alice = async (r: RunningRelay) => JSON.stringify((await usage(r)).find((row) => row.client === 'alice'))
  await until('both relays report the same rows', async () => (await alice(a)) === (await alice(b)) && JSON.parse(await alice(a)).requests === 2, 10_000, 250)
  const rowsA = await usage(a)
  const rowsB = await usage(b)
  t.same(rowsA.find((r) => r.client === 'alice'), rowsB.find((r) => r.client === 'alice'), 'both relays report the same rows')
  t.equal(rowsA.find((r) => r.client === 'alice')?.requests, 2, "alice's two served requests, one on each relay")
  t.notOk(existsSync(join(a.configFile, '..', 'cc-relay', 'usage.db')), 'no file is opened with the Redis store')

  // Redis goes away: usage is kept, counted, logged once, and written when Redis is back.
  await redis.stop()
  for (let i = 0; i < 3; i++) t.equal((await ask(a, 'bob-key')).status, 200, 'served while Redis is away')
  const unwritten = async () => Number(/^cc_relay_usage_unwritten_rows (\d+)$/m.exec(await (await fetch(`${a.url}/metrics`, { headers: admin })).text())?.[1])
  await until('the unwritten rows show in the metrics', async () => (await unwritten()) > 0)
  await a.waitForLog((l) => String(l.msg).startsWith('usage ledger: write failed'))
  await redis.start()
  await a.waitForLog((l) => l.msg === 'usage ledger: writing again')
  await until('nothing is left unwritten', async () => (await unwritten()) === 0)
  t.equal(a.logs.filter((l) => String(l.msg).startsWith('usage ledger: write failed')).length, 1, 'the outage was logged once')
  // The restarted redis-server starts empty (no persistence in tests): what it holds is what came back.
  const { Redis } = await import('ioredis')
  const cli = new Redis(redis.url)
  const day = new Date().toISOString().slice(0, 10)
  t.equal(await cli.hget(`ledger-${process.pid}:usage:${day}`, 'bob\u0000main\u0000claude-priced\u0000\u0000requests'), '3', 'the three requests made while Redis was away')
  cli.disconnect()
})
