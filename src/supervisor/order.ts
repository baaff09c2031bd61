/**
 * Routing strategies (CONTRACT §1 `routing.strategy`): the order in which candidate providers are tried
 * for one request. Failover then walks down that order. Each function is deterministic given the state's
 * cursors and random source, so tests replay exactly.
 */
import type { RoutingConfig } from '../config/types.js'
import type { ProviderState, SupervisorState } from './state.js'

/** A provider's leases here and, with a shared store, on other relays (through its pooled keys). */
const load = (p: ProviderState): number => p.inflight + p.keys.reduce((sum, k) => sum + k.remoteInflight, 0)

/** Priority (higher first), then config order. */
export function failoverOrder(c: readonly ProviderState[]): ProviderState[] {
  return [...c].sort((a, b) => b.priority - a.priority || a.index - b.index)
}

/** Weighted random order without replacement: a provider of weight 2 leads twice as often as one of 1. */
export function weightedShuffle<T>(items: readonly T[], weight: (t: T) => number, random: () => number): T[] {
  // Efraimidis–Spirakis: sort by u^(1/w), one draw per item.
  return items
    .map((item) => ({ item, key: Math.pow(random(), 1 / Math.max(weight(item), 1e-9)) }))
    .sort((a, b) => b.key - a.key)
    .map((x) => x.item)
}

/** nginx's smooth weighted round robin over `base` (in failover order): the pick, then the others. */
function smoothWeighted(base: readonly ProviderState[]): ProviderState[] {
  if (base.length === 0) return []
  const total = base.reduce((sum, p) => sum + p.config.weight, 0)
  let best = base[0]!
  for (const p of base) {
    p.current += p.config.weight
    if (p.current > best.current) best = p
  }
  best.current -= total
  return [best, ...base.filter((p) => p !== best)]
}


/** `routing.model_mapping`: the longest model-name prefix names a provider, else `default_provider`. */
function modelBasedFirst(routing: RoutingConfig, model: string): string {
  let best = ''
  let bestLength = -1
  for (const [prefix, provider] of Object.entries(routing.model_mapping)) {
    if (prefix.length > bestLength && model.startsWith(prefix)) {
      best = provider
      bestLength = prefix.length
    }
  }
  return bestLength >= 0 ? best : routing.default_provider
}

/**
 * `advance`: move the rotating strategies on (the first attempt of a request); later attempts keep the
 * order. `ruleOrder`: the candidates come from a routing rule, whose list is their failover order in
 * place of priority and config order (CONTRACT §8: "the candidates, in this order").
 */
export function providerOrder(state: SupervisorState, candidates: readonly ProviderState[], model: string, advance = true, ruleOrder = false): ProviderState[] {
  const routing = state.config.routing
  const base = ruleOrder ? [...candidates] : failoverOrder(candidates)
  switch (routing.strategy) {
    case 'failover':
      return base
    case 'round_robin': {
      if (advance) state.cursor++
      const start = base.length ? (state.cursor - 1 + base.length) % base.length : 0
      return [...base.slice(start), ...base.slice(0, start)]
    }
    case 'weighted_round_robin':
      return advance ? smoothWeighted(base) : base
    case 'shuffle':
      return weightedShuffle(candidates, () => 1, state.random)
    case 'least_loaded':
      return base.sort((a, b) => load(a) - load(b))
    case 'weighted_failover':
      return weightedShuffle(base, (p) => p.config.weight, state.random)
    case 'model_based': {
      // The mapped provider first; the other candidates stay behind it for failover.
      const first = modelBasedFirst(routing, model)
      return [...base.filter((p) => p.config.name === first), ...base.filter((p) => p.config.name !== first)]
    }
  }
}
