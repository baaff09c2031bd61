/**
 * The main thread's worker pool (piscina). Each task is one request and stays pending until its stream
 * ends, so a worker runs many at once; `atomics: 'disabled'` because in the default 'sync' mode an idle
 * worker blocks in Atomics.wait, freezing its keep-alive sockets and any stream still running (STACK.md).
 * Tasks are never given piscina's `signal`: aborting one would terminate the whole thread and every
 * stream on it. Cancellation travels over the task's own port instead.
 */
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { Piscina } from 'piscina'
import type { RelayConfig } from '../config/types.js'
import { PROJECT_ROOT } from '../shared/plugins.js'
import { PROTOCOL } from '../shared/protocol.js'
import type { WorkerData } from './entry.js'

/** Streams one worker thread carries at once; beyond that, tasks queue. */
export const STREAMS_PER_WORKER = 1024

/** Worker threads: the main thread owns client sockets, so leave it a core; `CC_RELAY_WORKERS` overrides. */
export function workerCount(): number {
  const fromEnv = Number(process.env.CC_RELAY_WORKERS)
  if (Number.isInteger(fromEnv) && fromEnv > 0) return fromEnv
  return Math.max(1, Math.min(4, availableParallelism() - 1))
}

/**
 * `eager`: start every thread now. When no configured provider needs a worker (all are built-in
 * passthrough types served on the main thread), threads start on first use instead, saving the
 * ~40 MB an idle thread costs.
 */
export function createPool(config: RelayConfig, pluginSources: readonly string[], eager: boolean): Piscina {
  const threads = workerCount()
  const workerData: WorkerData = { config, pluginSources }
  return new Piscina({
    filename: join(PROJECT_ROOT, 'dist', 'src', 'workers', 'entry.js'),
    minThreads: eager ? threads : 0,
    maxThreads: threads,
    concurrentTasksPerWorker: STREAMS_PER_WORKER,
    atomics: 'disabled',
    idleTimeout: eager ? Number.MAX_SAFE_INTEGER : 10_000,
    // A bounded queue: beyond it the relay answers 529 overloaded_error rather than buffering without end.
    maxQueue: threads * STREAMS_PER_WORKER,
    workerData,
  })
}

/** Resolves once every thread has loaded its plugins (a failing plugin rejects here, at start). */
export async function warmUp(pool: Piscina): Promise<void> {
  await Promise.all(Array.from({ length: Math.max(1, pool.threads.length) }, () => pool.run({ v: PROTOCOL, kind: 'ping' })))
}
