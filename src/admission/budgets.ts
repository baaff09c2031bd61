/**
 * Spend budgets at the door (CONTRACT §9, §10): a client's own `budget`, its group's pooled `budget`
 * (every member's spend together) and the group's `member_budget` (each member's own). Checked before a
 * request is sent, against the ledger's spend in the current UTC period.
 *
 * They speak Claude Code's language (its gateway protocol): a caller with a budget gets the
 * `anthropic-ratelimit-unified-*` usage-limit headers on every successful answer, for its fullest
 * budget, so Claude Code (≥ 2.1.225) shows "You've used NN% of your usage credits" past 75 % and 95 %;
 * at the cap it gets 429 `billing_error` with the rejected shape of those headers, which Claude Code
 * prints as it is.
 */
import type { BudgetConfig, BudgetPeriod } from '../config/types.js'
import { groupAccount } from '../ledger/ledger.js'
import { periodOf } from '../ledger/rows.js'
import { refusal } from './refusal.js'
import type { Refusal } from './refusal.js'

export interface BudgetSpec {
  readonly scope: 'client' | 'member' | 'group_pool'
  /** The ledger's spend account: the caller's name, or the group's pool. */
  readonly account: string
  readonly usd: number
  readonly period: BudgetPeriod
  /** Names the budget in a sentence: "client alice's budget of $200.00 per month". */
  readonly label: string
}

/** Where the spend is read: the usage ledger (`UsageLedger.spent`). */
export interface SpendSource {
  spent(account: string, period: BudgetPeriod, now: number): number
}

/** Dollars as people read them: cents, unless that hides the amount (a test budget of $0.001). */
function money(usd: number): string {
  const cents = usd.toFixed(2)
  return `$${Math.abs(Number(cents) - usd) < 1e-9 || usd >= 1 ? cents : String(Number(usd.toPrecision(3)))}`
}
const per = (b: BudgetConfig): string => `${money(b.usd)} per ${b.period} (UTC)`

/** The budgets a request of `caller` booked to `group` counts against (usd 0 = no budget). */
export function budgetsFor(caller: string, own: BudgetConfig | undefined, group: { readonly name: string; readonly budget: BudgetConfig | undefined; readonly member_budget: BudgetConfig | undefined } | undefined): BudgetSpec[] {
  const specs: BudgetSpec[] = []
  if (own && own.usd > 0) specs.push({ scope: 'client', account: caller, ...own, label: `client ${caller}'s budget of ${per(own)}` })
  if (group?.member_budget && group.member_budget.usd > 0) {
    specs.push({ scope: 'member', account: caller, ...group.member_budget, label: `${caller}'s member budget in group ${group.name} (${per(group.member_budget)})` })
  }
  if (group?.budget && group.budget.usd > 0) {
    specs.push({ scope: 'group_pool', account: groupAccount(group.name), ...group.budget, label: `group ${group.name}'s pooled budget (shared by its members) of ${per(group.budget)}` })
  }
  return specs
}

const H = 'anthropic-ratelimit-unified-'
const PERIOD_WORD: Record<BudgetPeriod, string> = { day: 'daily', week: 'weekly', month: 'monthly' }

/** "in 3 days", "in 5 hours", "in 12 minutes": when a budget resets, for people. */
function fromNow(ms: number): string {
  const minutes = Math.max(1, Math.ceil(ms / 60_000))
  if (minutes < 120) return `in ${minutes} minute${minutes === 1 ? '' : 's'}`
  const hours = Math.ceil(minutes / 60)
  if (hours < 48) return `in ${hours} hours`
  return `in ${Math.ceil(hours / 24)} days`
}

export type BudgetVerdict = { readonly ok: true; readonly headers: readonly string[] } | Refusal

const NO_HEADERS: readonly string[] = []

/**
 * Every budget must have room. While they all do, the fullest one speaks for the caller; once one is
 * used up, the used-up one that resets last does (as Claude Code's gateway protocol asks: the caller
 * learns when it may really go on). `headers` are the usage-limit headers for a successful answer (none
 * for a caller without budgets).
 */
export function checkBudgets(specs: readonly BudgetSpec[], spend: SpendSource, now: number): BudgetVerdict {
  if (specs.length === 0) return { ok: true, headers: NO_HEADERS }
  let fullest: { spec: BudgetSpec; spent: number; share: number } | undefined
  let blocking: { spec: BudgetSpec; spent: number; resetsAt: number } | undefined
  for (const spec of specs) {
    const spent = spend.spent(spec.account, spec.period, now)
    const share = spent / spec.usd
    if (!fullest || share > fullest.share) fullest = { spec, spent, share }
    if (share >= 1) {
      const resetsAt = periodOf(spec.period, now).resetsAt
      if (!blocking || resetsAt > blocking.resetsAt) blocking = { spec, spent, resetsAt }
    }
  }
  if (blocking) return refused(blocking.spec, blocking.spent, blocking.resetsAt, now)
  const { spec, share } = fullest!
  const reset = String(Math.floor(periodOf(spec.period, now).resetsAt / 1000))
  const status = share >= 0.75 ? 'allowed_warning' : 'allowed'
  // Two decimals, and below 1 while the budget still has room.
  const utilization = String(Math.min(0.99, Math.round(share * 100) / 100))
  const threshold = share >= 0.95 ? '0.95' : share >= 0.75 ? '0.75' : undefined
  return {
    ok: true,
    headers: [
      `${H}status`, status,
      `${H}representative-claim`, 'overage',
      `${H}overage-status`, status,
      `${H}overage-utilization`, utilization,
      ...(threshold ? [`${H}overage-surpassed-threshold`, threshold] : []),
      `${H}reset`, reset,
      `${H}overage-reset`, reset,
    ],
  }
}

/**
 * The protocol's rejected shape: no `representative-claim` or `overage-status` (with them Claude Code
 * composes its own line and drops ours), and one sentence saying which budget and when it resets.
 */
function refused(spec: BudgetSpec, spent: number, resetsAt: number, now: number): Refusal {
  const reset = String(Math.floor(resetsAt / 1000))
  const seconds = Math.max(1, Math.ceil((resetsAt - now) / 1000))
  const message = `${spec.label} is used up (${money(spent)} spent); it resets at ${new Date(resetsAt).toISOString()}, ${fromNow(resetsAt - now)}`
  const headers = [
    'retry-after', String(seconds),
    'x-should-retry', 'false',
    `${H}status`, 'rejected',
    `${H}reset`, reset,
    `${H}overage-reset`, reset,
    `${H}overage-utilization`, '1',
    `${H}overage-surpassed-threshold`, '1',
    `${H}overage-period`, PERIOD_WORD[spec.period],
    `${H}overage-disabled-reason`, 'org_spend_cap_reached',
    ...(spec.scope === 'group_pool' ? [`${H}overage-scope`, 'group_pool'] : []),
  ]
  return refusal('budget', 'budget_exhausted', message, headers)
}

/** The upstream's own rate-limit headers: a team's key quota is not the user's, so a budgeted caller never sees them. */
export const isUpstreamRateHeader = (name: string): boolean => name.startsWith('anthropic-ratelimit-')
