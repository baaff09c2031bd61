/**
 * reduce.ts through Supervisor.lease/report: which credential a lease uses (CONTRACT §3), keys refused
 * with 401/403, keyless providers, and the model checks (CONTRACT §1 candidates, `[1m]`).
 */
import t from 'tap'
import type { RoutingStrategy } from '../../src/config/types.js'
import { Rig, codeOf, config, key, provider } from './fixtures/helpers.js'

t.test('401/403 marks a pooled key unusable: never leased again, the next key serves', async (t) => {
  for (const status of [401, 403]) {
    const r = new Rig(config([provider('p', { keys: [key('A', { priority: 2 }), key('B')] })]))
    const a = r.lease()
    t.equal(r.who(a), 'p/A')
    r.report(a, status)
    t.match(r.keyState('p', 'A').unusable, new RegExp(String(status)), `${status}: the reason is kept for the status view`)
    for (let i = 0; i < 5; i++) {
      r.clock += 3_600_000
      t.equal(r.next(), 'p/B', `${status}: B, even hours later`)
    }
    t.equal(r.providerState('p').breaker.state, 'closed', `${status}: not a provider failure`)
    t.equal(r.providerState('p').breaker.failures, 0)
  }
})

t.test('401 on the only key: no_credential afterwards, exhausted within the request that tried it', async (t) => {
  const r = new Rig(config([provider('p', { keys: [key('only')] })]))
  const l = r.lease()
  r.report(l, 401)
  const later = r.ask()
  t.equal(later.ok, false)
  t.equal(!later.ok && later.error.code, 'no_credential')
  t.match(!later.ok && later.error.message, /401\/403/)
  t.equal(!later.ok && later.retryAfterMs, undefined, 'no retry-after: waiting will not help')
  const same = r.ask({ tried: new Set([l.keyId]) })
  t.equal(!same.ok && same.exhausted, true, 'the request that got the 401 has tried every candidate')
})

t.test('each key at most once per request; exhausted when every candidate was tried', async (t) => {
  const r = new Rig(config([provider('p1', { priority: 2, keys: [key('A'), key('B')] }), provider('p2', { keys: [key('C')] })]))
  const tried = new Set<string>()
  const walked: string[] = []
  for (let i = 0; i < 3; i++) {
    const l = r.lease({ tried })
    t.notOk(tried.has(l.keyId), `attempt ${i + 1}: a key not tried yet`)
    walked.push(r.who(l))
    tried.add(l.keyId)
    r.report(l, 529)
  }
  t.same(walked, ['p1/A', 'p1/B', 'p2/C'], 'keys of the first provider, then the next provider')
  const reply = r.ask({ tried })
  t.equal(reply.ok, false)
  t.equal(!reply.ok && reply.exhausted, true)
  t.equal(!reply.ok && reply.error.code, 'upstream_unreachable')
  t.equal(r.ask().ok, true, 'a new request starts with an empty tried set')
})

t.test('subscription forwarding only to the `forward` type; the other type uses its pooled keys', async (t) => {
  const providers = (anthFirst: boolean) => [provider('anth', { priority: anthFirst ? 2 : 1, keys: [key('anth-pool')] }), provider('zai', { type: 'zai', priority: anthFirst ? 1 : 2, keys: [key('zai-pool')] })]
  const r = new Rig(config(providers(true), { allowSubscription: true }))
  const fwd = r.lease({ hasClientCredential: true })
  t.equal(r.who(fwd), 'anth/-', 'the client credential, not a pooled key')
  t.equal(fwd.forwardClientCredential, true)
  t.equal(fwd.keyId, 'anth#client')
  t.equal(r.keyState('anth', 'anth-pool').inflight, 0, 'the pool is not drawn from')
  t.equal(r.keyState('anth', 'anth-pool').rpm.used(r.clock), 0)
  const next = r.lease({ hasClientCredential: true, tried: new Set([fwd.keyId]) })
  t.equal(r.who(next), 'zai/zai-pool', 'failover to the other type uses its pooled key')
  t.equal(next.forwardClientCredential, false)
  const exhausted = r.ask({ hasClientCredential: true, tried: new Set([fwd.keyId, next.keyId]) })
  t.equal(!exhausted.ok && exhausted.exhausted, true, 'the client credential is not retried, nor replaced by the anthropic pool')
  t.equal(r.who(r.lease()), 'anth/anth-pool', 'without a client credential: the pool')

  const zFirst = new Rig(config(providers(false), { allowSubscription: true }))
  const z = zFirst.lease({ hasClientCredential: true })
  t.equal(zFirst.who(z), 'zai/zai-pool', 'routing picks the other type first: its own keys')
  t.equal(z.forwardClientCredential, false)
})

t.test('forwarding needs allow_subscription; without it the pool is used, or no_credential', async (t) => {
  const r = new Rig(config([provider('anth')], { allowSubscription: false }))
  const l = r.lease({ hasClientCredential: true })
  t.equal(r.who(l), 'anth/anth-key')
  t.equal(l.forwardClientCredential, false)
  const none = new Rig(config([provider('anth', { keys: [] })], { allowSubscription: false }))
  const reply = none.ask({ hasClientCredential: true })
  t.equal(!reply.ok && reply.error.code, 'no_credential')
  t.match(!reply.ok && reply.error.message, /configure keys/)
  const allowed = new Rig(config([provider('anth', { keys: [] })], { allowSubscription: true }))
  t.equal(allowed.lease({ hasClientCredential: true }).forwardClientCredential, true, 'a keyless anthropic provider serves forwarded credentials')
  t.equal(codeOf(allowed.ask()), 'no_credential', '…but not clients without one')
})

