/** src/supervisor/windows.ts: sliding 60 s request and token windows, driven by a fake clock. */
import t from 'tap'
import { RequestWindow, TokenWindow, WINDOW_MS } from '../../src/supervisor/windows.js'
import { prng } from '../helpers/prng.js'
import { T0 } from './fixtures/helpers.js'

t.test('RequestWindow(3): a scripted minute, waitMs exact at every step', async (t) => {
  const w = new RequestWindow(3)
  // [op, time offset from T0, waitMs after the op (for 'wait': the expected waitMs at that time)]
  const script: [op: 'admit' | 'wait', at: number, wait: number][] = [
    ['wait', 0, 0],
    ['admit', 0, 0],
    ['admit', 10_000, 0],
    ['wait', 19_999, 0],
    ['admit', 20_000, 40_000], // full: the oldest (T0) ages out at T0+60 000
    ['wait', 30_000, 30_000],
    ['wait', 59_999, 1], // the boundary: one ms left
    ['wait', 60_000, 0], // the first admission has aged out
    ['admit', 60_000, 10_000], // full again: next to age out is T0+10 000
    ['wait', 69_999, 1],
    ['wait', 70_000, 0],
    ['admit', 70_000, 10_000],
    ['admit', 80_000, 40_000],
  ]
  for (const [op, at, wait] of script) {
    if (op === 'admit') {
      t.equal(w.waitMs(T0 + at), 0, `room before admitting at +${at}`)
      w.admit(T0 + at)
    }
    t.equal(w.waitMs(T0 + at), wait, `${op} at +${at}: waitMs`)
  }
})

t.test('RequestWindow: used() counts the admissions of the last 60 s, the boundary exclusive', async (t) => {
  const w = new RequestWindow(5)
  for (const at of [0, 1, 2]) w.admit(T0 + at)
  const cases: [at: number, used: number][] = [
    [2, 3],
    [59_999, 3],
    [60_000, 2], // T0 aged out exactly 60 s later
    [60_001, 1],
    [60_002, 0],
  ]
  for (const [at, used] of cases) t.equal(w.used(T0 + at), used, `used at +${at}`)
})

t.test('RequestWindow: N admitted at once, the N+1st exactly 60 s later', async (t) => {
  for (const n of [1, 2, 5, 20, 100]) {
    const w = new RequestWindow(n)
    for (let i = 0; i < n; i++) {
      t.equal(w.waitMs(T0), 0)
      w.admit(T0)
    }
    t.equal(w.waitMs(T0), WINDOW_MS, `limit ${n}: full`)
    t.equal(w.waitMs(T0 + WINDOW_MS - 1), 1, `limit ${n}: 1 ms before the window slides`)
    t.equal(w.waitMs(T0 + WINDOW_MS), 0, `limit ${n}: free at +60 s`)
  }
})

t.test('RequestWindow: never more than N in any sliding 60 s, and a refusal only when the window is full (random arrivals)', async (t) => {
  for (const n of [1, 3, 10]) {
    const w = new RequestWindow(n)
    const random = prng(n)
    const admitted: number[] = []
    let now = T0
    let refusals = 0
    for (let i = 0; i < 5000; i++) {
      now += Math.floor(random() * 4000)
      const inWindow = admitted.filter((a) => a > now - WINDOW_MS).length
      if (w.waitMs(now) === 0) {
        if (inWindow >= n) t.fail(`limit ${n}: admits an ${inWindow + 1}th within 60 s at +${now - T0}`)
        w.admit(now)
        admitted.push(now)
      } else {
        refusals++
        if (inWindow !== n) t.fail(`limit ${n}: refused with only ${inWindow} in the window at +${now - T0}`)
        const oldest = admitted[admitted.length - n]!
        if (w.waitMs(now) !== oldest + WINDOW_MS - now) t.fail(`limit ${n}: waitMs ${w.waitMs(now)}, expected ${oldest + WINDOW_MS - now}`)
      }
    }
    t.ok(refusals > 0 && admitted.length > 0, `limit ${n}: ${admitted.length} admitted, ${refusals} refused`)
  }
})

