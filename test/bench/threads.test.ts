/**
 * The bench's per-thread CPU (bench/lib/threads.mjs): a Node process started with the bench's preload
 * names its threads (V8's platform threads `v8-platform`, each worker thread `worker-N`; the main thread
 * is the pid), and a split of its CPU puts a worker's busy loop on the worker, not on the main thread,
 * with main, workers, V8 and the rest adding up to the process's whole.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import * as threadsJs from '../../bench/lib/threads.mjs'

type Times = { user: number; system: number }
type Snapshot = { threads: Map<string, { tid: number; name: string }>; total: Times }
const threads = threadsJs as unknown as {
  NAME_THREADS: string[]
  threadSnapshot(pids: number[]): Snapshot
  threadSplit(before: Snapshot, after: Snapshot, mainTids: number[]): { total: Times; main: Times; workers: Record<string, Times>; v8: Times; other: Times }
  both(t: Times): number
}

t.test("a worker thread busy for 600 ms: its CPU is the worker's, and the parts add up to the whole", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cc-relay-threads-'))
  // The worker says it is up (its preloads have run by then), spins for 600 ms when told, says so, and
  // stays (a listener on its port keeps it): an ended thread's time is in the process's total only.
  writeFileSync(
    join(dir, 'busy.cjs'),
    "const { parentPort } = require('node:worker_threads'); parentPort.postMessage('up'); parentPort.on('message', () => { const end = Date.now() + 600; while (Date.now() < end); parentPort.postMessage('spun') })",
  )
  const main = `const { Worker } = require('node:worker_threads')
const w = new Worker(${JSON.stringify(join(dir, 'busy.cjs'))})
w.on('message', (m) => console.log(m))
process.stdin.once('data', () => w.postMessage('go'))`
  const child = spawn(process.execPath, [...threads.NAME_THREADS, '-e', main], { stdio: ['pipe', 'pipe', 'inherit'] })
  const deadline = setTimeout(() => child.kill('SIGKILL'), 20_000)
  t.teardown(() => {
    clearTimeout(deadline)
    child.kill('SIGKILL')
  })
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]()
  t.equal((await lines.next()).value, 'up')
  const before = threads.threadSnapshot([child.pid!])
  const names = [...before.threads.values()].map((x) => x.name)
  t.ok(names.includes('v8-platform'), `V8's platform threads are named (${names.join(', ')})`)
  t.ok(names.some((n) => /^worker-\d+$/.test(n)), 'the worker thread named itself')
  t.equal([...before.threads.values()].find((x) => x.tid === child.pid)?.name, 'node', 'the main thread keeps its name')
  child.stdin!.write('go\n')
  t.equal((await lines.next()).value, 'spun')
  const after = threads.threadSnapshot([child.pid!])
  const split = threads.threadSplit(before, after, [child.pid!])
  const total = threads.both(split.total)
  // On shared cores the loop gets what the scheduler gives it: the figures are judged as parts of the whole.
  t.ok(total >= 0.1, `the process spent the busy loop's CPU (${total.toFixed(2)} s)`)
  const workers = Object.values(split.workers).reduce((a, w) => a + threads.both(w), 0)
  t.ok(workers >= 0.6 * total, `most of it on the worker threads (${workers.toFixed(3)} s)`)
  t.ok(threads.both(split.main) < 0.1 * total, `little on the main thread (${threads.both(split.main).toFixed(3)} s)`)
  const parts = threads.both(split.main) + threads.both(split.v8) + threads.both(split.other) + workers
  t.ok(Math.abs(parts - total) < 0.02, `the parts add up to the whole (${parts.toFixed(3)} against ${total.toFixed(3)} s)`)
})
