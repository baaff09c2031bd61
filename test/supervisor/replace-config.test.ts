/** Supervisor.replaceConfig (state.ts buildState): what survives a new config, keyed by provider name + key hash. */
import t from 'tap'
import type { KeyConfig, ProviderConfig, RelayConfig } from '../../src/config/types.js'
import { Rig, config, key, provider } from './fixtures/helpers.js'

const BREAKER = { failure_threshold: 1, open_duration_ms: 30_000, half_open_probes: 1 }

function cfg(p1Keys: KeyConfig[], p2: ProviderConfig | null = provider('p2', { keys: [key('C')] }), extra: ProviderConfig[] = []): RelayConfig {
  const providers = [provider('p1', { priority: 2, keys: p1Keys, pooling: { strategy: 'round_robin' } }), ...(p2 ? [p2] : []), ...extra]
  return config(providers, { breaker: BREAKER })
}

/** A: cooling 30 s after a 429; B: 2 of rpm 2 used; p2: breaker open. */
function primed(): Rig {
  const r = new Rig(cfg([key('A'), key('B', { rpm_limit: 2 })]))
  const a = r.lease()
  if (r.who(a) !== 'p1/A') throw new Error(`expected p1/A, got ${r.who(a)}`)
  r.report(a, 429, { rateHeaders: { 'retry-after': '30' } })
  r.report(r.lease(), 200) // B
  r.report(r.lease(), 200) // B again (A cooling)
  const c = r.lease()
  if (r.who(c) !== 'p2/C') throw new Error(`expected p2/C, got ${r.who(c)}`)
  r.report(c, 503)
  return r
}

t.test("a key's cooldown and windows and a provider's breaker survive a new config with the same names and keys", async (t) => {
  const variants: [name: string, next: RelayConfig][] = [
    ['an identical config (a new object)', cfg([key('A'), key('B', { rpm_limit: 2 })])],
    ['keys reordered', cfg([key('B', { rpm_limit: 2 }), key('A')])],
    ['another provider added in front', config([provider('new', { type: 'zai', keys: [] }), ...cfg([key('A'), key('B', { rpm_limit: 2 })]).providers], { breaker: BREAKER })],
    ['an unrelated key limit changed', cfg([key('A', { tpm_limit: 5000 }), key('B', { rpm_limit: 2 })])],
  ]
  for (const [name, next] of variants) {
    const r = primed()
    const start = r.clock
    const before = { b: r.keyState('p1', 'B').rpm, breaker: r.providerState('p2').breaker }
    r.reload(next)
    t.equal(r.coolsUntil('p1', 'A', 'claude-sonnet-4-5'), start + 30_000, `${name}: A's cooldown`)
    t.equal(r.keyState('p1', 'B').rpm, before.b, `${name}: B's rpm window is the same window`)
    t.equal(r.keyState('p1', 'B').rpm.used(r.clock), 2, `${name}: B's 2 admissions still count`)
    t.equal(r.providerState('p2').breaker, before.breaker, `${name}: p2's breaker`)
    t.equal(r.providerState('p2').breaker.state, 'open', `${name}: still open`)
    const reply = r.ask()
    t.equal(reply.ok, false, `${name}: nothing free right after the reload`)
    t.equal(!reply.ok && reply.error.code, 'rate_limited', `${name}: A cooling and B limited`)
    t.equal(!reply.ok && reply.retryAfterMs, 30_000, `${name}: until A's cooldown ends`)
    r.clock = start + 30_000
    t.equal(r.next(), 'p1/A', `${name}: A back after its cooldown`)
  }
})

t.test('a raised limit keeps what the window holds', async (t) => {
  const r = primed()
  r.reload(cfg([key('A'), key('B', { rpm_limit: 5 })]))
  const b = r.keyState('p1', 'B')
  t.equal(b.rpm.limit, 5)
  t.equal(b.rpm.used(r.clock), 2, 'the two admissions of this minute still count')
  const picks = Array.from({ length: 3 }, () => r.next())
  t.same(picks, Array(3).fill('p1/B'), 'three more admissions (A still cooling)')
  t.equal(r.ask().ok, false)
  t.equal(r.coolsUntil('p1', 'A', 'claude-sonnet-4-5'), r.clock + 30_000, 'the cooldown carried over regardless')
})

