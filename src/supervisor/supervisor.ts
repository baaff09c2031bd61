/**
 * The supervisor decides, for each request, which provider, key and upstream model to use (a lease),
 * and hears how each attempt went. It runs on the main thread, so a lease costs no thread hop.
 *
 * This first version routes by failover order and rotates keys; rate windows, breakers, strategies and
 * retries on the next lease grow here (DESIGN "Supervisor") behind the same two calls.
 */
import type { ProviderPlugin, Route } from '../../plugins/sdk.js'
import type { ProviderConfig, RelayConfig } from '../config/types.js'
import { relayError } from '../shared/errors.js'
import type { RelayErrorData } from '../shared/errors.js'
import type { Lease, Outcome } from '../shared/protocol.js'
import { servedModels, stripContextMarker, upstreamModelFor } from './model-map.js'

export interface LeaseRequest {
  readonly route: Route
  /** As the client sent it. */
  readonly model: string
  /** The client brought its own credential (not consumed as the relay key). */
  readonly hasClientCredential: boolean
}

export type LeaseResult = { readonly ok: true; readonly lease: Lease } | { readonly ok: false; readonly error: RelayErrorData }

interface ProviderSlot {
  readonly index: number
  readonly config: ProviderConfig
  readonly plugin: ProviderPlugin
  readonly order: number
}

/** CONTRACT §1: a provider's own priority, else its highest key priority, else 1. Higher goes first. */
function providerPriority(p: ProviderConfig): number {
  if (p.priority !== null) return p.priority
  return p.keys.length ? Math.max(...p.keys.map((k) => k.priority)) : 1
}

export class Supervisor {
  readonly #config: RelayConfig
  readonly #slots: readonly ProviderSlot[]
  /** Next key to hand out, per provider index. */
  readonly #keyCursor = new Map<number, number>()

  constructor(config: RelayConfig, pluginsByType: ReadonlyMap<string, ProviderPlugin>) {
    this.#config = config
    this.#slots = config.providers
      .map((p, index) => ({ index, config: p, plugin: pluginsByType.get(p.type)!, order: providerPriority(p) }))
      .filter((s) => s.config.enabled)
      .sort((a, b) => b.order - a.order || a.index - b.index)
  }

  lease(req: LeaseRequest): LeaseResult {
    const model = stripContextMarker(req.model)
    let servable = 0
    for (const slot of this.#slots) {
      if (!slot.plugin.routes.includes(req.route)) continue
      const upstreamModel = upstreamModelFor(slot.config, model)
      if (upstreamModel === undefined) continue
      servable++
      const lease = this.#credentialFor(slot, req, upstreamModel)
      if (lease) return { ok: true, lease }
    }
    if (servable > 0) {
      return { ok: false, error: relayError('no_credential', 'no credential for the providers serving this model: configure keys, or send your own Anthropic credential to a provider that allows it') }
    }
    const served = servedModels(this.#config.providers)
    const what = req.route === 'count_tokens' ? 'token counting for model' : 'model'
    return {
      ok: false,
      error: relayError('model_not_served', `${what} ${JSON.stringify(req.model)} is not served by this relay${served.length ? `; served models: ${served.join(', ')}` : ''}`),
    }
  }

  /** Hears how a request went. Counters, cooldowns and breakers will live here. */
  report(_outcome: Outcome): void {}

  /** CONTRACT §3: a client's own credential where the type and `allow_subscription` allow it, else a pooled key. */
  #credentialFor(slot: ProviderSlot, req: LeaseRequest, upstreamModel: string): Lease | undefined {
    const forward = slot.plugin.clientCredentials === 'forward' && this.#config.server.auth.allow_subscription && req.hasClientCredential
    if (forward) return { provider: slot.index, key: -1, upstreamModel, forwardClientCredential: true }
    const keys = slot.config.keys
    if (keys.length === 0) return slot.plugin.auth.kind === 'none' ? { provider: slot.index, key: -1, upstreamModel, forwardClientCredential: false } : undefined
    const key = (this.#keyCursor.get(slot.index) ?? 0) % keys.length
    this.#keyCursor.set(slot.index, key + 1)
    return { provider: slot.index, key, upstreamModel, forwardClientCredential: false }
  }
}
