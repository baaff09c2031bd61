/**
 * Which providers serve a model, and under which upstream name (CONTRACT §1). Shared by routing and,
 * later, `GET /v1/models`.
 */
import type { ProviderConfig } from '../config/types.js'

/**
 * Claude Code marks 1M-context models with a client-side `[1m]` suffix that occasionally leaks into
 * requests (sometimes `[1M]`, sometimes doubled) and makes Anthropic answer 404
 * (wire-protocols.md §2.4). It is never part of an upstream model name.
 */
export function stripContextMarker(model: string): string {
  return model.replace(/(\[1m\])+$/i, '')
}

/** `model_mapping` lookup: an exact key first, then the longest `prefix*` key that matches. */
export function mapModel(mapping: Readonly<Record<string, string>>, model: string): string | undefined {
  // Own keys only: a model named "constructor" must not find Object.prototype's.
  if (Object.hasOwn(mapping, model)) return mapping[model]
  let best: string | undefined
  let bestLength = -1
  for (const [key, value] of Object.entries(mapping)) {
    if (!key.endsWith('*')) continue
    const prefix = key.slice(0, -1)
    if (prefix.length > bestLength && model.startsWith(prefix)) {
      best = value
      bestLength = prefix.length
    }
  }
  return best
}

/** The upstream model name if `provider` serves `model` (already stripped of `[1m]`), else undefined. */
export function upstreamModelFor(provider: ProviderConfig, model: string): string | undefined {
  const mapped = mapModel(provider.model_mapping, model)
  if (mapped !== undefined) return mapped
  if (provider.models.includes(model)) return model
  const servesAnything = provider.models.length === 0 && Object.keys(provider.model_mapping).length === 0
  return servesAnything ? model : undefined
}

/** The model names clients may send: mapping keys without wildcards, and `models` lists. */
export function servedModels(providers: readonly ProviderConfig[]): string[] {
  const names = new Set<string>()
  for (const p of providers) {
    if (!p.enabled) continue
    for (const key of Object.keys(p.model_mapping)) if (!key.endsWith('*')) names.add(key)
    for (const m of p.models) names.add(m)
  }
  return [...names]
}
