/** reduce.ts through Supervisor.lease/report: rpm/tpm/itpm/otpm windows, reservations and settlement, cooldowns. */
import t from 'tap'
import type { KeyConfig } from '../../src/config/types.js'
import { Rig, T0, codeOf, config, key, provider, retryOf } from './fixtures/helpers.js'

const single = (k: KeyConfig): Rig => new Rig(config([provider('p', { keys: [k] })]))

t.test('rpm_limit 3: three leases, then rate_limited until the oldest admission ages out', async (t) => {
  const r = single(key('k', { rpm_limit: 3 }))
  const script: [at: number, granted: boolean, retryAfterMs?: number][] = [
    [0, true],
    [10_000, true],
    [20_000, true],
    [30_000, false, 30_000],
    [59_999, false, 1],
    [60_000, true], // T0's admission aged out
    [60_000, false, 10_000], // next: T0+10 s ages out at T0+70 s
    [69_999, false, 1],
    [70_000, true],
    [80_000, true],
    [80_000, false, 40_000],
  ]
  for (const [at, granted, retryAfterMs] of script) {
    r.clock = T0 + at
    const reply = r.ask()
    t.equal(reply.ok, granted, `+${at}: granted ${granted}`)
    if (!reply.ok) {
      t.equal(reply.error.code, 'rate_limited', `+${at}: code`)
      t.equal(reply.retryAfterMs, retryAfterMs, `+${at}: retryAfterMs`)
      t.notOk(reply.exhausted)
    }
  }
  t.equal(r.keyState('p', 'k').rpm.used(r.clock), 3)
})

t.test('rpm: reporting a lease does not give its admission back (a request is a request)', async (t) => {
  const r = single(key('k', { rpm_limit: 2 }))
  r.report(r.lease(), 200)
  r.report(r.lease(), 500)
  const reply = r.ask()
  t.equal(reply.ok, false)
  t.equal(!reply.ok && reply.retryAfterMs, 60_000)
})

t.test('tpm: the estimate (input + output) is reserved at admission and settled with input + output + cache creation, not cache reads', async (t) => {
  const r = single(key('k', { tpm_limit: 1000 }))
  const tpm = () => r.keyState('p', 'k').tpm.used(r.clock)
  const a = r.lease({ estimate: { input: 300, output: 200 } })
  t.equal(tpm(), 500, 'reserved 300 + 200')
  const b = r.lease({ estimate: { input: 400, output: 100 } })
  t.equal(tpm(), 1000)
  const full = r.ask({ estimate: { input: 1, output: 0 } })
  t.equal(full.ok, false, 'one more token does not fit')
  t.equal(!full.ok && full.error.code, 'rate_limited')
  t.equal(!full.ok && full.retryAfterMs, 60_000)
  r.clock += 1000
  r.report(a, 200, { usage: { input_tokens: 100, output_tokens: 50, cache_creation_input_tokens: 30, cache_read_input_tokens: 10_000 } })
  t.equal(tpm(), 180 + 500, 'a settled at 100 + 50 + 30 (the 10 000 cache-read tokens are not counted)')
  t.equal(r.ask({ estimate: { input: 200, output: 121 } }).ok, false, '321 do not fit in 320')
  const c = r.lease({ estimate: { input: 200, output: 120 } })
  t.equal(tpm(), 1000, '320 fit exactly')
  r.report(b, 200, { usage: { input_tokens: 900, output_tokens: 100 } })
  t.equal(tpm(), 180 + 1000 + 320, 'settling up takes the room: the window is now over its limit')
  const over = r.ask({ estimate: { input: 1, output: 0 } })
  t.equal(!over.ok && over.retryAfterMs, 59_000, 'a and b (admitted at T0) must age out first')
  r.report(c, 200, { usage: { input_tokens: 10, output_tokens: 10 } })
  r.clock += 59_000
  t.equal(tpm(), 20, 'T0 entries aged out; c (admitted at T0+1 s) counts its real 20')
  t.equal(r.ask({ estimate: { input: 980, output: 0 } }).ok, true)
})

t.test('tpm: a request larger than the whole limit runs alone in an empty window', async (t) => {
  const r = single(key('k', { tpm_limit: 1000 }))
  const big = r.lease({ estimate: { input: 3000, output: 4096 } })
  t.equal(r.keyState('p', 'k').tpm.used(r.clock), 7096)
  const next = r.ask({ estimate: { input: 10, output: 10 } })
  t.equal(!next.ok && next.retryAfterMs, 60_000)
  r.report(big, 200, { usage: { input_tokens: 3000, output_tokens: 10 } })
  r.clock += 60_000
  t.equal(r.ask({ estimate: { input: 3000, output: 4096 } }).ok, true)
})