t.test('a lowered limit never hands out a fresh minute', async (t) => {
  const r = primed()
  r.reload(cfg([key('A'), key('B', { rpm_limit: 1 })]))
  t.equal(r.keyState('p1', 'B').rpm.used(r.clock), 1, 'the newest admission is kept')
  t.equal(r.ask().ok, false, 'B is full under its new limit')
})

t.test('a changed breaker config applies to the carried-over breaker', async (t) => {
  const r = primed()
  r.reload(config(cfg([key('A'), key('B', { rpm_limit: 2 })]).providers, { breaker: { failure_threshold: 1, open_duration_ms: 30_000, half_open_probes: 3 } }))
  r.clock += 30_000
  const tried = new Set([r.keyId('p1', 'A'), r.keyId('p1', 'B')])
  const probes = Array.from({ length: 4 }, () => r.ask({ tried }).ok)
  t.same(probes, [true, true, true, false], 'three probes now')
})

t.test('a removed key or provider disappears', async (t) => {
  const r = primed()
  r.reload(cfg([key('B', { rpm_limit: 2 })], null, [provider('p3', { keys: [key('D')] })]))
  t.same(r.sup.state.providers.map((p) => p.config.name), ['p1', 'p3'])
  t.same(r.providerState('p1').keys.map((k) => k.config.key), ['B'])
  r.clock += 60_000
  const picks = Array.from({ length: 4 }, () => r.next())
  t.same(picks, ['p1/B', 'p1/B', 'p3/D', 'p3/D'], 'never A, never p2')
  t.equal(r.providerState('p3').breaker.state, 'closed', 'a new provider starts closed')
})

t.test('a key that comes back after a reload without it starts afresh', async (t) => {
  const r = primed()
  r.reload(cfg([key('B', { rpm_limit: 2 })]))
  r.reload(cfg([key('A'), key('B', { rpm_limit: 2 })]))
  t.equal(r.coolsUntil('p1', 'A', 'claude-sonnet-4-5'), 0)
})

t.test('an outcome for a lease granted before the reload settles without throwing', async (t) => {
  const r = new Rig(cfg([key('A', { tpm_limit: 10_000 }), key('B', { tpm_limit: 10_000 })], provider('p2', { keys: [key('C')] })))
  const a = r.lease({ estimate: { input: 1000, output: 1000 } })
  const b = r.lease({ estimate: { input: 1000, output: 1000 } })
  const tried = new Set([a.keyId, b.keyId])
  const c = r.lease({ tried })
  t.same([a, b, c].map((l) => r.who(l)), ['p1/A', 'p1/B', 'p2/C'])
  // A keeps its key and limit, B's limit changes, p2 goes away.
  r.reload(cfg([key('A', { tpm_limit: 10_000 }), key('B', { tpm_limit: 20_000 })], null))
  t.equal(r.keyState('p1', 'A').inflight, 1, 'in-flight carried over')
  t.equal(r.keyState('p1', 'B').inflight, 1)
  t.doesNotThrow(() => r.report(a, 200, { usage: { input_tokens: 10, output_tokens: 10 } }), 'kept key')
  t.doesNotThrow(() => r.report(b, 200, { usage: { input_tokens: 10, output_tokens: 10 } }), 'key with a new limit')
  t.doesNotThrow(() => r.report(c, 503), 'removed provider')
  t.equal(r.keyState('p1', 'A').inflight, 0)
  t.equal(r.keyState('p1', 'B').inflight, 0)
  t.equal(r.keyState('p1', 'A').tpm.used(r.clock), 20, 'the carried window settled with the real usage')
  t.equal(r.keyState('p1', 'B').tpm.used(r.clock), 20, 'the reservation made before the reload settled under the new limit')
  t.equal(r.sup.state.leases.size, 0, 'no lease left open')
  // A key removed while its lease was out.
  const d = r.lease({ tried: new Set([r.keyId('p1', 'B')]) })
  t.equal(r.who(d), 'p1/A')
  r.reload(cfg([key('B', { tpm_limit: 20_000 })], null))
  t.doesNotThrow(() => r.report(d, 429, { rateHeaders: { 'retry-after': '10' } }), 'removed key')
  t.equal(r.sup.state.leases.size, 0)
  t.doesNotThrow(() => r.report(d, 200), 'a duplicate report is ignored')
})
