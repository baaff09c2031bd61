/**
 * The usage ledger's untested corners (CONTRACT §9, issue 27 corners 2, 3 and part of 8), through the
 * running relay and a real ledger file:
 * - a stream is counted when it ends, not while it flows; a client that aborts mid-stream still has what
 *   reached the upstream counted; a failed attempt (an `event: error` before content, with usage in its
 *   `message_start`) is not counted, only the attempt that served;
 * - OpenAI's `prompt_tokens_details.cached_tokens` are booked as cache reads and priced at an explicit
 *   `cache_read`; an explicit `cache_write_1h` prices 1-hour writes;
 * - what was booked is flushed at shutdown: a SIGTERM right after the answer, before the 1 s batch;
 * - budgets of period `week` and `month` count from the ISO week's Monday and the month's first day
 *   (UTC), and a spent one answers with `retry-after` = seconds to that period's reset;
 * - `usage.retention_days` drops older rows from the file.
 *
 * Earlier days' spend is written into the ledger file before the relay starts, the way another relay
 * sharing the file would (LMDB, the layout documented in src/ledger/file-store.ts), so no test waits for
 * a week to pass.
 */
import t from 'tap'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ServerResponse } from 'node:http'
import { open } from 'lmdb'
import { MockUpstream, sse } from '../helpers/mock-upstream.js'
import { OpenAiMock } from '../helpers/openai-mock.js'
import { startRelay } from '../helpers/relay.js'
import type { RunningRelay } from '../helpers/relay.js'
import { until, within } from '../helpers/wait.js'

type Row = { day?: string; client: string; provider?: string; model?: string; requests: number; input_tokens: number; output_tokens: number; cache_read_input_tokens: number; cache_creation_input_tokens: number; cost_usd: number }

const DAY_MS = 86_400_000
const utcDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10)

const relays: RunningRelay[] = []
const mocks: { close(): Promise<void> }[] = []
t.teardown(async () => {
  await Promise.all(relays.map((r) => r.stop()))
  await Promise.all(mocks.map((m) => m.close()))
})
async function relay(yaml: string): Promise<RunningRelay> {
  const r = await startRelay(`logging: { level: info, format: json }\nrouting: { debug: true }\n${yaml}`)
  relays.push(r)
  return r
}
const dbFile = (): string => join(mkdtempSync(join(tmpdir(), 'cc-relay-corners-')), 'usage.db')

async function usage(r: RunningRelay, query = 'by=client,provider,model'): Promise<Row[]> {
  const res = await fetch(`${r.url}/usage.json?${query}`, { signal: AbortSignal.timeout(10_000) })
  if (res.status !== 200) throw new Error(`/usage.json answered ${res.status}: ${await res.text()}`)
  return (await res.json()) as Row[]
}

