/**
 * The supervisor actor's shell: a mailbox, the clock, and a store holding the state. Every message goes
 * through the one pure transition in reduce.ts. It runs on the main thread beside the ingress, so a
 * lease costs a function call, not a thread hop. Tells that arrive while a message is being handled
 * (a reply that triggers a report, say) queue and run after it, in order, so transitions never nest.
 */
import type { ProviderPlugin } from '../../plugins/sdk.js'
import type { RelayConfig } from '../config/types.js'
import type { ClientReply, LeaseAsk, LeaseReply, Outcome, SharedEvent, SupervisorMessage } from '../shared/protocol.js'
import { news, snapshot } from './shared/news.js'
import { openProviders, serves } from './reduce.js'
import { MemoryStore } from './store.js'
import type { SupervisorStore } from './store.js'
import type { SupervisorState } from './state.js'

export class Supervisor {
  readonly #store: SupervisorStore
  readonly #now: () => number
  readonly #mailbox: SupervisorMessage[] = []
  #draining = false
  /** Told what changed in the books that other relays should know (state.store: redis). */
  #announce: ((event: SharedEvent) => void) | undefined

  constructor(config: RelayConfig, plugins: ReadonlyMap<string, ProviderPlugin>, opts: { now?: () => number; random?: () => number; store?: SupervisorStore } = {}) {
    this.#now = opts.now ?? Date.now
    this.#store = opts.store ?? new MemoryStore(config, plugins, opts.random ?? Math.random)
  }

  /** An ask: handled now (after anything queued), with its reply. */
  lease(ask: Omit<LeaseAsk, 'type'>): LeaseReply {
    this.#drain()
    return this.#store.handle({ type: 'lease.ask', ...ask }, this.#now()) as LeaseReply
  }

  /** A team client's (or group member's) request, before its first lease: within its and its group's limits? */
  admitClient(client: string, group: string | undefined, estimateTokens: number): ClientReply {
    this.#drain()
    return this.#store.handle({ type: 'client.admit', client, group, estimateTokens }, this.#now()) as ClientReply
  }

  /** That request ended, having used `tokens` (input + output + cache creation). */
  releaseClient(ticket: number, tokens: number): void {
    this.#tell({ type: 'client.release', ticket, tokens })
  }

  report(leaseId: number, outcome: Outcome): void {
    this.#tell({ type: 'lease.outcome', leaseId, outcome })
  }

  healthResult(provider: string, reachable: boolean): void {
    this.#tell({ type: 'health.result', provider, reachable })
  }

  /** A new config: windows, cooldowns and breakers of providers and keys that remain carry over. */
  replaceConfig(config: RelayConfig): void {
    this.#tell({ type: 'config.replace', config })
  }

  /** Whether some enabled provider serves `model` on `route`. */
  serves(route: LeaseAsk['route'], model: string): boolean {
    return serves(this.#store.state, route, model)
  }

  /** Open circuits the health checker should probe: name and probe request. */
  openProviders(): { name: string; url: string; method: 'GET' | 'HEAD' }[] {
    return openProviders(this.#store.state, this.#now()).map((p) => {
      const baseUrl = (p.config.base_url || p.plugin.defaultBaseUrl(p.config.options)).replace(/\/+$/, '')
      const probe = p.plugin.healthCheck?.(baseUrl, p.config.options) ?? { url: `${baseUrl}/` }
      return { name: p.config.name, url: probe.url, method: probe.method ?? 'GET' }
    })
  }

  /** Relays sharing state: changes to announce go to `announce`; theirs arrive through `applyShared`. */
  onNews(announce: (event: SharedEvent) => void): void {
    this.#announce = announce
  }

  applyShared(event: SharedEvent): void {
    this.#tell({ type: 'shared.event', event })
  }

  /** Read-only view for status pages and tests. */
  get state(): Readonly<SupervisorState> {
    return this.#store.state
  }

  #tell(message: SupervisorMessage): void {
    this.#mailbox.push(message)
    this.#drain()
  }

  #handle(m: SupervisorMessage): void {
    const record = this.#announce && m.type === 'lease.outcome' ? this.#store.state.leases.get(m.leaseId) : undefined
    const before = record && m.type === 'lease.outcome' ? snapshot(this.#store.state, record.provider, record.keyHash, m.outcome.upstreamModel) : undefined
    this.#store.handle(m, this.#now())
    if (before) for (const event of news(this.#store.state, before)) this.#announce!(event)
  }

  #drain(): void {
    if (this.#draining) return
    this.#draining = true
    try {
      for (let m = this.#mailbox.shift(); m !== undefined; m = this.#mailbox.shift()) this.#handle(m)
    } finally {
      this.#draining = false
    }
  }
}