t.test('itpm and otpm each limit their share; settlement books input + cache creation and output', async (t) => {
  const cases: { name: string; limit: Partial<KeyConfig>; fits: [number, number]; overflows: [number, number]; window: 'itpm' | 'otpm'; settled: number }[] = [
    { name: 'itpm', limit: { itpm_limit: 1000 }, fits: [400, 99_999], overflows: [401, 0], window: 'itpm', settled: 50 + 25 },
    { name: 'otpm', limit: { otpm_limit: 1000 }, fits: [99_999, 400], overflows: [0, 401], window: 'otpm', settled: 40 },
  ]
  for (const c of cases) {
    const r = single(key('k', c.limit))
    const first = r.lease({ estimate: { input: 600, output: 600 } })
    t.equal(r.keyState('p', 'k')[c.window].used(r.clock), 600, `${c.name}: reserved its share`)
    const over = r.ask({ estimate: { input: c.overflows[0], output: c.overflows[1] } })
    t.equal(over.ok, false, `${c.name}: 401 more do not fit`)
    t.equal(!over.ok && over.error.code, 'rate_limited')
    t.equal(r.ask({ estimate: { input: c.fits[0], output: c.fits[1] } }).ok, true, `${c.name}: 400 fit, the other share is unlimited`)
    r.report(first, 200, { usage: { input_tokens: 50, output_tokens: 40, cache_creation_input_tokens: 25, cache_read_input_tokens: 5000 } })
    t.equal(r.keyState('p', 'k')[c.window].used(r.clock), c.settled + 400, `${c.name}: settled to ${c.settled}`)
  }
})

t.test('a 429 with retry-after: 10 cools that key exactly 10 s; meanwhile the other key serves', async (t) => {
  const r = new Rig(config([provider('p', { keys: [key('A', { priority: 2 }), key('B', { priority: 1 })] })]))
  const start = r.clock
  const a = r.lease()
  t.equal(r.who(a), 'p/A')
  r.report(a, 429, { rateHeaders: { 'retry-after': '10' } })
  t.equal(r.coolsUntil('p', 'A', a.upstreamModel), start + 10_000)
  const script: [at: number, expected: string][] = [
    [0, 'p/B'],
    [5_000, 'p/B'],
    [9_999, 'p/B'],
    [10_000, 'p/A'],
    [30_000, 'p/A'],
  ]
  for (const [at, expected] of script) {
    r.clock = start + at
    t.equal(r.next(), expected, `+${at}`)
  }
  t.equal(r.providerState('p').breaker.state, 'closed', 'a 429 says nothing about the provider')
})

t.test('a lone key cooling after a 429: rate_limited with the time left', async (t) => {
  const cases: [name: string, headers: Record<string, string>, wait: number][] = [
    ['retry-after seconds', { 'retry-after': '10' }, 10_000],
    ['retry-after HTTP date', { 'retry-after': new Date(T0 + 42_000).toUTCString() }, 42_000],
    ['retry-after-ms', { 'retry-after-ms': '2500' }, 2500],
    ['no hint: the default cooldown', {}, 5000],
    ['quota over an hour', { 'retry-after': '7200' }, 7_200_000],
    [
      'unified 5h rejected',
      { 'anthropic-ratelimit-unified-5h-status': 'rejected', 'anthropic-ratelimit-unified-5h-reset': String((T0 + 4 * 3_600_000) / 1000), 'retry-after': '10' },
      4 * 3_600_000,
    ],
  ]
  for (const [name, headers, wait] of cases) {
    const r = single(key('k'))
    r.report(r.lease(), 429, { rateHeaders: headers })
    const reply = r.ask()
    t.equal(reply.ok, false, name)
    t.equal(!reply.ok && reply.error.code, 'rate_limited', `${name}: code`)
    t.equal(!reply.ok && reply.retryAfterMs, wait, `${name}: retryAfterMs`)
    r.clock += wait - 1
    t.equal(r.ask().ok, false, `${name}: still cooling 1 ms before`)
    r.clock += 1
    t.equal(r.ask().ok, true, `${name}: free again`)
  }
})