t.test('a forwarded credential never goes to the `never` type, under every strategy (1 000 draws each)', async (t) => {
  const strategies: RoutingStrategy[] = ['failover', 'round_robin', 'weighted_round_robin', 'shuffle', 'least_loaded', 'weighted_failover', 'model_based']
  for (const strategy of strategies) {
    const r = new Rig(
      config([provider('anth', { keys: [] }), provider('zai', { type: 'zai', weight: 3 }), provider('local', { type: 'ollama', keys: [] })], {
        allowSubscription: true,
        routing: { strategy, model_mapping: { claude: 'zai' } },
      }),
      strategy.length,
    )
    let forwarded = 0
    let leaked = 0
    for (let i = 0; i < 1000; i++) {
      const l = r.lease({ hasClientCredential: true })
      const type = r.cfg.providers[l.provider]!.type
      if (l.forwardClientCredential) forwarded++
      if (l.forwardClientCredential !== (type === 'anthropic')) leaked++
      r.report(l, 200)
    }
    t.equal(leaked, 0, `${strategy}: forwarded only to anthropic (${forwarded} forwarded)`)
  }
})

t.test('an open breaker is respected for forwarded credentials too', async (t) => {
  const r = new Rig(config([provider('anth', { priority: 2, keys: [] }), provider('zai', { type: 'zai' })], { allowSubscription: true, breaker: { failure_threshold: 1 } }))
  r.report(r.lease({ hasClientCredential: true }), 503)
  const l = r.lease({ hasClientCredential: true })
  t.equal(r.who(l), 'zai/zai-key')
  t.equal(l.forwardClientCredential, false)
})

t.test('a keyless `auth: none` provider leases with key -1', async (t) => {
  const r = new Rig(config([provider('local', { type: 'ollama', keys: [] })], { allowSubscription: true }))
  for (const hasClientCredential of [false, true]) {
    const l = r.lease({ hasClientCredential })
    t.equal(l.key, -1)
    t.equal(l.keyId, 'local#none')
    t.equal(l.forwardClientCredential, false, 'a client credential is never forwarded to it')
    const again = r.ask({ tried: new Set([l.keyId]) })
    t.equal(!again.ok && again.exhausted, true, 'tried once per request like a key')
  }
  const pooled = new Rig(config([provider('local', { type: 'ollama', keys: [key('', { rpm_limit: 1 }), key('', { rpm_limit: 1 })] })]))
  const slots = [pooled.lease(), pooled.lease()]
  t.same(slots.map((l) => l.key), [0, 1], 'an auth:none provider with key entries pools them as slots')
  t.equal(codeOf(pooled.ask()), 'rate_limited')
})

t.test('a keys provider without keys and without a forwardable credential: no_credential', async (t) => {
  const r = new Rig(config([provider('z', { type: 'zai', keys: [] })], { allowSubscription: true }))
  const reply = r.ask({ hasClientCredential: true })
  t.equal(!reply.ok && reply.error.code, 'no_credential')
})

t.test('model_not_served names the model and what is served', async (t) => {
  const r = new Rig(
    config([
      provider('a', { models: ['claude-sonnet-4-5'], model_mapping: { 'claude-opus-4-1': 'glm-4.6', 'claude-haiku-*': 'glm-air' } }),
      provider('b', { models: ['gpt-4o'] }),
      provider('off', { enabled: false }),
    ]),
  )
  const reply = r.ask({ model: 'llama-3' })
  t.equal(reply.ok, false)
  if (reply.ok) return
  t.equal(reply.error.code, 'model_not_served')
  t.match(reply.error.message, /"llama-3"/)
  for (const served of ['claude-sonnet-4-5', 'claude-opus-4-1', 'gpt-4o']) t.match(reply.error.message, served, `lists ${served}`)
  t.notMatch(reply.error.message, 'claude-haiku-*', 'no wildcard keys')
  t.equal(reply.retryAfterMs, undefined)
  t.notOk(reply.exhausted)
  t.equal(r.next({ model: 'claude-haiku-4-5' }), 'a/a-key', 'a wildcard mapping serves')
  t.equal(r.lease({ model: 'claude-haiku-4-5' }).upstreamModel, 'glm-air')
})

t.test('a disabled provider, or one without the route, is no candidate', async (t) => {
  const r = new Rig(config([provider('off', { enabled: false }), provider('m', { type: 'msgonly' })]))
  t.equal(r.next(), 'm/m-key')
  const count = r.ask({ route: 'count_tokens' })
  t.equal(!count.ok && count.error.code, 'model_not_served')
  t.match(!count.ok && count.error.message, /token counting/)
})

t.test('[1m] is stripped before matching and from the upstream model', async (t) => {
  const r = new Rig(config([provider('a', { models: ['claude-sonnet-4-5'], model_mapping: { 'claude-opus-4-1': 'up-opus' } })]))
  const cases: [model: string, upstream: string][] = [
    ['claude-sonnet-4-5[1m]', 'claude-sonnet-4-5'],
    ['claude-sonnet-4-5[1M]', 'claude-sonnet-4-5'],
    ['claude-opus-4-1[1m]', 'up-opus'],
    ['claude-sonnet-4-5', 'claude-sonnet-4-5'],
  ]
  for (const [model, upstream] of cases) t.equal(r.lease({ model }).upstreamModel, upstream, model)
  const miss = r.ask({ model: 'claude-haiku-4-5[1m]' })
  t.match(!miss.ok && miss.error.message, /"claude-haiku-4-5\[1m\]"/, 'the error names the model as the client sent it')
})
