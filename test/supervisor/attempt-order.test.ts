/** Rotation per request (not per failover attempt), per-client counts, learned budgets, retry time with breakers. */
import t from 'tap'
import { Rig, config, key, provider, retryOf } from './fixtures/helpers.js'

t.test('round_robin advances once per request: a failover attempt keeps the request on the same rotation', async (t) => {
  const r = new Rig(config([provider('a', { keys: [key('ka')] }), provider('b', { keys: [key('kb')] })], { routing: { strategy: 'round_robin' } }))
  const starts: string[] = []
  for (let i = 0; i < 4; i++) {
    const first = r.lease()
    starts.push(r.who(first))
    const tried = new Set([first.keyId])
    r.report(first, 529)
    const second = r.lease({ tried })
    t.not(r.who(second), r.who(first), 'the failover attempt goes to the other provider')
    r.report(second, 200)
  }
  t.same(starts, ['a/ka', 'b/kb', 'a/ka', 'b/kb'], 'every first attempt still alternates')
})

t.test('forwarded logins are counted per credential hash, requests and tokens', async (t) => {
  const r = new Rig(config([provider('claude', { keys: [] })], { allowSubscription: true }))
  for (let i = 0; i < 3; i++) {
    const l = r.lease({ hasClientCredential: true, clientCredentialHash: 'abc123' })
    r.report(l, 200, { usage: { input_tokens: 10, output_tokens: 5 } })
  }
  t.same(r.sup.state.logins.get('abc123'), { requests: 3, tokens: 45 })
})

t.test('the upstream budget headers are kept on the key, and a 429 says throttle or quota', async (t) => {
  const r = new Rig(config([provider('p', { keys: [key('k1'), key('k2')] })]))
  const l = r.lease()
  r.report(l, 429, { rateHeaders: { 'retry-after': '7200', 'anthropic-ratelimit-requests-limit': '50' } })
  const k = r.keyState('p', r.who(l).split('/')[1]!)
  t.equal(k.cooldowns.get(l.upstreamModel)?.kind, 'quota')
  t.equal(k.learned['anthropic-ratelimit-requests-limit'], '50')
})

t.test('a circuit that half-opens before any key frees up gives the earlier retry time', async (t) => {
  const r = new Rig(
    config([provider('a', { priority: 2, keys: [key('ka')] }), provider('b', { priority: 1, keys: [key('kb', { rpm_limit: 1 })] })], {
      breaker: { failure_threshold: 1, open_duration_ms: 5_000, half_open_probes: 1 },
    }),
  )
  r.report(r.lease(), 500) // a opens for 5 s
  r.report(r.lease(), 200) // b's one request this minute
  t.equal(retryOf(r.ask()), 5_000)
})
