/** reduce.ts through Supervisor.lease/report: which outcomes trip a provider's breaker, and what leases do then. */
import t from 'tap'
import type { OutcomeOver } from './fixtures/helpers.js'
import { Rig, config, key, provider, retryOf } from './fixtures/helpers.js'

const BREAKER = { failure_threshold: 3, open_duration_ms: 30_000, half_open_probes: 2 }

/** p1 first (priority 2), p2 behind it. */
function twoProviders(): Rig {
  return new Rig(config([provider('p1', { priority: 2, keys: [key('A'), key('B')] }), provider('p2', { keys: [key('C')] })], { breaker: BREAKER }))
}

function fail(r: Rig, n: number, status: number, over: OutcomeOver = {}): void {
  for (let i = 0; i < n; i++) {
    const l = r.lease()
    if (r.cfg.providers[l.provider]!.name !== 'p1') throw new Error('expected a p1 lease')
    r.report(l, status, over)
  }
}

t.test('outcomes that count against the breaker: transport errors, timeouts, 5xx, 529', async (t) => {
  const cases: [name: string, status: number, over: OutcomeOver][] = [
    ['connect refused', 0, { errorCode: 'upstream_unreachable' }],
    ['first-byte timeout', 0, { errorCode: 'upstream_timeout' }],
    ['500', 500, {}],
    ['502', 502, {}],
    ['503', 503, {}],
    ['529', 529, {}],
    ['a 5xx that also sets an error code', 502, { errorCode: 'upstream_unreachable' }],
  ]
  for (const [name, status, over] of cases) {
    const r = twoProviders()
    fail(r, 2, status, over)
    t.equal(r.providerState('p1').breaker.state, 'closed', `${name}: 2 failures keep it closed`)
    fail(r, 1, status, over)
    t.equal(r.providerState('p1').breaker.state, 'open', `${name}: the 3rd opens it`)
    for (let i = 0; i < 5; i++) t.equal(r.next(), 'p2/C', `${name}: p1 skipped, p2 serves`)
  }
})

t.test('outcomes that do not count: 4xx (400, 404, 413, 429, 401) and a client that left', async (t) => {
  const cases: [name: string, status: number, over: OutcomeOver][] = [
    ['400', 400, {}],
    ['404', 404, {}],
    ['413', 413, {}],
    ['429', 429, { rateHeaders: { 'retry-after': '0' } }],
    ['client aborted before the head', 0, { clientAborted: true }],
  ]
  for (const [name, status, over] of cases) {
    const r = twoProviders()
    for (let i = 0; i < 10; i++) {
      r.clock += 1
      fail(r, 1, status, over)
    }
    t.equal(r.providerState('p1').breaker.state, 'closed', `${name}: still closed after 10`)
    t.equal(r.providerState('p1').breaker.failures, 0, `${name}: nothing counted`)
  }
  const auth = twoProviders()
  fail(auth, 1, 401)
  fail(auth, 1, 403)
  t.equal(auth.providerState('p1').breaker.failures, 0, '401/403: the key is refused, not the provider')
})

t.test('consecutive: a 2xx in between resets the count; a 4xx in between does not', async (t) => {
  const r = twoProviders()
  fail(r, 2, 503)
  fail(r, 1, 200)
  fail(r, 2, 503)
  t.equal(r.providerState('p1').breaker.state, 'closed', '2 + success + 2')
  fail(r, 1, 400)
  fail(r, 1, 503)
  t.equal(r.providerState('p1').breaker.state, 'open', '2 + a 400 + 1 = 3 consecutive failures')
})

t.test('all breakers open → providers_unavailable with retryAfterMs until the first one half-opens', async (t) => {
  const r = twoProviders()
  const start = r.clock
  fail(r, 3, 503)
  r.clock = start + 5_000
  for (let i = 0; i < 3; i++) r.report(r.lease(), 0, { errorCode: 'upstream_unreachable' })
  t.equal(r.providerState('p2').breaker.state, 'open')
  r.clock = start + 10_000
  const reply = r.ask()
  t.equal(reply.ok, false)
  if (reply.ok) return
  t.equal(reply.error.code, 'providers_unavailable')
  t.equal(reply.retryAfterMs, 20_000, 'p1 opened at +0, half-opens at +30 s')
  t.notOk(reply.exhausted)
  r.clock = start + 29_999
  t.equal(retryOf(r.ask()), 1)
  r.clock = start + 30_000
  t.equal(r.next(), 'p1/A', 'p1 half-open: a probe')
})

