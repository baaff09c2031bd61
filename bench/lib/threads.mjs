// Which thread of an arm's processes did the work: its CPU between two snapshots (each thread's exact
// run time from /proc/<pid>/task/*/schedstat, split into user and system by its tick counts in `stat`),
// split into the main thread (tid == pid: the thread that owns the relay's
// sockets, and whose CPU bounds how far one process scales with cores), each worker thread (named
// `worker-N` by name-threads.cjs, preloaded with NAME_THREADS), V8's platform threads (named
// `v8-platform` there: parallel and concurrent GC, background compilation) and the rest ("other":
// libuv's thread pool, another runtime's threads, any thread that ended during the run). "other" is the
// process's total less the rest, so the four always add up to it.
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { cpuTimes, threadName, threadRunSeconds, threadTimes } from './procstat.mjs'

/** Node options that name the threads of the process (bench/lib/name-threads.cjs). */
export const NAME_THREADS = ['--require', fileURLToPath(new URL('./name-threads.cjs', import.meta.url))]

const WORKER = /^worker-\d+$/
const V8 = 'v8-platform'

const zero = () => ({ user: 0, system: 0 })
const add = (into, t) => {
  into.user += t.user
  into.system += t.system
  return into
}
const less = (a, b) => ({ user: a.user - b.user, system: a.system - b.system })

/**
 * One thread's CPU between two reads: its exact run time, split into user and system in the proportion
 * of its tick counts (all user when it had no ticks); the tick counts alone without schedstat.
 */
function spentBy(after, before) {
  const ticks = less(after, before)
  if (after.run === null || before.run === null) return ticks
  const run = after.run - before.run
  const all = ticks.user + ticks.system
  const userPart = all > 0 ? ticks.user / all : 1
  return { user: run * userPart, system: run * (1 - userPart) }
}

/** Every thread of `pids` now (`pid/tid` → name and times), and the processes' totals. */
export function threadSnapshot(pids) {
  const threads = new Map()
  const total = zero()
  for (const pid of pids) {
    add(total, cpuTimes(pid))
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        threads.set(`${pid}/${tid}`, { tid: Number(tid), name: threadName(pid, tid), run: threadRunSeconds(pid, tid), ...threadTimes(pid, tid) })
      } catch {
        // The thread ended between the listing and the read: its time is in the process's total.
      }
    }
  }
  return { threads, total }
}

/**
 * CPU seconds between two snapshots: `total`, `main` (the threads whose tid is in `mainTids`),
 * `workers` by name, `v8` (V8's platform threads), `other` (the rest) and `otherByName` (the live other
 * threads by name: for another runtime's threads, e.g. a `--target` relay's).
 *
 * The total is the live threads' exact run times, plus, when a thread ended between the snapshots, what
 * the process's tick counts have beyond the live threads' (the ended threads' time is only there). Tick
 * counts alone are whole 10 ms ticks, truncated per thread and per process: on a one-second run of a
 * light process (nginx's 20 ms) that is a large error, and the parts would not add up to the whole.
 */
export function threadSplit(before, after, mainTids) {
  const out = { total: zero(), main: zero(), workers: {}, v8: zero(), other: zero(), otherByName: {} }
  const ticks = zero() // the live threads' tick counts
  for (const [key, t] of after.threads) {
    const earlier = before.threads.get(key) ?? { ...zero(), run: 0 }
    const spent = spentBy(t, earlier)
    add(out.total, spent)
    add(ticks, less(t, earlier))
    if (mainTids.includes(t.tid)) add(out.main, spent)
    else if (WORKER.test(t.name)) add((out.workers[t.name] ??= zero()), spent)
    else if (t.name === V8) add(out.v8, spent)
    else add((out.otherByName[t.name] ??= zero()), spent)
  }
  const ended = [...before.threads.keys()].some((key) => !after.threads.has(key))
  if (ended) {
    const processTicks = less(after.total, before.total)
    add(out.total, { user: Math.max(0, processTicks.user - ticks.user), system: Math.max(0, processTicks.system - ticks.system) })
  }
  const accounted = Object.values(out.workers).reduce(add, add({ ...out.main }, out.v8))
  out.other = { user: Math.max(0, out.total.user - accounted.user), system: Math.max(0, out.total.system - accounted.system) }
  return out
}

/** Adds one split into another (rounds merged). */
export function mergeSplit(into, s) {
  if (!into) return structuredClone(s)
  for (const k of ['total', 'main', 'v8', 'other']) add(into[k], s[k])
  for (const [name, t] of Object.entries(s.workers)) add((into.workers[name] ??= zero()), t)
  for (const [name, t] of Object.entries(s.otherByName)) add((into.otherByName[name] ??= zero()), t)
  return into
}

/** Sum of user and system. */
export const both = (t) => t.user + t.system