const post = (r: RunningRelay, body: object, headers: Record<string, string> = {}, signal: AbortSignal = AbortSignal.timeout(20_000)) =>
  fetch(`${r.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ max_tokens: 50, messages: [{ role: 'user', content: 'hi' }], ...body }), signal })

/** Reads a streamed answer until `text` holds `marker` (the stream stays open). */
async function readUntil(reader: ReadableStreamDefaultReader<Uint8Array>, marker: string): Promise<string> {
  let text = ''
  while (!text.includes(marker)) {
    const { value, done } = await reader.read()
    if (done) throw new Error(`the stream ended before ${JSON.stringify(marker)}:\n${text}`)
    text += Buffer.from(value).toString()
  }
  return text
}

const START = (input: number) => ({ type: 'message_start', message: { id: 'msg_s', type: 'message', role: 'assistant', content: [], model: 'claude-streamed', usage: { input_tokens: input, output_tokens: 1 } } })
const BLOCK = { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }
const DELTA = { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'first words' } }
const END = (output: number) => [{ type: 'content_block_stop', index: 0 }, { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: output } }, { type: 'message_stop' }]

t.test('a stream is booked when it ends: nothing while it flows, its whole usage after', async (t) => {
  let held: ServerResponse | undefined
  const up = await new MockUpstream().start()
  mocks.push(up)
  up.handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' }).write(sse([START(100), BLOCK, DELTA]))
    held = res
  }
  const r = await relay(`providers:\n  - { name: main, type: anthropic, base_url: "${up.url}", keys: [{ key: k }] }\nusage: { db: "${dbFile()}" }\n`)
  const res = await post(r, { model: 'claude-streamed', stream: true })
  t.equal(res.status, 200)
  const reader = res.body!.getReader()
  await readUntil(reader, 'first words')
  t.same((await usage(r)).filter((row) => row.model === 'claude-streamed'), [], 'content is flowing: the request is not in the ledger yet')
  held!.end(sse(END(40)))
  for (;;) if ((await reader.read()).done) break
  await until('the ended stream is in the ledger', async () => (await usage(r)).some((row) => row.model === 'claude-streamed'), 10_000, 100)
  t.match((await usage(r)).find((row) => row.model === 'claude-streamed'), { provider: 'main', requests: 1, input_tokens: 100, output_tokens: 40 }, 'one request, the input of message_start and the output of message_delta')
})

t.test('a client that aborts mid-stream: the request reached the upstream and is booked with what came', async (t) => {
  const up = await new MockUpstream().start()
  mocks.push(up)
  let closed: Promise<void> | undefined
  up.handler = (_req, res) => {
    // The streaming request's own socket: its close is the relay letting the upstream go.
    closed = new Promise((resolve) => res.socket!.once('close', () => resolve()))
    res.writeHead(200, { 'content-type': 'text/event-stream' }).write(sse([START(300), BLOCK, DELTA]))
  }
  const r = await relay(`providers:\n  - { name: main, type: anthropic, base_url: "${up.url}", keys: [{ key: k }] }\nusage: { db: "${dbFile()}" }\n`)
  const abort = new AbortController()
  const res = await post(r, { model: 'claude-streamed', stream: true }, {}, abort.signal)
  const reader = res.body!.getReader()
  await readUntil(reader, 'first words')
  abort.abort()
  await reader.cancel().catch(() => {})
  await within('the upstream connection is closed after the abort', closed!, 10_000)
  await until('the aborted request is in the ledger', async () => (await usage(r)).some((row) => row.model === 'claude-streamed'), 10_000, 100)
  t.match((await usage(r)).find((row) => row.model === 'claude-streamed'), { provider: 'main', requests: 1, input_tokens: 300 }, 'booked once, with the input tokens message_start reported')
})

t.test('a failed attempt is not booked: only the provider that served, once', async (t) => {
  // A says 5,000 input tokens in its message_start, then fails before any content (CONTRACT §6: fails over).
  const a = await new MockUpstream().start()
  a.handler = (_req, res) => void res.writeHead(200, { 'content-type': 'text/event-stream' }).end(sse([START(5000), { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }]))
  const c = await new MockUpstream().start()
  c.handler = (_req, res) => void res.writeHead(529, { 'content-type': 'application/json' }).end('{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}')
  const b = await new MockUpstream().start()
  b.handler = (_req, res) => void res.writeHead(200, { 'content-type': 'text/event-stream' }).end(sse([START(7), BLOCK, DELTA, ...END(3)]))
  mocks.push(a, b, c)
  const r = await relay(`providers:
  - { name: A, type: anthropic, base_url: "${a.url}", priority: 3, keys: [{ key: a-1 }] }
  - { name: C, type: anthropic, base_url: "${c.url}", priority: 2, keys: [{ key: c-1 }] }
  - { name: B, type: anthropic, base_url: "${b.url}", priority: 1, keys: [{ key: b-1 }] }
usage: { db: "${dbFile()}" }
`)
  const res = await post(r, { model: 'claude-streamed', stream: true })
  t.equal(res.headers.get('x-cc-relay-provider'), 'B')
  t.equal(res.headers.get('x-cc-relay-attempts'), '3', 'A, C, then B')
  t.match(await res.text(), /first words/)
  await until('the request is in the ledger', async () => (await usage(r)).length > 0, 10_000, 100)
  const rows = await usage(r)
  t.same(rows.map((row) => [row.provider, row.requests, row.input_tokens, row.output_tokens]), [['B', 1, 7, 3]], "one row: B's usage; nothing of A's opening or C's 529")
})

t.test("OpenAI's cached_tokens are cache reads, priced at an explicit cache_read; an explicit cache_write_1h prices 1-hour writes", async (t) => {
  const openai = await new OpenAiMock().start()
  const up = await new MockUpstream().start()
  mocks.push(openai, up)
  openai.script = [{ text: 'cached answer', promptTokens: 3_000_000, cachedTokens: 2_000_000, completionTokens: 1_000_000 }]
  up.handler = (_req, res) =>
    void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
      id: 'msg_c', type: 'message', role: 'assistant', model: 'claude-cw', content: [{ type: 'text', text: 'ok' }], stop_reason: 'end_turn', stop_sequence: null,
      usage: { input_tokens: 0, output_tokens: 0, cache_read_input_tokens: 1_000_000, cache_creation_input_tokens: 3_000_000, cache_creation: { ephemeral_5m_input_tokens: 1_000_000, ephemeral_1h_input_tokens: 2_000_000 } },
    }))
  const r = await relay(`providers:
  - { name: gpt, type: openai, base_url: "${openai.url}/v1", keys: [{ key: sk-o }], model_mapping: { "claude-gpt": "gpt-priced" } }
  - { name: main, type: anthropic, base_url: "${up.url}", keys: [{ key: k }], models: [claude-cw] }
pricing:
  "gpt-priced": { input: 2, output: 8, cache_read: 0.5 }
  "claude-cw": { input: 1, output: 1, cache_write: 3, cache_write_1h: 7, cache_read: 0.25 }
usage: { db: "${dbFile()}" }
`)
  const streamed = await post(r, { model: 'claude-gpt', stream: true })
  t.equal(streamed.status, 200)
  t.match(await streamed.text(), /event: message_stop/)
  const whole = await post(r, { model: 'claude-cw' })
  t.equal(whole.status, 200)
  await whole.text()
  await until('both requests are in the ledger', async () => (await usage(r)).length === 2, 10_000, 100)
  const rows = await usage(r)
  const gpt = rows.find((row) => row.model === 'gpt-priced')
  t.match(gpt, { provider: 'gpt', requests: 1, input_tokens: 1_000_000, cache_read_input_tokens: 2_000_000, output_tokens: 1_000_000 }, 'the cached part of the prompt is a cache read, not input')
  t.equal(gpt?.cost_usd, 1 * 2 + 2 * 0.5 + 1 * 8, '$2 input + $1 cache reads at the explicit $0.50 (not 0.1× input) + $8 output')
  const cw = rows.find((row) => row.model === 'claude-cw')
  t.equal(cw?.cost_usd, 1 * 3 + 2 * 7 + 1 * 0.25, '1M 5-minute writes at $3, 2M 1-hour writes at the explicit $7 (not 2× input), 1M reads at $0.25')
})

t.test('usage is flushed at shutdown: SIGTERM right after the answer, before the 1 s batch, loses nothing', async (t) => {
  const up = await new MockUpstream().start()
  mocks.push(up)
  up.handler = (_req, res) => void res.writeHead(200, { 'content-type': 'text/event-stream' }).end(sse([START(11), BLOCK, DELTA, ...END(5)]))
  const yaml = `providers:\n  - { name: main, type: anthropic, base_url: "${up.url}", keys: [{ key: k }] }\nusage: { db: "${dbFile()}" }\n`
  const first = await relay(yaml)
  const res = await post(first, { model: 'claude-streamed', stream: true })
  t.match(await res.text(), /message_stop/)
  // At once: the once-a-second batch has (almost always) not run yet; only the shutdown's flush can save it.
  t.equal(await first.stop(), 0, 'a clean exit')
  const second = await relay(yaml)
  t.match(await usage(second), [{ provider: 'main', model: 'claude-streamed', requests: 1, input_tokens: 11, output_tokens: 5 }], 'the request is in the file after the restart')
})

/** Writes ledger rows into the file, as another relay on the same file would (src/ledger/file-store.ts). */
async function seed(path: string, rows: { day: string; client: string; cost: number }[]): Promise<void> {
  const db = open({ path, compression: false })
  await db.transaction(() => {
    for (const r of rows) void db.put(['row', r.day, r.client, 'main', 'claude-priced', ''], [1, 1000, 0, 0, 0, r.cost])
  })
  await db.close()
}

t.test('budgets by week and by month: counted from Monday and from the 1st (UTC), retry-after to the reset', async (t) => {
  const now = Date.now()
  const d = new Date(now)
  const midnight = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate())
  const monday = midnight - ((d.getUTCDay() + 6) % 7) * DAY_MS
  const firstOfMonth = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1)
  const nextMonday = monday + 7 * DAY_MS
  const nextMonth = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)
  const path = dbFile()
  await seed(path, [
    { day: utcDay(monday), client: 'week-spent', cost: 1 },
    { day: utcDay(monday - DAY_MS), client: 'week-fresh', cost: 5 },
    { day: utcDay(firstOfMonth), client: 'month-spent', cost: 1 },
    { day: utcDay(firstOfMonth - DAY_MS), client: 'month-fresh', cost: 5 },
  ])
  const up = await new MockUpstream().start()
  mocks.push(up)
  up.handler = (_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end('{"id":"msg_1","type":"message","role":"assistant","model":"claude-priced","content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}')
  const r = await relay(`server:
  auth:
    clients:
      - { name: week-spent, key: k-ws, budget: { usd: 1, period: week } }
      - { name: week-fresh, key: k-wf, budget: { usd: 1, period: week } }
      - { name: month-spent, key: k-ms, budget: { usd: 1, period: month } }
      - { name: month-fresh, key: k-mf, budget: { usd: 1, period: month } }
providers:
  - { name: main, type: anthropic, base_url: "${up.url}", keys: [{ key: k }] }
pricing: { "claude-priced": { input: 1, output: 1 } }
usage: { db: "${path}" }
`)
  const cases: [client: string, key: string, period: string, word: string, resetsAt: number][] = [
    ['week-spent', 'k-ws', 'week', 'weekly', nextMonday],
    ['month-spent', 'k-ms', 'month', 'monthly', nextMonth],
  ]
  for (const [client, key, period, word, resetsAt] of cases) {
    const res = await post(r, { model: 'claude-priced' }, { 'x-cc-relay-key': key })
    const body = (await res.json()) as { error: { type: string; message: string } }
    t.equal(res.status, 429, `${client}: $1 spent on the period's first day counts`)
    t.equal(body.error.type, 'billing_error', client)
    t.match(body.error.message, new RegExp(`^client ${client}'s budget of \\$1\\.00 per ${period} \\(UTC\\) is used up \\(\\$1\\.00 spent\\); it resets at ${new Date(resetsAt).toISOString().replace(/\./g, '\\.')}`), `${client}: the message names the period and its reset`)
    t.equal(res.headers.get('anthropic-ratelimit-unified-overage-period'), word, client)
    t.equal(res.headers.get('anthropic-ratelimit-unified-reset'), String(Math.floor(resetsAt / 1000)), `${client}: -reset is the period's end`)
    const retry = Number(res.headers.get('retry-after'))
    const expected = (resetsAt - Date.now()) / 1000
    t.ok(Math.abs(retry - expected) < 10, `${client}: retry-after ${retry} s is the time to the ${period}'s reset (${Math.round(expected)} s)`)
    t.equal(res.headers.get('x-should-retry'), 'false', client)
  }
  for (const [client, key] of [['week-fresh', 'k-wf'], ['month-fresh', 'k-mf']] as const) {
    const res = await post(r, { model: 'claude-priced' }, { 'x-cc-relay-key': key })
    t.equal(res.status, 200, `${client}: $5 spent the day before the period began does not count`)
    await res.text()
  }
  t.equal(up.requests.length, 2, 'only the two served requests reached the upstream')
})

