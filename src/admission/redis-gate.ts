/**
 * The shared gate for relays on one Redis (`state.store: redis`, issue 7): callers' and groups' windows
 * and concurrency slots, pooled keys' windows, half-open probes and session affinity, all checked across
 * relays by src/supervisor/shared/shared-state.ts. Redis failing never fails a request: the shared state
 * then admits everything and the local supervisor enforces divided limits instead.
 */
import type { RelayConfig } from '../config/types.js'
import { fault } from '../shared/faults.js'
import type { Logger } from '../shared/log.js'
import type { Lease, Usage } from '../shared/protocol.js'
import { SharedState } from '../supervisor/shared/shared-state.js'
import type { SharedReservation, SharedVerdict } from '../supervisor/shared/shared-state.js'
import type { Supervisor } from '../supervisor/supervisor.js'
import type { CallerVerdict, Estimate, LeaseVerdict, OnEnd, SharedGate, StoreStatus } from './shared-gate.js'
import type { LimitAccount } from './team-book.js'

const NO_ESTIMATE_USE = { input: 0, output: 0 }

/** A token count as the shared windows settle it: input includes cache writes (cache reads are free). */
const used = (u: Usage | undefined): { input: number; output: number } => (u ? { input: u.input_tokens + u.cache_creation_input_tokens, output: u.output_tokens } : NO_ESTIMATE_USE)

export class RedisGate implements SharedGate {
  readonly #shared: SharedState
  readonly #supervisor: Supervisor
  readonly #config: () => RelayConfig
  /** Shared-window reservations of leases in flight, by lease id. */
  readonly #reservations = new Map<number, SharedReservation>()

  constructor(config: RelayConfig, supervisor: Supervisor, currentConfig: () => RelayConfig, log: Logger) {
    this.#supervisor = supervisor
    this.#config = currentConfig
    this.#shared = new SharedState(config, log, {
      reapply: () => supervisor.replaceConfig(this.effective(currentConfig())),
      hear: (event) => supervisor.applyShared(event),
      pooledKeys: () => supervisor.state.providers.flatMap((p) => p.keys.map((k) => ({ provider: p.config.name, hash: k.hash, id: k.id }))),
    })
    supervisor.onNews((event) => this.#shared.announce(event))
  }

  status(): StoreStatus {
    return this.#shared.status
  }

  effective(config: RelayConfig): RelayConfig {
    return this.#shared.effective(config)
  }

  admitCaller(accounts: readonly LimitAccount[], estimate: Estimate, sticky: string | undefined, onEnd: OnEnd, done: (verdict: CallerVerdict) => void): void {
    if (accounts.length === 0 && sticky === undefined) return done({ ok: true })
    const shared = this.#shared
    // Every question goes to Redis at once: each account's windows and slot, and the session's place.
    const windows = accounts.map((a) => shared.admit(a.id, { rpm_limit: a.rpm_limit, tpm_limit: a.tpm_limit, itpm_limit: 0, otpm_limit: 0 }, estimate))
    const slots = accounts.map((a) => (a.max_concurrent > 0 ? shared.takeSlot(a.id, a.max_concurrent) : Promise.resolve(true as const)))
    Promise.all([Promise.all(windows), Promise.all(slots), sticky ? shared.recallSession(sticky) : undefined])
      .then(
        ([verdicts, taken, entry]): CallerVerdict => {
          const reservations = verdicts.flatMap((v: SharedVerdict) => (v.ok && v.reservation ? [v.reservation] : []))
          const release = (usage: Usage | undefined): void => {
            taken.forEach((slot, i) => {
              if (typeof slot === 'string') shared.freeSlot(accounts[i]!.id, slot)
            })
            for (const r of reservations) shared.settle(r, used(usage))
          }
          const windowRefusal = verdicts.findIndex((v) => !v.ok)
          const slotRefusal = taken.findIndex((slot) => slot === false)
          if (windowRefusal >= 0 || slotRefusal >= 0) {
            release(undefined)
            const account = accounts[windowRefusal >= 0 ? windowRefusal : slotRefusal]!
            const name = account.id.replace(':', ' ')
            const verdict = verdicts[windowRefusal]
            if (verdict && !verdict.ok) return { ok: false, retryAfterMs: verdict.retryAfterMs, what: `${name} is at its rpm/tpm limit` }
            return { ok: false, retryAfterMs: 1000, what: `${name} is at its max_concurrent of ${account.max_concurrent}` }
          }
          onEnd((outcome) => release(outcome?.usage))
          if (entry && sticky) this.#supervisor.applyShared({ type: 'affinity', session: sticky, ...entry, ttlMs: this.#config().routing.affinity.ttl_ms })
          return { ok: true }
        },
        (err: unknown): CallerVerdict => {
          // The shared state never rejects by design; if it did, the relay's own limits still hold.
          fault('admission.shared_caller', err)
          return { ok: true }
        },
      )
      .then(done)
      .catch((err: unknown) => fault('admission.shared_caller', err))
  }

  confirmLease(lease: Lease, estimate: Estimate, sticky: string | undefined, done: (verdict: LeaseVerdict) => void): void {
    const shared = this.#shared
    const provider = this.#config().providers[lease.provider]
    const key = lease.key < 0 ? undefined : provider?.keys[lease.key]
    const probe = lease.probe && provider ? shared.admitProbe(provider.name, lease.probe.period, lease.probe.limit) : Promise.resolve(true)
    // A pooled key's lease is recorded as in flight by the same round trip (for least_loaded elsewhere).
    const admitted: Promise<SharedVerdict> = key ? shared.admit(lease.keyId, key, estimate, lease.id) : Promise.resolve({ ok: true, reservation: undefined })
    Promise.all([probe, admitted])
      .then(
        ([probeAllowed, verdict]): LeaseVerdict => {
          if (verdict.ok && verdict.reservation) this.#reservations.set(lease.id, verdict.reservation)
          if (!probeAllowed) return { ok: false, probesTaken: true }
          if (!verdict.ok) return { ok: false, probesTaken: false, retryAfterMs: verdict.retryAfterMs }
          if (sticky !== undefined) this.#shareAffinity(sticky)
          return { ok: true }
        },
        (err: unknown): LeaseVerdict => {
          fault('admission.shared_lease', err)
          return { ok: true }
        },
      )
      .then(done)
      .catch((err: unknown) => fault('admission.shared_lease', err))
  }

  leaseEnded(lease: Lease, usage: Usage | undefined): void {
    if (lease.key >= 0) this.#shared.leaseEnded(lease.keyId, lease.id)
    const reservation = this.#reservations.get(lease.id)
    if (reservation) {
      this.#reservations.delete(lease.id)
      this.#shared.settle(reservation, used(usage))
    }
  }

  /** Where the session was just served, for whichever relay takes its next turn. */
  #shareAffinity(sticky: string): void {
    const entry = this.#supervisor.state.affinity.get(sticky, Date.now())
    if (entry) this.#shared.rememberSession(sticky, entry.provider, entry.keyHash, entry.family, this.#config().routing.affinity.ttl_ms)
  }

  started(): Promise<void> {
    return this.#shared.started(this.#config().state.redis.connect_timeout_ms)
  }

  close(): Promise<void> {
    return this.#shared.close()
  }
}
