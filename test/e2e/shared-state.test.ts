/**
 * state.store: redis — several relays, one truth: key limits hold across instances, and Redis failing
 * never fails a request (issue 7). Against a real redis-server on loopback.
 */
import t from 'tap'
import { MockUpstream, sse } from '../helpers/mock-upstream.js'
import { RedisServer } from '../helpers/redis-server.js'
import { startRelay } from '../helpers/relay.js'
import type { RunningRelay } from '../helpers/relay.js'
import { needs } from '../helpers/requires.js'
import { drain, until, within } from '../helpers/wait.js'

const skip = needs(t, 'redis-server', 'apt-get install redis-server (.ci/run does it)')

const answer = (input: number, output: number): string =>
  sse([
    { type: 'message_start', message: { id: 'm', usage: { input_tokens: input, output_tokens: 1 } } },
    { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
    { type: 'content_block_stop', index: 0 },
    { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: output } },
    { type: 'message_stop' },
  ])

const config = (upstream: string, redis: string, prefix: string, key: string): string => `
logging: { level: info, format: json }
state: { store: redis, redis: { url: "${redis}", key_prefix: "${prefix}", command_timeout_ms: 1000 } }
health: { health_check: { enabled: false } }
providers:
  - name: upstream
    type: anthropic
    base_url: "${upstream}"
    keys: [${key}]
`

const send = (relay: RunningRelay, maxTokens = 100) =>
  fetch(`${relay.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"model":"claude-x","stream":true,"max_tokens":${maxTokens}}` })

interface StoreStatus {
  store: { kind: string; shared: boolean; instances: number }
}
const store = async (relay: RunningRelay): Promise<StoreStatus['store']> => ((await (await fetch(`${relay.url}/status.json`)).json()) as StoreStatus).store

/** Where a held answer pauses: its content has started (the relay has sent the head), the rest waits. */
const HELD_PART = answer(5, 5).slice(0, answer(5, 5).indexOf('event: content_block_stop'))
const REST_PART = answer(5, 5).slice(HELD_PART.length)

/** An upstream that answers at once, except requests marked `x-hold`: their stream stops after the first event until the test ends it. */
async function holdingUpstream(): Promise<{ upstream: MockUpstream; held: import('node:http').ServerResponse[] }> {
  const upstream = await new MockUpstream().start()
  const held: import('node:http').ServerResponse[] = []
  upstream.handler = (req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    if (req.headers['x-hold']) {
      res.write(HELD_PART)
      held.push(res)
    } else res.end(answer(5, 5))
  }
  return { upstream, held }
}

/**
 * Two relays on `yaml`, both counting each other as live. After the test: `release` (answers a test
 * holds open, which would otherwise keep a relay draining), the relays, then `cleanups` in order.
 */
async function relayPair(t: Tap.Test, yaml: string, cleanups: (() => unknown)[], release?: () => void): Promise<{ a: RunningRelay; b: RunningRelay }> {
  const a = await startRelay(yaml)
  const b = await startRelay(yaml)
  t.teardown(async () => {
    release?.()
    await a.stop()
    await b.stop()
    for (const cleanup of cleanups) await cleanup()
  })
  for (const relay of [a, b]) await until('both relays count two instances', async () => (await store(relay)).instances >= 2)
  return { a, b }
}

async function twoRelays(t: Tap.Test, key: string): Promise<{ upstream: MockUpstream; redis: RedisServer; a: RunningRelay; b: RunningRelay }> {
  const redis = await new RedisServer().start()
  const upstream = await new MockUpstream().start()
  upstream.handler = (_req, res) => res.writeHead(200, { 'content-type': 'text/event-stream' }).end(answer(40, 60))
  const yaml = config(upstream.url, redis.url, `t${Date.now()}:`, key)
  const { a, b } = await relayPair(t, yaml, [() => upstream.close(), () => redis.stop()])
  return { upstream, redis, a, b }
}

type Tap = typeof t
declare namespace Tap {
  type Test = Parameters<Parameters<typeof t.test>[1]>[0]
}