t.test('half-open lets exactly half_open_probes leases through; probe success closes', async (t) => {
  const r = new Rig(config([provider('p1', { keys: [key('A'), key('B'), key('C')] })], { breaker: BREAKER }))
  const start = r.clock
  fail(r, 3, 529)
  r.clock = start + 30_000
  const probes = [r.lease(), r.lease()]
  t.equal(r.providerState('p1').breaker.state, 'half_open')
  const third = r.ask()
  t.equal(third.ok, false, 'a third lease waits for a probe to finish')
  t.equal(!third.ok && third.error.code, 'providers_unavailable')
  t.equal(!third.ok && third.retryAfterMs, 1000)
  r.report(probes[0]!, 200)
  t.equal(r.providerState('p1').breaker.state, 'closed', 'probe success closes')
  const after = Array.from({ length: 10 }, () => r.ask().ok)
  t.same(after, Array(10).fill(true), 'closed: everything admitted')
  r.report(probes[1]!, 200)
})

t.test('half-open with two providers: two probes to p1, then p2 serves until a probe settles', async (t) => {
  const r = twoProviders()
  const start = r.clock
  fail(r, 3, 500)
  r.clock = start + 30_000
  const picks = Array.from({ length: 5 }, () => r.next())
  t.same(picks, ['p1/A', 'p1/B', 'p2/C', 'p2/C', 'p2/C'])
})

t.test('a probe failure re-opens the breaker for a new open period', async (t) => {
  const r = twoProviders()
  const start = r.clock
  fail(r, 3, 500)
  r.clock = start + 30_000
  const probe = r.lease()
  t.equal(r.who(probe), 'p1/A')
  r.clock = start + 31_000
  r.report(probe, 0, { errorCode: 'upstream_timeout' })
  t.equal(r.providerState('p1').breaker.state, 'open')
  t.equal(r.providerState('p1').breaker.openUntil, start + 61_000)
  r.clock = start + 60_999
  t.equal(r.next(), 'p2/C')
  r.clock = start + 61_000
  t.equal(r.next(), 'p1/B', 'half-open again after the new period (B: the least recently used key)')
})

t.test('a probe that ends without a health signal (4xx, client gone) frees its slot', async (t) => {
  const cases: [name: string, status: number, over: OutcomeOver][] = [
    ['400', 400, {}],
    ['429', 429, { rateHeaders: { 'retry-after': '0' } }],
    ['client gone', 0, { clientAborted: true }],
  ]
  for (const [name, status, over] of cases) {
    const r = new Rig(config([provider('p1', { keys: [key('A'), key('B'), key('C')] })], { breaker: BREAKER }))
    const start = r.clock
    fail(r, 3, 503)
    r.clock = start + 30_000
    const probes = [r.lease(), r.lease()]
    t.equal(r.ask().ok, false, `${name}: both probe slots taken`)
    r.report(probes[0]!, status, over)
    t.equal(r.providerState('p1').breaker.state, 'half_open', `${name}: still half-open`)
    t.equal(r.ask().ok, true, `${name}: the freed slot admits one more probe`)
    t.equal(r.ask().ok, false, `${name}: and only one`)
  }
})

t.test('failover inside a provider first: a 529 on key A moves to key B of the same provider', async (t) => {
  const r = twoProviders()
  const tried = new Set<string>()
  const a = r.lease({ tried })
  tried.add(a.keyId)
  r.report(a, 529)
  const b = r.lease({ tried })
  t.equal(r.who(b), 'p1/B')
  tried.add(b.keyId)
  r.report(b, 529)
  t.equal(r.who(r.lease({ tried })), 'p2/C')
})

t.test('a probe left over from an earlier half-open period does not free a slot of the current one', async (t) => {
  const r = new Rig(config([provider('p1', { keys: ['A', 'B', 'C', 'D', 'E', 'F'].map((s) => key(s)) })], { breaker: BREAKER }))
  const start = r.clock
  fail(r, 3, 503)
  r.clock = start + 30_000
  const old = [r.lease(), r.lease()] // period 1: two probes
  r.report(old[1]!, 503) // one fails: open again until +60 s; old[0] is still in flight
  r.clock = start + 60_000
  const current = [r.lease(), r.lease()] // period 2: two probes
  t.equal(r.ask().ok, false, 'period 2 is full')
  r.report(old[0]!, 400) // the period-1 probe ends without a health signal
  const extra = r.ask()
  t.equal(extra.ok, false, 'still two probes of this period in flight (half_open_probes: 2)')
  if (extra.ok) r.report(extra.lease, 200)
  for (const l of current) r.report(l, 200)
})
