/**
 * A valid config's doubtful parts, said where the config is checked (`config validate`) and loaded (start
 * and every reload): budgets over unpriced models, policies that allow nothing.
 */
import { policyWarnings } from '../admission/warnings.js'
import { budgetWarnings } from '../ledger/warnings.js'
import type { RelayConfig } from './types.js'

export function configWarnings(config: RelayConfig): string[] {
  return [...budgetWarnings(config), ...policyWarnings(config)]
}
