/** src/supervisor/key-pick.ts through leases: priority tiers, and each pooling strategy within a tier. */
import t from 'tap'
import type { KeyConfig, PoolingStrategy } from '../../src/config/types.js'
import { Rig, config, key, provider, shares } from './fixtures/helpers.js'

function pool(strategy: PoolingStrategy, keys: KeyConfig[], seed = 1): Rig {
  return new Rig(config([provider('p', { keys, pooling: { strategy } })]), seed)
}

const secret = (r: Rig, over = {}): string => r.next(over).split('/')[1]!
const TOL = 0.02

t.test('priority is a strict tier: a lower key only when every higher one is cooling, limited or tried', async (t) => {
  for (const strategy of ['least_loaded', 'round_robin', 'random', 'weighted'] as const) {
    const r = pool(strategy, [key('low', { priority: 1, weight: 100 }), key('hiA', { priority: 2, rpm_limit: 3 }), key('hiB', { priority: 2, rpm_limit: 3 })])
    const picks = Array.from({ length: 6 }, () => secret(r))
    t.ok(picks.every((s) => s !== 'low'), `${strategy}: the high tier serves while it has room (${picks})`)
    t.equal(secret(r), 'low', `${strategy}: both high keys at their rpm limit → the low tier`)
    r.clock += 60_000
    t.not(secret(r), 'low', `${strategy}: back to the high tier when the window slides`)
    const tried = new Set([r.keyId('p', 'hiA'), r.keyId('p', 'hiB')])
    t.equal(secret(r, { tried }), 'low', `${strategy}: high keys tried → low`)
  }
})

t.test('priority tier beats load: a busy high key is still preferred', async (t) => {
  const r = pool('least_loaded', [key('low', { priority: 1 }), key('high', { priority: 5 })])
  for (let i = 0; i < 50; i++) t.equal(secret(r), 'high')
  t.equal(r.keyState('p', 'high').inflight, 50)
  t.equal(r.keyState('p', 'low').inflight, 0)
})

t.test('a cooling high key hands over to the lower tier until its cooldown ends', async (t) => {
  const r = pool('least_loaded', [key('high', { priority: 2 }), key('low', { priority: 1 })])
  const l = r.lease()
  r.report(l, 429, { rateHeaders: { 'retry-after': '5' } })
  t.equal(secret(r), 'low')
  r.clock += 4_999
  t.equal(secret(r), 'low')
  r.clock += 1
  t.equal(secret(r), 'high')
})

t.test('three tiers fall through in order', async (t) => {
  const r = pool('round_robin', [key('t1', { priority: 1 }), key('t3', { priority: 3 }), key('t2', { priority: 2 })])
  const tried = new Set<string>()
  const walked: string[] = []
  // Bounded: three keys, so a fourth lease means one was offered twice (a loop without end otherwise).
  for (let i = 0; ; i++) {
    if (i > 3) {
      t.fail('more leases than keys: a tried key was offered again')
      break
    }
    const reply = r.ask({ tried })
    if (!reply.ok) {
      t.equal(reply.exhausted, true)
      break
    }
    walked.push(r.who(reply.lease).split('/')[1]!)
    tried.add(reply.lease.keyId)
  }
  t.same(walked, ['t3', 't2', 't1'])
})

t.test('least_loaded: fewest in flight, ties to the least recently used', async (t) => {
  const r = pool('least_loaded', [key('k0'), key('k1'), key('k2')])
  const leases = [r.lease(), r.lease(), r.lease(), r.lease()]
  t.same(leases.map((l) => r.who(l)), ['p/k0', 'p/k1', 'p/k2', 'p/k0'])
  r.report(leases[1]!, 200)
  t.equal(secret(r), 'k1', 'k1 dropped to 0 in flight')
  t.same(r.sup.state.providers[0]!.keys.map((k) => k.inflight), [2, 1, 1])
  // All idle: the one used longest ago.
  const idle = pool('least_loaded', [key('k0'), key('k1'), key('k2')])
  for (const [advance, expected] of [[0, 'k0'], [10, 'k1'], [10, 'k2'], [10, 'k0'], [10, 'k1']] as const) {
    idle.clock += advance
    const l = idle.lease()
    t.equal(idle.who(l), `p/${expected}`)
    idle.report(l, 200)
  }
})

t.test('round_robin: rotates through the tier whatever the load', async (t) => {
  const r = pool('round_robin', [key('k0'), key('k1'), key('k2')])
  const picks: string[] = []
  for (let i = 0; i < 9; i++) {
    const l = r.lease()
    picks.push(r.who(l).split('/')[1]!)
    if (i % 2) r.report(l, 200)
  }
  t.same(picks, ['k0', 'k1', 'k2', 'k0', 'k1', 'k2', 'k0', 'k1', 'k2'])
})

t.test('random: uniform within the tier, weight ignored (10 000 seeded draws)', async (t) => {
  const r = pool('random', [key('k0', { weight: 10 }), key('k1'), key('k2'), key('out', { priority: 0 })], 21)
  const s = shares(Array.from({ length: 10_000 }, () => secret(r)))
  for (const k of ['k0', 'k1', 'k2']) t.ok(Math.abs(s[k]! - 1 / 3) < TOL, `${k}: ${s[k]} ≈ 1/3`)
  t.equal(s.out, undefined, 'the lower tier never')
})

t.test('weighted: picks proportional to key weight (10 000 seeded draws)', async (t) => {
  const cases: [weights: number[], seed: number][] = [
    [[3, 1], 31],
    [[1, 2, 5], 32],
    [[1, 1], 33],
    [[9, 1], 34],
  ]
  for (const [weights, seed] of cases) {
    const r = pool('weighted', weights.map((w, i) => key(`k${i}`, { weight: w })), seed)
    const total = weights.reduce((a, b) => a + b, 0)
    const s = shares(Array.from({ length: 10_000 }, () => secret(r)))
    weights.forEach((w, i) => t.ok(Math.abs((s[`k${i}`] ?? 0) - w / total) < TOL, `weights ${weights}: k${i} ${s[`k${i}`]} ≈ ${w / total}`))
  }
})

t.test('a key is skipped for a request that already tried it, in every strategy', async (t) => {
  for (const strategy of ['least_loaded', 'round_robin', 'random', 'weighted'] as const) {
    const r = pool(strategy, [key('k0'), key('k1'), key('k2')])
    const tried = new Set([r.keyId('p', 'k0'), r.keyId('p', 'k2')])
    for (let i = 0; i < 30; i++) t.equal(secret(r, { tried }), 'k1', strategy)
  }
})
