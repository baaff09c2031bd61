/**
 * CONTRACT §9 / issue 16: a budget counts what the price table says a request cost, and a model without a
 * price costs $0 — a budget would never stop a client using it. Not an error (the relay serves such
 * models), but worth a warning where the config is checked and loaded.
 */
import { PriceTable } from '../admin/pricing.js'
import type { RelayConfig } from '../config/types.js'

/** The upstream models the config names (mappings, model lists, rules' models) that have no price. */
export function unpricedModels(config: RelayConfig): string[] {
  const prices = new PriceTable(config.pricing)
  const named = new Set<string>()
  for (const p of config.providers) {
    if (!p.enabled) continue
    for (const [from, to] of Object.entries(p.model_mapping)) named.add(to === '' ? from : to)
    for (const m of p.models) if (!Object.hasOwn(p.model_mapping, m)) named.add(m)
  }
  for (const rule of config.routing.rules) if (rule.use.model) named.add(rule.use.model)
  return [...named].filter((m) => !m.includes('*') && prices.priceOf(m) === undefined).sort()
}

/** One line per problem, or none: budgets are set and some model the config names has no price. */
export function budgetWarnings(config: RelayConfig): string[] {
  const budgeted = config.server.auth.clients.filter((c) => c.budget).map((c) => c.name)
  if (budgeted.length === 0) return []
  const unpriced = unpricedModels(config)
  if (unpriced.length === 0) return []
  return [`budgets (${budgeted.join(', ')}): these models have no price, so their requests cost $0 toward a budget; add them under pricing: ${unpriced.join(', ')}`]
}
