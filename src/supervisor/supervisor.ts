/**
 * The supervisor actor's shell: it owns the state and the clock, and feeds every message through the
 * pure transitions in reduce.ts. It runs on the main thread beside the ingress, so a lease costs a
 * function call, not a thread hop. A shared store (several relays, one team) replaces the state behind
 * the same calls.
 */
import type { ProviderPlugin } from '../../plugins/sdk.js'
import type { RelayConfig } from '../config/types.js'
import type { LeaseAsk, LeaseReply, Outcome } from '../shared/protocol.js'
import { healthResult, lease, openProviders, settle } from './reduce.js'
import { buildState } from './state.js'
import type { SupervisorState } from './state.js'

export class Supervisor {
  #state: SupervisorState
  readonly #plugins: ReadonlyMap<string, ProviderPlugin>
  readonly #now: () => number

  constructor(config: RelayConfig, plugins: ReadonlyMap<string, ProviderPlugin>, opts: { now?: () => number; random?: () => number } = {}) {
    this.#plugins = plugins
    this.#now = opts.now ?? Date.now
    this.#state = buildState(config, plugins, opts.random ?? Math.random)
  }

  lease(ask: Omit<LeaseAsk, 'type'>): LeaseReply {
    return lease(this.#state, { type: 'lease.ask', ...ask }, this.#now())
  }

  report(leaseId: number, outcome: Outcome): void {
    settle(this.#state, { type: 'lease.outcome', leaseId, outcome }, this.#now())
  }

  /** Open circuits the health checker should probe: name and probe request. */
  openProviders(): { name: string; url: string; method: 'GET' | 'HEAD' }[] {
    return openProviders(this.#state, this.#now()).map((p) => {
      const baseUrl = (p.config.base_url || p.plugin.defaultBaseUrl(p.config.options)).replace(/\/+$/, '')
      const probe = p.plugin.healthCheck?.(baseUrl, p.config.options) ?? { url: `${baseUrl}/` }
      return { name: p.config.name, url: probe.url, method: probe.method ?? 'GET' }
    })
  }

  healthResult(provider: string, reachable: boolean): void {
    healthResult(this.#state, provider, reachable, this.#now())
  }

  /** A new config: windows, cooldowns and breakers of providers and keys that remain carry over. */
  replaceConfig(config: RelayConfig): void {
    this.#state = buildState(config, this.#plugins, this.#state.random, this.#state)
  }

  /** Read-only view for status pages and tests. */
  get state(): Readonly<SupervisorState> {
    return this.#state
  }
}
