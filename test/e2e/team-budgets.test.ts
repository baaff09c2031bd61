/**
 * Budgets in Claude Code's language (issue 23, CONTRACT §9–§10): a caller with a budget — its own, its
 * group's pooled one, or the group's `member_budget` — gets the `anthropic-ratelimit-unified-*` usage-limit
 * headers on every successful answer (and never the upstream's own `anthropic-ratelimit-*`), a warning
 * past 75 %, and at the cap 429 `billing_error` in the protocol's rejected shape, naming the budget and
 * when it resets. Two relays on one Redis share a group's rpm limit and pooled budget.
 */
import t from 'tap'
import { MockUpstream, sse } from '../helpers/mock-upstream.js'
import { startRelay } from '../helpers/relay.js'
import type { RunningRelay } from '../helpers/relay.js'
import { RedisServer } from '../helpers/redis-server.js'
import { needs } from '../helpers/requires.js'
import { until } from '../helpers/wait.js'

/** Every answer: 1,000 input tokens, $0.10 at $100 per million. */
const USAGE = { input_tokens: 1000, output_tokens: 0 }
const upstream = await new MockUpstream().start()
upstream.handler = (_req, res, recorded) => {
  const body = JSON.parse(recorded.body.toString()) as { model: string; stream?: boolean }
  // The team key's own quota, which a budgeted caller must not see as theirs.
  const quota = { 'anthropic-ratelimit-requests-remaining': '49', 'anthropic-ratelimit-tokens-remaining': '399000' }
  if (body.stream) {
    res.writeHead(200, { 'content-type': 'text/event-stream', ...quota })
    res.end(sse([
      { type: 'message_start', message: { id: 'm', type: 'message', role: 'assistant', model: body.model, content: [], usage: USAGE } },
      { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'hi' } },
      { type: 'content_block_stop', index: 0 },
      { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 0 } },
      { type: 'message_stop' },
    ]))
    return
  }
  res.writeHead(200, { 'content-type': 'application/json', ...quota })
  res.end(JSON.stringify({ id: 'msg_1', type: 'message', role: 'assistant', model: body.model, content: [{ type: 'text', text: 'hi' }], stop_reason: 'end_turn', stop_sequence: null, usage: USAGE }))
}
t.teardown(() => upstream.close())

const yaml = (extra = ''): string => `
logging: { level: info, format: json }
server:
  auth:
    groups:
      - { name: team, budget: { usd: 0.5, period: month }, member_budget: { usd: 0.25, period: week } }
    clients:
      - { name: carol, key: carol-key, budget: { usd: 0.25, period: day } }
      - { name: dave, key: dave-key }
      - { name: alice, key: alice-key, group: team }
      - { name: bob, key: bob-key, group: team }
providers:
  - { name: main, type: anthropic, base_url: "${upstream.url}", keys: [{ key: pooled }] }
pricing:
  "claude-priced": { input: 100, output: 0 }
${extra}`

const H = 'anthropic-ratelimit-unified-'
type Headers = Record<string, string>

