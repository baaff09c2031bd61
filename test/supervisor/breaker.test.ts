/** src/supervisor/breaker.ts: closed → open → half-open → closed/open, scripted with a fake clock. */
import t from 'tap'
import type { Test } from 'tap'
import { Breaker } from '../../src/supervisor/breaker.js'
import type { BreakerState } from '../../src/supervisor/breaker.js'
import { T0 } from './fixtures/helpers.js'

const CONFIG = { failure_threshold: 3, open_duration_ms: 30_000, half_open_probes: 2 }

type Step =
  | { op: 'failure' | 'success' | 'release'; at: number; state: BreakerState }
  | { op: 'admit' | 'available'; at: number; expect: boolean; state: BreakerState }

/** Runs a script against a fresh breaker; every step checks the result and the state after it. */
function run(t: Test, name: string, steps: readonly Step[], config = CONFIG): Breaker {
  const b = new Breaker(config)
  steps.forEach((s, i) => {
    const label = `${name} #${i} ${s.op} at +${s.at}`
    if (s.op === 'admit' || s.op === 'available') t.equal(b[s.op](T0 + s.at), s.expect, label)
    else if (s.op === 'failure') b.failure(T0 + s.at)
    else if (s.op === 'release') b.release(b.epoch)
    else b[s.op]()
    t.equal(b.state, s.state, `${label}: state`)
  })
  return b
}

t.test('closed → open after failure_threshold consecutive failures; a success in between resets the count', async (t) => {
  const b = run(t, 'threshold', [
    { op: 'failure', at: 0, state: 'closed' },
    { op: 'failure', at: 1, state: 'closed' },
    { op: 'success', at: 2, state: 'closed' },
    { op: 'failure', at: 3, state: 'closed' },
    { op: 'failure', at: 4, state: 'closed' },
    { op: 'admit', at: 4, expect: true, state: 'closed' },
    { op: 'failure', at: 5, state: 'open' },
    { op: 'admit', at: 6, expect: false, state: 'open' },
  ])
  t.equal(b.openUntil, T0 + 5 + 30_000, 'open for open_duration_ms from the failure that opened it')
})

t.test('a closed breaker admits everything, without counting probes', async (t) => {
  const b = new Breaker(CONFIG)
  for (let i = 0; i < 100; i++) t.equal(b.admit(T0), true)
  t.equal(b.probesInFlight, 0)
})

t.test('open → half-open after open_duration_ms; half-open admits exactly half_open_probes at a time', async (t) => {
  const opened: Step[] = [0, 1, 2].map((at) => ({ op: 'failure', at, state: at === 2 ? 'open' : 'closed' }))
  run(t, 'half-open', [
    ...opened,
    { op: 'available', at: 30_001, expect: false, state: 'open' },
    { op: 'admit', at: 30_001, expect: false, state: 'open' },
    { op: 'available', at: 30_002, expect: true, state: 'open' }, // `available` does not change the state
    { op: 'admit', at: 30_002, expect: true, state: 'half_open' }, // probe 1
    { op: 'available', at: 30_003, expect: true, state: 'half_open' },
    { op: 'admit', at: 30_003, expect: true, state: 'half_open' }, // probe 2
    { op: 'available', at: 30_004, expect: false, state: 'half_open' },
    { op: 'admit', at: 30_004, expect: false, state: 'half_open' },
    { op: 'admit', at: 90_000, expect: false, state: 'half_open' }, // time alone frees no probe slot
    { op: 'release', at: 90_001, state: 'half_open' }, // a probe ended saying nothing about health
    { op: 'admit', at: 90_002, expect: true, state: 'half_open' },
    { op: 'admit', at: 90_003, expect: false, state: 'half_open' },
  ])
})

t.test('a probe success closes the breaker and clears the failure count', async (t) => {
  run(t, 'probe success', [
    { op: 'failure', at: 0, state: 'closed' },
    { op: 'failure', at: 0, state: 'closed' },
    { op: 'failure', at: 0, state: 'open' },
    { op: 'admit', at: 30_000, expect: true, state: 'half_open' },
    { op: 'success', at: 30_100, state: 'closed' },
    { op: 'admit', at: 30_101, expect: true, state: 'closed' },
    { op: 'admit', at: 30_101, expect: true, state: 'closed' },
    { op: 'admit', at: 30_101, expect: true, state: 'closed' },
    // the count starts over: two failures do not open it again
    { op: 'failure', at: 30_200, state: 'closed' },
    { op: 'failure', at: 30_300, state: 'closed' },
    { op: 'failure', at: 30_400, state: 'open' },
  ])
})

t.test('a probe failure re-opens the breaker with a new open period', async (t) => {
  const b = run(t, 'probe failure', [
    { op: 'failure', at: 0, state: 'closed' },
    { op: 'failure', at: 0, state: 'closed' },
    { op: 'failure', at: 0, state: 'open' },
    { op: 'admit', at: 40_000, expect: true, state: 'half_open' },
    { op: 'admit', at: 40_000, expect: true, state: 'half_open' },
    { op: 'failure', at: 45_000, state: 'open' }, // one failure is enough in half-open
    { op: 'admit', at: 45_001, expect: false, state: 'open' },
    { op: 'admit', at: 74_999, expect: false, state: 'open' },
    { op: 'admit', at: 75_000, expect: true, state: 'half_open' },
    { op: 'admit', at: 75_000, expect: true, state: 'half_open' }, // a fresh set of probe slots
    { op: 'admit', at: 75_000, expect: false, state: 'half_open' },
  ])
  t.equal(b.openUntil, T0 + 75_000)
})

t.test('release outside half-open changes nothing', async (t) => {
  const b = new Breaker(CONFIG)
  b.release(b.epoch)
  t.equal(b.state, 'closed')
  t.equal(b.probesInFlight, 0)
  for (let i = 0; i < 3; i++) b.failure(T0)
  b.release(b.epoch)
  t.equal(b.state, 'open')
  t.equal(b.probesInFlight, 0)
})

t.test('thresholds and probe counts from the config', async (t) => {
  const cases: { threshold: number; probes: number }[] = [
    { threshold: 1, probes: 1 },
    { threshold: 5, probes: 3 },
    { threshold: 10, probes: 7 },
  ]
  for (const { threshold, probes } of cases) {
    const b = new Breaker({ failure_threshold: threshold, open_duration_ms: 1000, half_open_probes: probes })
    for (let i = 1; i < threshold; i++) b.failure(T0)
    t.equal(b.state, 'closed', `${threshold - 1} failures keep it closed`)
    b.failure(T0)
    t.equal(b.state, 'open', `${threshold} failures open it`)
    let admitted = 0
    while (b.admit(T0 + 1000) && admitted < 100) admitted++
    t.equal(admitted, probes, `half-open admits ${probes}`)
  }
})

t.test('reconfigure applies a new threshold to the running count', async (t) => {
  const b = new Breaker(CONFIG)
  b.failure(T0)
  b.failure(T0)
  b.reconfigure({ ...CONFIG, failure_threshold: 10 })
  b.failure(T0)
  t.equal(b.state, 'closed')
  t.equal(b.failures, 3)
})