t.test('RequestWindow(0) is unlimited', async (t) => {
  const w = new RequestWindow(0)
  for (let i = 0; i < 1000; i++) w.admit(T0)
  t.equal(w.waitMs(T0), 0)
  t.equal(w.used(T0), 0)
})

t.test('TokenWindow: reserve, then settle down frees room and settle up takes it', async (t) => {
  const cases: [name: string, reserved: number, settled: number][] = [
    ['settle down', 600, 200],
    ['settle up', 100, 900],
    ['settle equal', 500, 500],
    ['settle to zero', 700, 0],
    ['settle above the limit', 100, 1500],
  ]
  for (const [name, reserved, settled] of cases) {
    const w = new TokenWindow(1000)
    const entry = w.reserve(reserved, T0)
    t.equal(w.used(T0), reserved, `${name}: reserved`)
    t.equal(w.waitMs(1000 - reserved, T0), 0, `${name}: the rest fits`)
    if (reserved < 1000) t.equal(w.waitMs(1000 - reserved + 1, T0), WINDOW_MS, `${name}: one more token waits for the reservation to age out`)
    w.settle(entry, settled, T0 + 5000)
    t.equal(w.used(T0 + 5000), settled, `${name}: the real usage replaces the estimate`)
    const room = Math.max(0, 1000 - settled)
    if (room > 0) t.equal(w.waitMs(room, T0 + 5000), 0, `${name}: ${room} fit after settling`)
    if (room < 1000) t.equal(w.waitMs(room + 1, T0 + 5000), WINDOW_MS - 5000, `${name}: ${room + 1} wait for the entry (admitted at T0) to age out`)
    t.equal(w.used(T0 + WINDOW_MS), 0, `${name}: the entry keeps its admission time and ages out at T0+60 s`)
  }
})

t.test('TokenWindow: settle after the entry aged out is a no-op', async (t) => {
  const w = new TokenWindow(1000)
  const entry = w.reserve(500, T0)
  t.equal(w.used(T0 + 59_999), 500)
  w.settle(entry, 900, T0 + 60_000)
  t.equal(w.used(T0 + 60_000), 0)
  const later = w.reserve(300, T0 + 60_000)
  w.settle(entry, 900, T0 + 61_000)
  t.equal(w.used(T0 + 61_000), 300, 'a late settle does not touch the newer entries')
  w.settle(later, 100, T0 + 61_000)
  t.equal(w.used(T0 + 61_000), 100)
})

t.test('TokenWindow: waitMs walks the entries oldest first', async (t) => {
  const w = new TokenWindow(1000)
  w.reserve(300, T0)
  w.reserve(300, T0 + 10_000)
  w.reserve(300, T0 + 20_000)
  const now = T0 + 30_000
  const cases: [tokens: number, wait: number][] = [
    [100, 0],
    [101, 30_000], // the T0 entry must age out
    [400, 30_000],
    [401, 40_000], // and the T0+10 s one
    [700, 40_000],
    [701, 50_000],
    [1000, 50_000],
    [1001, 50_000], // larger than the limit: needs an empty window, not forever
    [1_000_000, 50_000],
  ]
  for (const [tokens, wait] of cases) t.equal(w.waitMs(tokens, now), wait, `${tokens} tokens`)
})

t.test('TokenWindow: a request larger than the whole limit fits an empty window', async (t) => {
  const w = new TokenWindow(1000)
  t.equal(w.waitMs(5000, T0), 0, 'empty window: admitted')
  const e = w.reserve(5000, T0)
  t.equal(w.waitMs(1, T0 + 1), WINDOW_MS - 1, 'then the window is over its limit until the entry ages out')
  w.settle(e, 10, T0 + 2)
  t.equal(w.waitMs(990, T0 + 2), 0, 'settled to its real (small) usage')
})

t.test('TokenWindow(0) is unlimited', async (t) => {
  const w = new TokenWindow(0)
  const entry = w.reserve(1_000_000, T0)
  t.equal(entry, undefined, 'no reservation is kept')
  t.equal(w.waitMs(Number.MAX_SAFE_INTEGER, T0), 0)
  t.doesNotThrow(() => w.settle(entry, 5, T0))
  t.equal(w.used(T0), 0)
})
