/** Many leases at once against limits: no over-admission, no lost lease (in-flight back to 0). */
import t from 'tap'
import type { Lease } from '../../src/shared/protocol.js'
import { prng } from '../helpers/prng.js'
import { Rig, config, key, provider } from './fixtures/helpers.js'

const inflight = (r: Rig): number[][] => r.sup.state.providers.map((p) => p.keys.map((k) => k.inflight))

t.test('500 leases at once against rpm 100 (5 keys × 20): exactly 100 granted, 20 per key, the rest rate_limited', async (t) => {
  const r = new Rig(config([provider('p', { keys: ['k0', 'k1', 'k2', 'k3', 'k4'].map((s) => key(s, { rpm_limit: 20 })) })]))
  const replies = Array.from({ length: 500 }, () => r.ask())
  const granted = replies.flatMap((x) => (x.ok ? [x.lease] : []))
  t.equal(granted.length, 100)
  const refused = replies.filter((x) => !x.ok)
  t.ok(refused.every((x) => !x.ok && x.error.code === 'rate_limited' && x.retryAfterMs === 60_000), '400 × rate_limited, retry in 60 s')
  t.same(inflight(r), [[20, 20, 20, 20, 20]])
  t.equal(new Set(granted.map((l) => l.id)).size, 100, 'distinct lease ids')
  for (const l of granted) r.report(l, 200, { usage: { input_tokens: 10, output_tokens: 10 } })
  t.same(inflight(r), [[0, 0, 0, 0, 0]], 'every lease reported: nothing in flight')
  t.equal(r.sup.state.leases.size, 0)
  t.equal(r.ask().ok, false, 'reporting does not give rpm admissions back')
  r.clock += 60_000
  t.equal(Array.from({ length: 500 }, () => r.ask()).filter((x) => x.ok).length, 100, 'the next minute: 100 again')
})

t.test('500 at once across two providers with rpm and tpm limits', async (t) => {
  const r = new Rig(
    config([
      provider('a', { keys: [key('a0', { rpm_limit: 30 }), key('a1', { rpm_limit: 30, tpm_limit: 10_000 })] }),
      provider('b', { type: 'zai', keys: [key('b0', { tpm_limit: 50_000 }), key('b1', { rpm_limit: 7 })] }),
    ]),
  )
  // 1 000 tokens each: a0 30 (rpm), a1 10 (tpm), b0 50 (tpm), b1 7 (rpm)
  const replies = Array.from({ length: 500 }, () => r.ask({ estimate: { input: 600, output: 400 } }))
  const granted = replies.flatMap((x) => (x.ok ? [x.lease] : []))
  t.equal(granted.length, 30 + 10 + 50 + 7)
  t.same(inflight(r), [[30, 10], [50, 7]])
  for (const l of granted) r.report(l, 200)
  t.same(inflight(r), [[0, 0], [0, 0]])
})

t.test('random interleaving of leases, reports and time: never over a limit in any 60 s, nothing lost', async (t) => {
  const LIMIT = 5
  const keys = ['k0', 'k1', 'k2']
  const r = new Rig(config([provider('p', { keys: keys.map((s) => key(s, { rpm_limit: LIMIT, tpm_limit: 8_000 })) })]), 99)
  const random = prng(99)
  const open: Lease[] = []
  const admissions = new Map<string, number[]>(keys.map((k) => [k, []]))
  // The tpm books as they must be: each admission reserves its estimate at its time; its report replaces
  // that with the real usage, unless the reservation has already left the sliding minute.
  const books = new Map<number, { key: string; at: number; tokens: number }>()
  let granted = 0
  let refused = 0
  for (let step = 0; step < 20_000; step++) {
    r.clock += Math.floor(random() * 1200)
    if (open.length && random() < 0.45) {
      const [l] = open.splice(Math.floor(random() * open.length), 1)
      const status = random() < 0.1 ? 429 : 200
      const usage = { input_tokens: Math.floor(random() * 1500), output_tokens: Math.floor(random() * 500) }
      r.report(l!, status, { usage, rateHeaders: status === 429 ? { 'retry-after': '1' } : {} })
      const entry = books.get(l!.id)!
      if (entry.at > r.clock - 60_000) entry.tokens = usage.input_tokens + usage.output_tokens
      continue
    }
    const estimate = { input: 500 + Math.floor(random() * 1000), output: 500 }
    const reply = r.ask({ estimate })
    if (!reply.ok) {
      refused++
      if (reply.error.code !== 'rate_limited' || !(reply.retryAfterMs! > 0)) t.fail(`unexpected refusal ${reply.error.code} ${reply.retryAfterMs}`)
      continue
    }
    granted++
    open.push(reply.lease)
    books.set(reply.lease.id, { key: r.who(reply.lease).split('/')[1]!, at: r.clock, tokens: estimate.input + estimate.output })
    const times = admissions.get(r.who(reply.lease).split('/')[1]!)!
    times.push(r.clock)
    if (times.length > LIMIT && r.clock - times[times.length - 1 - LIMIT]! < 60_000) t.fail(`over-admission at +${r.clock}`)
  }
  t.ok(granted > 100 && refused > 100, `${granted} granted, ${refused} refused`)
  for (const k of keys) {
    const expected = [...books.values()].filter((e) => e.key === k && e.at > r.clock - 60_000).reduce((sum, e) => sum + e.tokens, 0)
    t.equal(r.keyState('p', k).tpm.used(r.clock), expected, `${k}: the tpm books hold exactly the last minute's reservations and settlements`)
  }
  t.equal(inflight(r)[0]!.reduce((a, b) => a + b, 0), open.length, 'in flight = leases not yet reported')
  for (const l of open.splice(0)) r.report(l, 200)
  t.same(inflight(r), [[0, 0, 0]])
  t.equal(r.sup.state.leases.size, 0)
})
