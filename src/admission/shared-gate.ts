/**
 * What relays sharing one store (`state.store: redis`) must agree on before a request goes out: the
 * callers' and groups' limits across relays, the pooled keys' shared windows, half-open probes, and
 * where a session was last served. One interface, two implementations, chosen once at start: the memory
 * store's gate agrees with itself at once (no I/O, answers synchronously), the Redis gate asks Redis
 * (redis-gate.ts). Nothing outside src/admission/ knows which one runs.
 */
import type { RelayConfig } from '../config/types.js'
import type { Logger } from '../shared/log.js'
import type { Lease, Outcome, Usage } from '../shared/protocol.js'
import type { Supervisor } from '../supervisor/supervisor.js'
import type { LimitAccount } from './team-book.js'

export interface StoreStatus {
  readonly kind: 'memory' | 'redis'
  /** Redis answers (false while the relay enforces divided local limits, and always for memory). */
  readonly shared: boolean
  readonly instances: number
}

export type CallerVerdict = { readonly ok: true } | { readonly ok: false; readonly retryAfterMs: number; readonly what: string }

/** A lease confirmed, or why not: the circuit's probes are all taken elsewhere, or the key's shared window is full. */
export type LeaseVerdict = { readonly ok: true } | { readonly ok: false; readonly probesTaken: true } | { readonly ok: false; readonly probesTaken: false; readonly retryAfterMs: number }

/** Registers a callback for the request's end, with its final attempt's outcome (RequestLog.onDone). */
export type OnEnd = (callback: (outcome: Outcome | undefined) => void) => void

export interface SharedGate {
  status(): StoreStatus
  /** The config the local supervisor enforces: whole while shared, limits divided by the relays while Redis is away. */
  effective(config: RelayConfig): RelayConfig
  /** The caller's and its group's limits across relays, and the session's affinity learnt by another relay. */
  admitCaller(accounts: readonly LimitAccount[], estimate: Estimate, sticky: string | undefined, onEnd: OnEnd, done: (verdict: CallerVerdict) => void): void
  /** A lease the local supervisor granted, confirmed across relays; `sticky` is the session's affinity key. */
  confirmLease(lease: Lease, estimate: Estimate, sticky: string | undefined, done: (verdict: LeaseVerdict) => void): void
  /** The attempt on `lease` is over, having used `usage` (undefined: it reached no upstream). */
  leaseEnded(lease: Lease, usage: Usage | undefined): void
  /** Connected (or given up waiting) and heartbeating. */
  started(): Promise<void>
  close(): Promise<void>
}

export interface Estimate {
  readonly input: number
  readonly output: number
}

const OK = { ok: true } as const

/** One relay on its own: every question is answered here, at once. */
export class LocalGate implements SharedGate {
  status(): StoreStatus {
    return { kind: 'memory', shared: false, instances: 1 }
  }

  effective(config: RelayConfig): RelayConfig {
    return config
  }

  admitCaller(_accounts: readonly LimitAccount[], _estimate: Estimate, _sticky: string | undefined, _onEnd: OnEnd, done: (verdict: CallerVerdict) => void): void {
    done(OK)
  }

  confirmLease(_lease: Lease, _estimate: Estimate, _sticky: string | undefined, done: (verdict: LeaseVerdict) => void): void {
    done(OK)
  }

  leaseEnded(): void {}

  async started(): Promise<void> {}

  async close(): Promise<void> {}
}

/**
 * The gate `config.state.store` asks for. Redis's client is loaded only when it is used (about 25 MB of
 * resident memory otherwise spent for nothing).
 */
export async function openGate(config: RelayConfig, supervisor: Supervisor, currentConfig: () => RelayConfig, log: Logger): Promise<SharedGate> {
  if (config.state.store !== 'redis') return new LocalGate()
  const { RedisGate } = await import('./redis-gate.js')
  return new RedisGate(config, supervisor, currentConfig, log)
}
