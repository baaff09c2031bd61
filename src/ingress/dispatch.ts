/**
 * Where a request's upstream exchange runs. Providers that translate (or come from outside the built-in
 * plugins) run in the worker pool: translation is CPU work kept off the socket thread, and a third-party
 * plugin's crash takes down one worker, not the relay. Built-in passthrough providers run on the main
 * thread with the same code over a same-thread channel, because for them the thread hop was most of the
 * relay's cost (bench/README.md). `CC_RELAY_UPSTREAM_IO=workers` sends everything to the pool.
 */
import { MessageChannel } from 'node:worker_threads'
import type { Piscina } from 'piscina'
import { localChannel } from '../shared/local-channel.js'
import type { RelayTask, TaskPort } from '../shared/protocol.js'
import type { WorkerRuntime } from '../workers/runtime.js'

export interface Lane {
  /** Where the exchange runs: the main thread's runtime, or the worker pool (the request log's `io`). */
  readonly io: 'main' | 'worker'
  readonly port1: TaskPort
  readonly port2: TaskPort
  run(task: RelayTask): Promise<unknown>
  /** The ingress has read the attempt's last message: close its end of the channel. */
  close(): void
}

export interface Dispatch {
  readonly pool: Piscina
  open(providerType: string): Lane
  /**
   * Resolves once every lane opened through this dispatch is closed (a reload retires the old pool
   * then). Lanes, not tasks, are counted: a task can settle before its last messages have crossed to
   * the ingress, and terminating the thread then would lose them.
   */
  drained(): Promise<void>
  /**
   * After `drained`: the pool's threads and the main-thread runtime's sockets and timer are let go.
   * Idempotent (a shutdown and a reload's retirement may both close the same dispatch).
   */
  close(): Promise<void>
}

export function createDispatch(pool: Piscina, local: WorkerRuntime | undefined, localTypes: ReadonlySet<string>): Dispatch {
  const useLocal = local !== undefined && process.env.CC_RELAY_UPSTREAM_IO !== 'workers'
  let open = 0
  let closing: Promise<void> | undefined
  let onDrained: (() => void) | undefined
  const lane = (io: Lane['io'], port1: TaskPort, port2: TaskPort, run: (task: RelayTask) => Promise<unknown>): Lane => {
    open++
    let closed = false
    return {
      io,
      port1,
      port2,
      run,
      close() {
        if (closed) return
        closed = true
        port1.close()
        if (--open === 0) onDrained?.()
      },
    }
  }
  return {
    pool,
    open(providerType) {
      if (useLocal && localTypes.has(providerType)) {
        const { port1, port2 } = localChannel()
        return lane('main', port1, port2, (task) => local.run(task))
      }
      const { port1, port2 } = new MessageChannel()
      // MessagePort's overloaded `on` is wider than TaskPort's; it carries the same messages.
      // The body is copied, not transferred: a failover attempt needs it again.
      return lane('worker', port1 as unknown as TaskPort, port2 as unknown as TaskPort, (task) => pool.run(task, { transferList: [port2] }))
    },
    drained: () => (open === 0 ? Promise.resolve() : new Promise<void>((resolve) => (onDrained = resolve))),
    close: () => {
      closing ??= (async () => {
        local?.close()
        await pool.destroy()
      })()
      return closing
    },
  }
}
