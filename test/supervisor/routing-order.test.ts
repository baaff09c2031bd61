/** src/supervisor/order.ts: every routing strategy's order, through providerOrder and through leases. */
import t from 'tap'
import type { RoutingStrategy } from '../../src/config/types.js'
import { providerOrder } from '../../src/supervisor/order.js'
import { Rig, config, key, provider, shares } from './fixtures/helpers.js'
import type { ConfigOver } from './fixtures/helpers.js'
import type { ProviderConfig } from '../../src/config/types.js'

function rig(strategy: RoutingStrategy, providers: readonly ProviderConfig[], over: ConfigOver = {}, seed = 1): Rig {
  return new Rig(config(providers, { ...over, routing: { strategy, ...over.routing } }), seed)
}

/** The provider names in the order the strategy gives now (advances cursors and draws like a lease does). */
function order(r: Rig, model = 'claude-sonnet-4-5'): string[] {
  return providerOrder(r.sup.state, r.sup.state.providers, model).map((p) => p.config.name)
}

const TOL = 0.02 // > 4 standard deviations for these shares over 10 000 draws

t.test('failover: provider priority, null → highest key priority, else 1; ties by config order', async (t) => {
  const cases: [name: string, providers: ProviderConfig[], expected: string[]][] = [
    [
      'explicit and derived priorities',
      [
        provider('a'), // null, keys at 1 → 1
        provider('b', { keys: [key('b1', { priority: 2 }), key('b2', { priority: 7 })] }), // null → 7
        provider('c', { priority: 3 }),
        provider('d', { priority: null, keys: [] }), // no keys → 1
      ],
      ['b', 'c', 'a', 'd'],
    ],
    ['all equal: config order', [provider('x', { priority: 2 }), provider('y', { priority: 2 }), provider('z', { priority: 2 })], ['x', 'y', 'z']],
    ['explicit 0 sorts below the default 1', [provider('zero', { priority: 0 }), provider('dflt')], ['dflt', 'zero']],
    ['explicit priority wins over key priorities', [provider('own', { priority: 1, keys: [key('k', { priority: 9 })] }), provider('keys', { keys: [key('k2', { priority: 5 })] })], ['keys', 'own']],
    ['null with keys at 1 ties with explicit 1: config order', [provider('n'), provider('e', { priority: 1 })], ['n', 'e']],
  ]
  for (const [name, providers, expected] of cases) {
    const r = rig('failover', providers)
    t.same(order(r), expected, `${name}: order`)
    // Through leases: each request walks down the order as keys get tried.
    const tried = new Set<string>()
    const walked: string[] = []
    // Bounded by the number of keys: one more lease means a tried key was offered again.
    const keys = r.cfg.providers.reduce((n, p) => n + Math.max(1, p.keys.length), 0)
    for (let i = 0; ; i++) {
      if (i > keys) {
        t.fail(`${name}: more leases than keys: a tried key was offered again`)
        break
      }
      const reply = r.ask({ tried })
      if (!reply.ok) break
      walked.push(r.cfg.providers[reply.lease.provider]!.name)
      tried.add(reply.lease.keyId)
    }
    t.same([...new Set(walked)], expected.filter((n) => r.cfg.providers.find((p) => p.name === n)!.keys.length > 0), `${name}: leases follow it`)
  }
})

t.test('failover: without failures every lease goes to the first provider', async (t) => {
  const r = rig('failover', [provider('a'), provider('b', { priority: 5 }), provider('c')])
  for (let i = 0; i < 20; i++) t.equal(r.next(), 'b/b-key')
})

t.test('round_robin rotates through the failover order', async (t) => {
  const r = rig('round_robin', [provider('a'), provider('b'), provider('c', { priority: 2 })])
  t.same(order(r), ['c', 'a', 'b'])
  t.same(order(r), ['a', 'b', 'c'])
  t.same(order(r), ['b', 'c', 'a'])
  t.same(order(r), ['c', 'a', 'b'])
  const leases = Array.from({ length: 9 }, () => r.next().split('/')[0])
  t.same(leases, ['a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c'])
})

