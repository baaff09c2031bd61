/**
 * `GET /api/oauth/usage` (CONTRACT §12): the gateway protocol's dollar view of a signed-in user's spend.
 * With caps: the fullest one in `extra_usage` (cents; whole percents) and one `limits` row per cap, its
 * `resets_at` the same instant as that cap's `anthropic-ratelimit-unified-overage-reset`. Without: the
 * user's spend this UTC month (`used_credits`), day and ISO week, with null limits (0 would be a $0 cap).
 */

export interface Spend {
  readonly dayUsd: number
  readonly weekUsd: number
  readonly monthUsd: number
}

/** One cap on the user (their own member budget or a group's pooled budget), as the admission layer sees it. */
export interface Cap {
  readonly period: 'daily' | 'weekly' | 'monthly'
  readonly limitUsd: number
  readonly spentUsd: number
  /** When the period resets (ms since the epoch). */
  readonly resetsAt: number
}

const cents = (usd: number): number => Math.round(usd * 100)

const utilization = (cap: Cap): number => (cap.limitUsd > 0 ? cap.spentUsd / cap.limitUsd : 1)

/** The cap the usage-limit headers describe: one that is exceeded, else the fullest. */
function binding(caps: readonly Cap[]): Cap {
  return caps.reduce((a, b) => {
    const ax = a.spentUsd >= a.limitUsd
    const bx = b.spentUsd >= b.limitUsd
    if (ax !== bx) return ax ? a : b
    if (ax) return a.resetsAt >= b.resetsAt ? a : b
    return utilization(a) >= utilization(b) ? a : b
  })
}

export function usageView(spend: Spend, caps: readonly Cap[]): unknown {
  if (caps.length === 0) {
    const none = (usd: number) => ({ limit: null, used_credits: cents(usd), utilization: null })
    return {
      extra_usage: { is_enabled: true, monthly_limit: null, used_credits: cents(spend.monthUsd), utilization: null, currency: 'USD', daily: none(spend.dayUsd), weekly: none(spend.weekUsd) },
      limits: [],
    }
  }
  const active = binding(caps)
  const percent = (cap: Cap): number => {
    const u = utilization(cap)
    // Kept below 100 while the cap still allows requests, as the headers keep theirs below 1.
    return cap.spentUsd >= cap.limitUsd ? Math.round(u * 100) : Math.min(99, Math.round(u * 100))
  }
  return {
    extra_usage: { is_enabled: true, monthly_limit: cents(active.limitUsd), used_credits: cents(active.spentUsd), utilization: percent(active), currency: 'USD' },
    limits: caps.map((cap) => {
      const u = utilization(cap)
      const over = cap.spentUsd >= cap.limitUsd
      return { kind: 'spend', group: cap.period, percent: percent(cap), resets_at: new Date(cap.resetsAt).toISOString(), severity: over || u > 0.95 ? 'critical' : u > 0.75 ? 'warning' : 'normal', is_active: cap === active }
    }),
  }
}