t.test('one key, rpm_limit 10, 30 requests over two relays: exactly 10 reach the upstream', { skip }, async (t) => {
  const { upstream, a, b } = await twoRelays(t, '{ key: "k-shared", rpm_limit: 10 }')
  t.same(await store(a), { kind: 'redis', shared: true, instances: 2 })
  const statuses: number[] = []
  const retryAfters: number[] = []
  await Promise.all(
    Array.from({ length: 30 }, async (_, i) => {
      const res = await send(i % 2 ? a : b)
      statuses.push(res.status)
      if (res.status === 429) retryAfters.push(Number(res.headers.get('retry-after')))
      await res.text()
    }),
  )
  t.equal(upstream.requests.length, 10, 'the upstream saw exactly the limit')
  t.equal(statuses.filter((s) => s === 200).length, 10)
  t.equal(statuses.filter((s) => s === 429).length, 20, 'the rest: 429')
  t.ok(retryAfters.every((s) => s >= 1 && s <= 60), `retry-after within the minute (${[...new Set(retryAfters)].join(', ')})`)
})

t.test('tpm across relays: the total never passes the limit by more than one estimate', { skip }, async (t) => {
  // Each request: estimate ≈ body/4 + max_tokens (100) ≈ 115; real usage 40 + 60 = 100.
  const { upstream, a, b } = await twoRelays(t, '{ key: "k-tpm", tpm_limit: 1000 }')
  const results = await Promise.all(Array.from({ length: 24 }, async (_, i) => {
    const res = await send(i % 2 ? a : b)
    await res.text()
    return res.status
  }))
  const served = results.filter((s) => s === 200).length
  t.equal(upstream.requests.length, served)
  t.ok(served * 100 <= 1000 + 115, `${served} requests × 100 tokens within 1000 + one estimate`)
  t.ok(served >= 8, `and the budget is used (${served} served)`)
})

t.test('Redis stopped mid-run: served under local limits; started again: shared limits resume', { skip }, async (t) => {
  const { redis, upstream, a, b } = await twoRelays(t, '{ key: "k-fallback", rpm_limit: 8 }')
  redis.stop()
  await redis.stop()
  await a.waitForLog((l) => String(l.msg).startsWith('shared state (Redis) unavailable'))
  await b.waitForLog((l) => String(l.msg).startsWith('shared state (Redis) unavailable'))
  t.same((await store(a)).shared, false, 'status says local')
  const metrics = await (await fetch(`${a.url}/metrics`)).text()
  t.match(metrics, /^cc_relay_shared_state_up 0$/m, '/metrics says local')
  // Local limits: 8 divided by the 2 relays last seen = 4 each.
  const fallback: number[] = []
  for (let i = 0; i < 12; i++) {
    const res = await send(i % 2 ? a : b)
    fallback.push(res.status)
    await res.text()
  }
  t.equal(fallback.filter((s) => s === 200).length, 8, 'no request failed for Redis; together the relays stayed within the limit')
  t.equal(fallback.filter((s) => s !== 200 && s !== 429).length, 0, 'nothing but 200 and 429')

  await redis.start()
  await a.waitForLog((l) => l.msg === 'shared state (Redis) back: limits are shared again')
  await b.waitForLog((l) => l.msg === 'shared state (Redis) back: limits are shared again')
  t.same((await store(b)).shared, true, 'shared again')
  // The fresh Redis knows nothing of the minute: 8 more, shared, then 429.
  const before = upstream.requests.length
  const shared: number[] = []
  for (let i = 0; i < 10; i++) {
    const res = await send(i % 2 ? a : b)
    shared.push(res.status)
    await res.text()
  }
  t.equal(upstream.requests.length - before, shared.filter((s) => s === 200).length)
  // Exactly the shared figure: a relay stuck on local limits (8 ÷ 2 each, 4 already used) would serve none.
  t.same(shared, [200, 200, 200, 200, 200, 200, 200, 200, 429, 429], 'the shared limit again: 8, then 429')
})