async function ask(relay: RunningRelay, key: string, stream = false): Promise<{ status: number; headers: Headers; body: string }> {
  const res = await fetch(`${relay.url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-cc-relay-key': key },
    body: JSON.stringify({ model: 'claude-priced', max_tokens: 16, stream, messages: [{ role: 'user', content: 'hi' }] }),
    signal: AbortSignal.timeout(20_000),
  })
  return { status: res.status, headers: Object.fromEntries(res.headers), body: await res.text() }
}

/** The usage-limit headers (and the upstream's rate-limit headers) of an answer. */
const rateHeaders = (h: Headers): Headers => Object.fromEntries(Object.entries(h).filter(([name]) => name.startsWith('anthropic-ratelimit-')))

const now = new Date()
const midnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1)
const monday = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 7 - ((now.getUTCDay() + 6) % 7))
const nextMonth = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)
const unix = (ms: number): string => String(Math.floor(ms / 1000))

const allowed = (status: string, utilization: string, resetsAt: number, threshold?: string): Headers => ({
  [`${H}status`]: status,
  [`${H}representative-claim`]: 'overage',
  [`${H}overage-status`]: status,
  [`${H}overage-utilization`]: utilization,
  ...(threshold ? { [`${H}overage-surpassed-threshold`]: threshold } : {}),
  [`${H}reset`]: unix(resetsAt),
  [`${H}overage-reset`]: unix(resetsAt),
})

const rejected = (period: string, resetsAt: number, pool = false): Headers => ({
  [`${H}status`]: 'rejected',
  [`${H}reset`]: unix(resetsAt),
  [`${H}overage-reset`]: unix(resetsAt),
  [`${H}overage-utilization`]: '1',
  [`${H}overage-surpassed-threshold`]: '1',
  [`${H}overage-period`]: period,
  [`${H}overage-disabled-reason`]: 'org_spend_cap_reached',
  ...(pool ? { [`${H}overage-scope`]: 'group_pool' } : {}),
})

t.test("a client's own budget: usage headers on each answer, a warning past 75 %, the protocol's 429 at the cap", async (t) => {
  const relay = await startRelay(yaml())
  t.teardown(() => relay.stop())
  const first = await ask(relay, 'carol-key', true)
  t.equal(first.status, 200)
  t.same(rateHeaders(first.headers), allowed('allowed', '0', midnight), 'a stream: nothing spent yet; the upstream quota headers are gone')
  t.same(rateHeaders((await ask(relay, 'carol-key')).headers), allowed('allowed', '0.4', midnight), '$0.10 of $0.25')
  const third = await ask(relay, 'carol-key', true)
  t.same(rateHeaders(third.headers), allowed('allowed_warning', '0.8', midnight, '0.75'), '$0.20 of $0.25: past 75 %')
  t.match(third.body, /event: message_stop/, 'the stream is whole')
  const capped = await ask(relay, 'carol-key')
  t.equal(capped.status, 429)
  t.same(rateHeaders(capped.headers), rejected('daily', midnight), 'the rejected shape: no representative-claim, no overage-status')
  t.equal(capped.headers['x-should-retry'], 'false')
  const seconds = Number(capped.headers['retry-after'])
  t.ok(Math.abs(seconds - (midnight - Date.now()) / 1000) < 10, `retry-after ${seconds} s is the time to the UTC reset`)
  const error = (JSON.parse(capped.body) as { error: { type: string; message: string } }).error
  t.equal(error.type, 'billing_error')
  t.match(error.message, /^client carol's budget of \$0\.25 per day \(UTC\) is used up \(\$0\.30 spent\); it resets at \d{4}-\d\d-\d\dT00:00:00\.000Z, in \d+ (hours|minutes)$/)

  const dave = await ask(relay, 'dave-key')
  t.same(rateHeaders(dave.headers), { 'anthropic-ratelimit-requests-remaining': '49', 'anthropic-ratelimit-tokens-remaining': '399000' }, 'no budget: no usage headers, and the upstream headers pass through')
  const metrics = await (await fetch(`${relay.url}/metrics`)).text()
  t.match(metrics, /^cc_relay_refused_total\{reason="budget"\} 1$/m)
})

t.test("a group's member budget and its pooled budget", async (t) => {
  const relay = await startRelay(yaml())
  t.teardown(() => relay.stop())
  t.same(rateHeaders((await ask(relay, 'alice-key')).headers), allowed('allowed', '0', monday), 'the member budget resets first (a week): the fullest at 0 %')
  t.same(rateHeaders((await ask(relay, 'alice-key')).headers), allowed('allowed', '0.4', monday), "alice's $0.10 of her $0.25 a week")
  t.same(rateHeaders((await ask(relay, 'alice-key')).headers), allowed('allowed_warning', '0.8', monday, '0.75'))
  const member = await ask(relay, 'alice-key')
  t.equal(member.status, 429)
  t.same(rateHeaders(member.headers), rejected('weekly', monday), "alice's member budget: not the pool")
  t.match(JSON.parse(member.body), { error: { type: 'billing_error', message: /^alice's member budget in group team \(\$0\.25 per week \(UTC\)\) is used up \(\$0\.30 spent\)/ } })

  t.same(rateHeaders((await ask(relay, 'bob-key')).headers), allowed('allowed', '0.6', nextMonth), 'the pool is the fullest: $0.30 of $0.50')
  t.same(rateHeaders((await ask(relay, 'bob-key')).headers), allowed('allowed_warning', '0.8', nextMonth, '0.75'))
  const pool = await ask(relay, 'bob-key')
  t.equal(pool.status, 429)
  t.same(rateHeaders(pool.headers), rejected('monthly', nextMonth, true), 'the pool ran out: overage-scope group_pool')
  t.match(JSON.parse(pool.body), { error: { message: /^group team's pooled budget \(shared by its members\) of \$0\.50 per month \(UTC\) is used up \(\$0\.50 spent\); it resets at 20\d\d-\d\d-01T00:00:00\.000Z, in \d+ (days|hours|minutes)$/ } })
  const metrics = await (await fetch(`${relay.url}/metrics`)).text()
  t.match(metrics, /^cc_relay_group_budget_spent_usd\{group="team"\} 0\.5$/m)
  t.match(metrics, /^cc_relay_group_budget_limit_usd\{group="team"\} 0\.5$/m)
  const status = (await (await fetch(`${relay.url}/status.json`)).json()) as { budgets: { client: string; group: string; scope: string; spent_usd: number }[] }
  t.match(status.budgets, [
    { client: 'carol', scope: 'client' },
    { client: 'alice', group: 'team', scope: 'member', spent_usd: 0.3 },
    { client: 'bob', group: 'team', scope: 'member', spent_usd: 0.2 },
    { client: '', group: 'team', scope: 'group_pool', spent_usd: 0.5 },
  ])
})

t.test('two relays on one Redis share a group rpm limit and its pooled budget', { skip: needs(t, 'redis-server', 'apt-get install redis-server (.ci/run does it)') }, async (t) => {
  const redis = await new RedisServer().start()
  t.teardown(() => redis.stop())
  const shared = yaml(`state: { store: redis, redis: { url: "${redis.url}", key_prefix: "budgets-${process.pid}:" } }`).replace(
    '- { name: team, budget: { usd: 0.5, period: month }, member_budget: { usd: 0.25, period: week } }',
    '- { name: team, rpm_limit: 2, budget: { usd: 0.15, period: day } }',
  )
  const a = await startRelay(shared)
  const b = await startRelay(shared)
  t.teardown(async () => {
    await a.stop()
    await b.stop()
  })
  t.equal((await ask(a, 'alice-key')).status, 200, 'alice on A')
  t.equal((await ask(b, 'bob-key')).status, 200, 'bob on B: the group has used its 2 requests a minute')
  const limited = await ask(a, 'alice-key')
  t.equal(limited.status, 429, 'a third on A is over the group rpm counted across both relays')
  t.match(JSON.parse(limited.body), { error: { type: 'rate_limit_error', message: /^group team is at its rpm\/tpm limit across relays/ } })
  // Each relay writes its spend within a second and reads every relay's back: $0.20 of $0.15.
  const refusedBy = async (r: RunningRelay, key: string) => {
    const answer = await ask(r, key)
    return answer.status === 429 && answer.headers[`${H}overage-scope`] === 'group_pool'
  }
  await until('B refuses the pool', () => refusedBy(b, 'bob-key'), 10_000, 250)
  await until('A refuses the pool', () => refusedBy(a, 'alice-key'), 10_000, 250)
  t.pass('the pooled budget holds across relays')
})