t.test('a later, shorter 429 does not shorten a running cooldown', async (t) => {
  const r = single(key('k'))
  const l1 = r.lease()
  const l2 = r.lease()
  r.report(l1, 429, { rateHeaders: { 'retry-after': '60' } })
  r.report(l2, 429, { rateHeaders: { 'retry-after': '1' } })
  t.equal(r.coolsUntil('p', 'k', l1.upstreamModel), r.clock + 60_000)
})

t.test('a spent budget on a 200 (requests-remaining: 0 + RFC 3339 reset) cools the key without touching local accounting', async (t) => {
  const r = new Rig(config([provider('p', { keys: [key('A', { priority: 2, rpm_limit: 50 }), key('B', { priority: 1 })] })]))
  const start = r.clock
  const a = r.lease()
  r.report(a, 200, {
    rateHeaders: { 'anthropic-ratelimit-requests-remaining': '0', 'anthropic-ratelimit-requests-reset': new Date(start + 20_000).toISOString(), 'anthropic-ratelimit-requests-limit': '50' },
  })
  t.equal(r.keyState('p', 'A').rpm.used(r.clock), 1, 'local rpm accounting unchanged')
  t.equal(r.next(), 'p/B')
  r.clock = start + 19_999
  t.equal(r.next(), 'p/B')
  r.clock = start + 20_000
  t.equal(r.next(), 'p/A')
  t.equal(r.keyState('p', 'A').rpm.used(r.clock), 2)
})

t.test('limit 0 everywhere = unlimited', async (t) => {
  const r = single(key('k'))
  for (let i = 0; i < 1000; i++) r.lease({ estimate: { input: 1_000_000, output: 1_000_000 } })
  t.equal(r.keyState('p', 'k').inflight, 1000)
})

t.test("cooldowns are scoped like the upstream's limits: one model's 429 leaves the key serving the others (CONTRACT §6)", async (t) => {
  const OPUS = 'claude-opus-4-8'
  const HAIKU = 'claude-haiku-4-5'
  const reset = new Date(T0 + 20_000).toISOString()
  const cases: [name: string, status: number, headers: Record<string, string>, opusWait: number, haikuFree: boolean][] = [
    ['a 429 with retry-after', 429, { 'retry-after': '30', 'anthropic-ratelimit-requests-remaining': '0' }, 30_000, true],
    ['a 429 without a hint', 429, {}, 5_000, true],
    ['a spent budget on a 200', 200, { 'anthropic-ratelimit-tokens-remaining': '0', 'anthropic-ratelimit-tokens-reset': reset }, 20_000, true],
    [
      'a subscription window rejected for the Opus family',
      429,
      { 'anthropic-ratelimit-unified-status': 'rejected', 'anthropic-ratelimit-unified-reset': String(T0 / 1000 + 3600), 'anthropic-ratelimit-unified-representative-claim': 'seven_day_opus' },
      3_600_000,
      true,
    ],
    [
      'the account-wide five-hour window rejected',
      429,
      { 'anthropic-ratelimit-unified-status': 'rejected', 'anthropic-ratelimit-unified-reset': String(T0 / 1000 + 3600), 'anthropic-ratelimit-unified-representative-claim': 'five_hour' },
      3_600_000,
      false,
    ],
  ]
  for (const [name, status, headers, opusWait, haikuFree] of cases) {
    const r = single(key('k'))
    r.report(r.lease({ model: OPUS }), status, { rateHeaders: headers })
    const opus = r.ask({ model: OPUS })
    t.equal(codeOf(opus), 'rate_limited', `${name}: the cooled model is refused`)
    t.equal(retryOf(opus), opusWait, `${name}: with the time left`)
    t.equal(codeOf(r.ask({ model: HAIKU })), haikuFree ? 'granted' : 'rate_limited', `${name}: another model ${haikuFree ? 'is served' : 'waits too'}`)
  }
})

t.test('a mapped model cools under its upstream name: two client names for one upstream model share the cooldown', async (t) => {
  const r = new Rig(config([provider('p', { keys: [key('k')], model_mapping: { 'claude-opus-4-8': 'opus-up', 'opus-alias': 'opus-up', 'claude-haiku-4-5': 'haiku-up' } })]))
  r.report(r.lease({ model: 'claude-opus-4-8' }), 429, { rateHeaders: { 'retry-after': '10' } })
  t.equal(r.coolsUntil('p', 'k', 'opus-up'), T0 + 10_000)
  t.equal(codeOf(r.ask({ model: 'opus-alias' })), 'rate_limited', 'the alias maps to the cooled upstream model')
  t.equal(codeOf(r.ask({ model: 'claude-haiku-4-5' })), 'granted')
})