interface ProvidersStatus {
  providers: { name: string; breaker: { state: string }; keys: { hash: string; cooldown_until: string | null; model_cooldowns: { model: string }[] }[] }[]
}
const providers = async (relay: RunningRelay) => ((await (await fetch(`${relay.url}/status.json`)).json()) as ProvidersStatus).providers

t.test('a breaker opened by relay A makes relay B skip that provider; a 429 cooldown is shared too', { skip }, async (t) => {
  const redis = await new RedisServer().start()
  const bad = await new MockUpstream().start()
  bad.handler = (_req, res) => res.writeHead(500, { 'content-type': 'application/json' }).end('{"type":"error","error":{"type":"api_error","message":"down"}}')
  const good = await new MockUpstream().start()
  good.handler = (req, res) => {
    if (req.headers['x-api-key'] === 'k-throttled') {
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '40' }).end('{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}')
      return
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' }).end(answer(5, 5))
  }
  const yaml = `
logging: { level: info, format: json }
state: { store: redis, redis: { url: "${redis.url}", key_prefix: "b${Date.now()}:" } }
health: { circuit_breaker: { failure_threshold: 1, open_duration_ms: 60000 }, health_check: { enabled: false } }
providers:
  - { name: bad, type: anthropic, base_url: "${bad.url}", priority: 10, keys: [{ key: "k-bad" }] }
  - name: good
    type: anthropic
    base_url: "${good.url}"
    priority: 1
    pooling: { strategy: round_robin }
    keys: [{ key: "k-throttled", priority: 2 }, { key: "k-fine", priority: 1 }]
`
  const { a, b } = await relayPair(t, yaml, [() => bad.close(), () => good.close(), () => redis.stop()])

  // On A: bad fails (its circuit opens), then good's first-tier key answers 429 (it cools), then k-fine serves.
  const first = await send(a)
  t.equal(first.status, 200)
  await first.text()
  t.equal(bad.requests.length, 1)
  t.same(good.requests.map((r) => r.headers['x-api-key']), ['k-throttled', 'k-fine'])

  // B hears both over pub/sub (it never saw these upstreams fail itself).
  const heard = async (): Promise<boolean> => {
    const ps = await providers(b)
    const badOpen = ps.find((p) => p.name === 'bad')!.breaker.state === 'open'
    // The 429 cooled that key for the request's model only (CONTRACT §6), on B as on A.
    const cooled = ps.find((p) => p.name === 'good')!.keys.some((k) => k.cooldown_until === null && k.model_cooldowns.length === 1)
    return badOpen && cooled
  }
  await until("relay B hears of A's open circuit and per-model cooldown", heard)
  const second = await send(b)
  t.equal(second.status, 200)
  await second.text()
  t.equal(bad.requests.length, 1, 'B skipped the provider whose circuit A opened')
  t.same(good.requests.map((r) => r.headers['x-api-key']), ['k-throttled', 'k-fine', 'k-fine'], 'and the key A saw throttled')
})

