/**
 * Faults inside the relay: a bug, a plugin that throws, a peer's message of a shape nobody expected.
 * A shared relay must outlive all of them (CONTRACT §6: no request and no reload may end the process),
 * so every entry point — uWS handlers, port messages, timers, reloads, signals, health checks, Redis
 * callbacks — catches what escapes it and reports it here; the request it belonged to (if any) gets
 * its own Anthropic error from the boundary that caught it. The process-level `uncaughtException` and
 * `unhandledRejection` handlers report here too, as the last line of defence.
 *
 * Worker threads have no logger: their faults travel to the main thread over a BroadcastChannel and
 * are logged and counted there (`cc_relay_internal_errors_total`).
 */
import { isMainThread } from 'node:worker_threads'

export interface Fault {
  /** The boundary that caught it: `ingress.handler`, `bridge.message`, `reload`, `worker.uncaught`, … */
  readonly where: string
  readonly message: string
  readonly stack: string | undefined
  readonly requestId: string | undefined
}

/**
 * Every boundary with a fixed name, so `cc_relay_internal_errors_total` has a series at 0 for each from
 * the start (an alert on `increase()` sees the first fault; docs say 0 on a healthy relay). A boundary
 * missing here still counts, from its first fault; test/e2e/new-user-logs.test.ts checks the list
 * against src/. The shutdown steps (`shutdown.<step>`) appear when they happen.
 */
export const FAULT_BOUNDARIES: readonly string[] = [
  'admission.shared_caller', 'admission.shared_lease', 'attempts.admitted', 'attempts.lease', 'attempts.queue', 'exchange',
  'health_check', 'ingress.bridge', 'ingress.handler', 'ingress.request', 'process.uncaught', 'process.unhandled_rejection',
  'reload', 'reload.retire', 'shared.heartbeat', 'shared.message', 'signin.endpoint', 'worker.uncaught', 'worker.unhandled_rejection',
]

const CHANNEL = 'cc-relay:faults'

let sink: (fault: Fault) => void = (f) => process.stderr.write(`cc-relay: internal error in ${f.where}: ${f.message}\n`)
let toMain: BroadcastChannel | undefined

function describe(where: string, err: unknown, requestId: string | undefined): Fault {
  const e = err instanceof Error ? err : undefined
  return { where, message: e ? e.message : String(err), stack: e?.stack, requestId }
}

/** Reports a fault; never throws (it is what the boundaries call from their catch blocks). */
export function fault(where: string, err: unknown, requestId?: string): void {
  try {
    const f = describe(where, err, requestId)
    if (toMain) toMain.postMessage(f)
    else sink(f)
  } catch {
    // Reporting failed (stderr closed, a channel gone): there is nothing left to tell.
  }
}

/**
 * The main thread: faults (its own and the workers') go to `report`, and the process-level handlers
 * are installed. Returns a function that removes them again.
 */
export function collectFaults(report: (fault: Fault) => void): () => void {
  sink = report
  const channel = new BroadcastChannel(CHANNEL)
  channel.onmessage = (event) => {
    try {
      report((event as MessageEvent<Fault>).data)
    } catch {
      // A report that cannot be logged is dropped rather than thrown into the channel.
    }
  }
  ;(channel as unknown as { unref(): void }).unref()
  const uncaught = (err: Error): void => fault('process.uncaught', err)
  const unhandled = (reason: unknown): void => fault('process.unhandled_rejection', reason)
  process.on('uncaughtException', uncaught)
  process.on('unhandledRejection', unhandled)
  return () => {
    process.off('uncaughtException', uncaught)
    process.off('unhandledRejection', unhandled)
    channel.close()
  }
}

/** A worker thread: its faults go to the main thread, and an exception that escapes keeps the thread alive. */
export function forwardFaultsToMain(): void {
  if (isMainThread) return
  toMain = new BroadcastChannel(CHANNEL)
  ;(toMain as unknown as { unref(): void }).unref()
  process.on('uncaughtException', (err) => fault('worker.uncaught', err))
  process.on('unhandledRejection', (reason) => fault('worker.unhandled_rejection', reason))
}
