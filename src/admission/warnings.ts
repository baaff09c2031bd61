/**
 * Team policy that is valid but probably not what the operator meant (CONTRACT §10): a client or group
 * whose allow list meets no model any enabled provider serves, or a deny list that denies everything.
 * Warned about where the config is checked and loaded, like budgets over unpriced models.
 */
import type { RelayConfig } from '../config/types.js'
import { patternsOverlap } from './policy.js'

/** What the providers serve, as patterns; undefined when some provider serves any model. */
function servedPatterns(config: RelayConfig): string[] | undefined {
  const patterns: string[] = []
  for (const p of config.providers) {
    if (!p.enabled) continue
    const keys = Object.keys(p.model_mapping)
    if (keys.length === 0 && p.models.length === 0) return undefined
    patterns.push(...keys, ...p.models)
  }
  return patterns
}

export function policyWarnings(config: RelayConfig): string[] {
  const served = servedPatterns(config)
  const warnings: string[] = []
  const check = (who: string, models: readonly string[], deny: readonly string[]): void => {
    if (deny.includes('*')) warnings.push(`${who}: deny_models "*" denies every model`)
    else if (models.length > 0 && served !== undefined && !models.some((m) => served.some((s) => patternsOverlap(m, s)))) {
      warnings.push(`${who}: models (${models.join(', ')}) allow no model an enabled provider serves (${served.join(', ') || 'none'}); its requests will all be refused`)
    }
  }
  for (const g of config.server.auth.groups) check(`group ${g.name}`, g.models, g.deny_models)
  for (const c of config.server.auth.clients) check(`client ${c.name}`, c.models, c.deny_models)
  return warnings
}