t.test('affinity: turns of one session through alternating relays stay on one provider and key', { skip }, async (t) => {
  const redis = await new RedisServer().start()
  const upstream = await new MockUpstream().start()
  upstream.handler = (_req, res) => res.writeHead(200, { 'content-type': 'text/event-stream' }).end(answer(5, 5))
  const yaml = `
logging: { level: info, format: json }
state: { store: redis, redis: { url: "${redis.url}", key_prefix: "a${Date.now()}:" } }
health: { health_check: { enabled: false } }
providers:
  - name: pool
    type: anthropic
    base_url: "${upstream.url}"
    pooling: { strategy: round_robin }
    keys: [{ key: "k1" }, { key: "k2" }, { key: "k3" }]
`
  const { a, b } = await relayPair(t, yaml, [() => upstream.close(), () => redis.stop()])
  const turn = async (relay: RunningRelay, session?: string): Promise<string> => {
    const before = upstream.requests.length
    const res = await fetch(`${relay.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(session ? { 'x-claude-code-session-id': session } : {}) },
      body: '{"model":"claude-x","stream":true,"max_tokens":10}',
    })
    t.equal(res.status, 200)
    await res.text()
    return String(upstream.requests[before]!.headers['x-api-key'])
  }
  // B's round robin is one step ahead of A's: without shared affinity, B would pick another key.
  await turn(b)
  const keys = []
  for (let i = 0; i < 6; i++) keys.push(await turn(i % 2 ? b : a, 'session-1'))
  t.same(keys, Array(6).fill(keys[0]), `every turn on ${keys[0]} (${keys.join(', ')})`)
  // A second session is free to land elsewhere, and then stays there too.
  const other = []
  for (let i = 0; i < 4; i++) other.push(await turn(i % 2 ? a : b, 'session-2'))
  t.same(other, Array(4).fill(other[0]))
})

t.test('half-open probes are limited across relays together', { skip }, async (t) => {
  const redis = await new RedisServer().start()
  const flaky = await new MockUpstream().start()
  let held: import('node:http').ServerResponse[] = []
  let failing = true
  flaky.handler = (_req, res) => {
    if (failing) return void res.writeHead(500, { 'content-type': 'application/json' }).end('{"type":"error","error":{"type":"api_error","message":"down"}}')
    held.push(res) // probes hang: they stay in flight while the others arrive
  }
  const good = await new MockUpstream().start()
  good.handler = (_req, res) => res.writeHead(200, { 'content-type': 'text/event-stream' }).end(answer(5, 5))
  const yaml = `
logging: { level: info, format: json }
state: { store: redis, redis: { url: "${redis.url}", key_prefix: "p${Date.now()}:" } }
health: { circuit_breaker: { failure_threshold: 1, open_duration_ms: 1500, half_open_probes: 1 }, health_check: { enabled: false } }
providers:
  - { name: flaky, type: anthropic, base_url: "${flaky.url}", priority: 10, keys: [{ key: "k-flaky" }] }
  - { name: good, type: anthropic, base_url: "${good.url}", priority: 1, keys: [{ key: "k-good" }] }
`
  const { a, b } = await relayPair(t, yaml, [() => flaky.close(), () => good.close(), () => redis.stop()], () => held.forEach((res) => res.destroy()))
  const opened = await send(a)
  t.equal(opened.status, 200, 'flaky failed, good served')
  await opened.text()
  // Both relays know the circuit is open (B by pub/sub), until the same deadline.
  await until("relay B hears that A opened flaky's circuit", async () => (await providers(b)).find((p) => p.name === 'flaky')!.breaker.state === 'open')
  failing = false
  // Wait out the open period, then let both relays try the provider at once.
  await until("flaky's circuit on relay A leaves open", async () => (await providers(a)).find((p) => p.name === 'flaky')!.breaker.state !== 'open')
  const before = flaky.requests.length
  // Six requests at once, three per relay; the probe hangs at the upstream, the rest are answered.
  const answered: string[] = []
  let fiveAnswered!: () => void
  const five = new Promise<void>((r) => (fiveAnswered = r))
  const all = Array.from({ length: 6 }, async (_, i) => {
    const res = await send(i % 2 ? a : b)
    await res.text()
    answered.push(String(res.status))
    if (answered.length === 5) fiveAnswered()
  })
  await five
  t.equal(flaky.requests.length - before, 1, 'one probe across both relays (half_open_probes: 1)')
  t.same(answered, Array(5).fill('200'), 'the others were served by the next provider')
  for (const res of held) res.writeHead(200, { 'content-type': 'text/event-stream' }).end(answer(5, 5))
  held = []
  await Promise.all(all)
  t.equal(answered.length, 6, 'the probe finished too')
})

t.test('least_loaded counts the other relays\' leases on a shared pool', { skip }, async (t) => {
  const redis = await new RedisServer().start()
  const { upstream, held } = await holdingUpstream()
  const yaml = `
logging: { level: info, format: json }
state: { store: redis, redis: { url: "${redis.url}", key_prefix: "l${Date.now()}:" } }
health: { health_check: { enabled: false } }
routing: { affinity: { enabled: false } }
providers:
  - name: pool
    type: anthropic
    base_url: "${upstream.url}"
    pooling: { strategy: least_loaded }
    keys: [{ key: "k1" }, { key: "k2" }]
`
  const { a, b } = await relayPair(t, yaml, [() => upstream.close(), () => redis.stop()], () => held.forEach((res) => res.destroy()))
  // A holds a stream on k1 (both keys idle: the first wins).
  const holding = await fetch(`${a.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hold': '1' }, body: '{"model":"claude-x","stream":true}' })
  const reader = holding.body!.getReader()
  await reader.read()
  t.equal(upstream.requests[0]!.headers['x-api-key'], 'k1')
  // B learns of it from the heartbeat's reading (not from its own books: it served nothing).
  const remote = async (): Promise<number> => {
    const ps = (await (await fetch(`${b.url}/status.json`)).json()) as { providers: { keys: { remote_inflight: number }[] }[] }
    return ps.providers[0]!.keys[0]!.remote_inflight
  }
  await until("relay B reads A's lease on k1", async () => (await remote()) === 1)
  const res = await send(b)
  await res.text()
  t.equal(upstream.requests[1]!.headers['x-api-key'], 'k2', 'B sends its request to the key A is not using')
  held.shift()!.end(REST_PART)
  await within("A's stream ends", drain(reader))
  await until("relay B reads that A's lease ended", async () => (await remote()) === 0)
  t.pass('the lease stops counting when A\'s stream ends')
})

t.test("a team client's rpm_limit and max_concurrent hold across relays", { skip }, async (t) => {
  const redis = await new RedisServer().start()
  const { upstream, held } = await holdingUpstream()
  const yaml = `
logging: { level: info, format: json }
state: { store: redis, redis: { url: "${redis.url}", key_prefix: "c${Date.now()}:" } }
server: { auth: { clients: [{ name: carol, key: "carol-key", rpm_limit: 4 }, { name: dave, key: "dave-key" }, { name: erin, key: "erin-key", max_concurrent: 1 }] } }
health: { health_check: { enabled: false } }
providers:
  - { name: pool, type: anthropic, base_url: "${upstream.url}", keys: [{ key: "k" }] }
`
  const { a, b } = await relayPair(t, yaml, [() => upstream.close(), () => redis.stop()], () => held.forEach((res) => res.destroy()))
  const as = (relay: RunningRelay, key: string) =>
    fetch(`${relay.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-cc-relay-key': key }, body: '{"model":"claude-x","stream":true,"max_tokens":10}' })
  const carol: number[] = []
  for (let i = 0; i < 8; i++) {
    const res = await as(i % 2 ? a : b, 'carol-key')
    carol.push(res.status)
    await res.text()
  }
  t.same(carol, [200, 200, 200, 200, 429, 429, 429, 429], 'carol gets 4 a minute in total, not 4 per relay')
  const dave = await as(a, 'dave-key')
  t.equal(dave.status, 200, 'another client is not affected')
  await dave.text()

  // erin: one request at a time, whichever relay takes it.
  const first = await fetch(`${a.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-cc-relay-key': 'erin-key', 'x-hold': '1' }, body: '{"model":"claude-x","stream":true}' })
  const reader = first.body!.getReader()
  await reader.read()
  const second = await as(b, 'erin-key')
  t.equal(second.status, 429, 'erin is refused on the other relay while her first request runs')
  t.match(((await second.json()) as { error: { message: string } }).error.message, /max_concurrent of 1 across relays/)
  held.shift()!.end(REST_PART)
  await within("erin's first stream ends", drain(reader))
  // The slot is freed when the first request's line is written, a moment after its last byte.
  let third = 0
  await until("erin is admitted again once her first request ended", async () => {
    const res = await as(b, 'erin-key')
    await res.text()
    third = res.status
    return third !== 429
  })
  t.equal(third, 200, 'and admitted once it ended')
})