t.test('weighted_round_robin is smooth: weights 5,1,1 → a a b a c a a per cycle', async (t) => {
  const r = rig('weighted_round_robin', [provider('a', { weight: 5 }), provider('b'), provider('c')])
  const cycle = ['a', 'a', 'b', 'a', 'c', 'a', 'a']
  for (let round = 0; round < 3; round++) {
    const picks = cycle.map(() => r.next().split('/')[0])
    t.same(picks, cycle, `cycle ${round + 1}`)
  }
})

t.test('weighted_round_robin: exact weight-proportional picks over whole cycles; the rest of the order is failover order', async (t) => {
  const cases: [weights: number[], cycles: number][] = [
    [[1, 1, 1], 5],
    [[3, 1], 10],
    [[2, 3, 5], 7],
    [[1, 10], 3],
  ]
  for (const [weights, cycles] of cases) {
    const names = weights.map((_, i) => `p${i}`)
    const r = rig('weighted_round_robin', names.map((n, i) => provider(n, { weight: weights[i]! })))
    const total = weights.reduce((a, b) => a + b, 0)
    const counts = new Map<string, number>()
    for (let i = 0; i < total * cycles; i++) {
      const o = order(r)
      const first = o[0]!
      counts.set(first, (counts.get(first) ?? 0) + 1)
      if (i === 0) t.same(o.slice(1), names.filter((n) => n !== first), `weights ${weights}: tail in failover order`)
    }
    t.same(names.map((n) => counts.get(n) ?? 0), weights.map((w) => w * cycles), `weights ${weights}: exactly proportional`)
  }
})

t.test('shuffle: every provider leads equally often, every permutation appears (10 000 seeded draws)', async (t) => {
  const r = rig('shuffle', [provider('a', { priority: 9, weight: 50 }), provider('b'), provider('c')], {}, 7)
  const orders = Array.from({ length: 10_000 }, () => order(r).join(''))
  const first = shares(orders.map((o) => o[0]!))
  for (const n of ['a', 'b', 'c']) t.ok(Math.abs(first[n]! - 1 / 3) < TOL, `${n} leads ${first[n]} (≈ 1/3; weight and priority ignored)`)
  const perms = shares(orders)
  t.equal(Object.keys(perms).length, 6)
  for (const [perm, share] of Object.entries(perms)) t.ok(Math.abs(share - 1 / 6) < TOL, `${perm}: ${share} ≈ 1/6`)
  const leased = shares(Array.from({ length: 10_000 }, () => r.next().split('/')[0]!))
  for (const n of ['a', 'b', 'c']) t.ok(Math.abs(leased[n]! - 1 / 3) < TOL, `leases to ${n}: ${leased[n]}`)
})

t.test('weighted_failover: the first pick is weight-proportional, then failover down the rest', async (t) => {
  const cases: [weights: number[], seed: number][] = [
    [[3, 1], 3],
    [[2, 1, 1], 4],
    [[1, 1, 1, 1], 5],
    [[10, 5, 4, 1], 6],
  ]
  for (const [weights, seed] of cases) {
    const names = weights.map((_, i) => `p${i}`)
    const r = rig('weighted_failover', names.map((n, i) => provider(n, { weight: weights[i]! })), {}, seed)
    const total = weights.reduce((a, b) => a + b, 0)
    const orders = Array.from({ length: 10_000 }, () => order(r))
    t.ok(orders.every((o) => [...o].sort().join() === [...names].sort().join()), `weights ${weights}: every order holds every provider once`)
    const first = shares(orders.map((o) => o[0]!))
    names.forEach((n, i) => t.ok(Math.abs((first[n] ?? 0) - weights[i]! / total) < TOL, `weights ${weights}: ${n} leads ${first[n]} ≈ ${weights[i]! / total}`))
  }
  // 3:1 through leases, and failover to the other when the first's key was tried.
  const r = rig('weighted_failover', [provider('a', { weight: 3 }), provider('b')], {}, 11)
  const leased = shares(Array.from({ length: 10_000 }, () => r.next().split('/')[0]!))
  t.ok(Math.abs(leased.a! - 0.75) < TOL, `a leads ${leased.a} ≈ 0.75`)
  const aTried = new Set([r.keyId('a', 'a-key')])
  for (let i = 0; i < 200; i++) t.equal(r.next({ tried: aTried }), 'b/b-key')
})