t.test('usage.retention_days: rows older than it are dropped from the file, newer ones kept', async (t) => {
  const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate())
  const old = utcDay(today - 10 * DAY_MS)
  const recent = utcDay(today - 3 * DAY_MS)
  const path = dbFile()
  await seed(path, [{ day: old, client: 'old', cost: 1 }, { day: recent, client: 'recent', cost: 1 }])
  const up = await new MockUpstream().start()
  mocks.push(up)
  const r = await relay(`providers:\n  - { name: main, type: anthropic, base_url: "${up.url}", keys: [{ key: k }] }\nusage: { db: "${path}", retention_days: 5 }\n`)
  const since = `since=${utcDay(today - 20 * DAY_MS)}&by=day,client`
  await until('the 10-day-old row is dropped', async () => !(await usage(r, since)).some((row) => row.client === 'old'), 15_000, 200)
  t.same((await usage(r, since)).map((row) => [row.day, row.client]), [[recent, 'recent']], 'the 3-day-old row is kept')
  t.equal(await r.stop(), 0)
  const db = open({ path, compression: false, readOnly: true })
  const days = [...db.getKeys({ start: ['row'], end: ['row\u0000'] })].map((k) => (k as string[])[1])
  await db.close()
  t.same(days, [recent], 'the file holds only the kept row')
})
