/**
 * A signed-in user's caps for `GET /api/oauth/usage` (CONTRACT §12): every budget a request of theirs
 * counts against in any of their groups (their member budget, their groups' pooled budgets), each with
 * its spend this period and when it resets — the same instants the usage-limit headers name.
 */
import type { BudgetPeriod } from '../config/types.js'
import type { SpendSource } from '../admission/budgets.js'
import type { CallerProfile } from '../admission/team-book.js'
import { periodOf } from '../ledger/rows.js'
import type { Cap } from './usage-view.js'

const PERIOD: Record<BudgetPeriod, Cap['period']> = { day: 'daily', week: 'weekly', month: 'monthly' }

export function capsOf(profile: CallerProfile, spend: SpendSource | undefined, now = Date.now()): Cap[] {
  const seen = new Set<string>()
  const caps: Cap[] = []
  for (const group of profile.groups.length > 0 ? profile.groups : [undefined]) {
    for (const spec of profile.budgets(group)) {
      const key = `${spec.account}\u0000${spec.period}\u0000${spec.usd}`
      if (seen.has(key)) continue
      seen.add(key)
      caps.push({ period: PERIOD[spec.period], limitUsd: spec.usd, spentUsd: spend?.spent(spec.account, spec.period, now) ?? 0, resetsAt: periodOf(spec.period, now).resetsAt })
    }
  }
  return caps
}