t.test('least_loaded: the provider with fewer leases in flight first, ties by failover order', async (t) => {
  const r = rig('least_loaded', [provider('a'), provider('b'), provider('c', { priority: 2 })])
  t.same(order(r), ['c', 'a', 'b'], 'idle: failover order')
  const l1 = r.lease()
  t.equal(r.who(l1), 'c/c-key')
  const l2 = r.lease()
  t.equal(r.who(l2), 'a/a-key')
  const l3 = r.lease()
  t.equal(r.who(l3), 'b/b-key')
  const l4 = r.lease()
  t.equal(r.who(l4), 'c/c-key', 'all at 1: failover order again')
  t.same(order(r), ['a', 'b', 'c'], 'c has 2 in flight')
  r.report(l2, 200)
  t.same(order(r), ['a', 'b', 'c'])
  r.report(l1, 200)
  r.report(l4, 200)
  t.same(order(r), ['c', 'a', 'b'], 'c idle again')
  t.same(
    r.sup.state.providers.map((p) => p.keys.reduce((n, k) => n + k.inflight, 0)),
    [0, 1, 0],
  )
})

t.test('least_loaded counts leases of keyless providers and of forwarded client credentials', async (t) => {
  const keyless = rig('least_loaded', [provider('l1', { type: 'ollama', keys: [] }), provider('l2', { type: 'ollama', keys: [] })])
  t.equal(keyless.next(), 'l1/-')
  t.equal(keyless.next(), 'l2/-', 'l1 has one in flight')
  const fwd = rig('least_loaded', [provider('sub', { keys: [] }), provider('pooled', { type: 'zai' })], { allowSubscription: true })
  t.equal(fwd.next({ hasClientCredential: true }), 'sub/-')
  t.equal(fwd.next({ hasClientCredential: true }), 'pooled/pooled-key', 'sub has one forwarded request in flight')
})

t.test('model_based: the longest routing.model_mapping prefix, then default_provider, the rest in failover order', async (t) => {
  const r = rig('model_based', [provider('fallback'), provider('anth', { priority: 5 }), provider('opus'), provider('local', { type: 'ollama', keys: [] })], {
    routing: { model_mapping: { 'claude-': 'anth', 'claude-opus': 'opus', llama: 'local' }, default_provider: 'fallback' },
  })
  const cases: [model: string, first: string, upstream: string][] = [
    ['claude-opus-4-1', 'opus', 'claude-opus-4-1'],
    ['claude-opus-4-1[1m]', 'opus', 'claude-opus-4-1'],
    ['claude-sonnet-4-5', 'anth', 'claude-sonnet-4-5'],
    ['claude-', 'anth', 'claude-'],
    ['llama3.1:8b', 'local', 'llama3.1:8b'],
    ['gpt-4o', 'fallback', 'gpt-4o'],
    ['claud', 'fallback', 'claud'],
  ]
  for (const [model, first, upstream] of cases) {
    const lease = r.lease({ model })
    t.equal(r.cfg.providers[lease.provider]!.name, first, `${model} → ${first}`)
    t.equal(lease.upstreamModel, upstream, `${model}: upstream model`)
  }
  t.same(order(r, 'claude-opus-4-1'), ['opus', 'anth', 'fallback', 'local'], 'the mapped provider, then failover order')
  t.same(order(r, 'gpt-4o'), ['fallback', 'anth', 'opus', 'local'])
  const noDefault = rig('model_based', [provider('a'), provider('b', { priority: 3 })], { routing: { model_mapping: { x: 'a' } } })
  t.same(order(noDefault, 'y-model'), ['b', 'a'], 'no prefix and no default_provider: failover order')
  t.same(order(noDefault, 'x-model'), ['a', 'b'])
})
