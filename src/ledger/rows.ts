/**
 * The usage ledger's rows (CONTRACT §9): usage aggregated by UTC day × team client × provider × upstream
 * model × team group (the group whose policy granted the request, CONTRACT §10; '' for none), and the UTC
 * calendar the budgets use (day, ISO week from Monday, month).
 */
import type { BudgetPeriod } from '../config/types.js'

export interface LedgerRow {
  /** UTC day, `YYYY-MM-DD`. */
  readonly day: string
  /** The team client's name (a signed-in user's email), '' for the shared key. */
  readonly client: string
  readonly provider: string
  readonly model: string
  /** The team group the request was booked to, '' for none. */
  readonly group: string
  requests: number
  input_tokens: number
  output_tokens: number
  cache_read_input_tokens: number
  cache_creation_input_tokens: number
  cost_usd: number
}

export const COUNTERS = ['requests', 'input_tokens', 'output_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens', 'cost_usd'] as const
export type Counter = (typeof COUNTERS)[number]

/** The row's identity; NUL never occurs in a client, provider or model name from the config or a model id. */
export const rowKey = (r: Pick<LedgerRow, 'day' | 'client' | 'provider' | 'model' | 'group'>): string => `${r.day}\u0000${r.client}\u0000${r.provider}\u0000${r.model}\u0000${r.group}`

export function emptyRow(day: string, client: string, provider: string, model: string, group: string): LedgerRow {
  return { day, client, provider, model, group, requests: 0, input_tokens: 0, output_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: 0, cost_usd: 0 }
}

/** Adds `from`'s counters into `into`. */
export function addInto(into: LedgerRow, from: Pick<LedgerRow, Counter>): void {
  for (const c of COUNTERS) into[c] += from[c]
}

const DAY_MS = 86_400_000

export const utcDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10)

/** `day` moved by `n` days. */
export const addDays = (day: string, n: number): string => utcDay(Date.parse(`${day}T00:00:00Z`) + n * DAY_MS)

/** The current period of a budget: its first day, and when the next one begins (ms). */
export function periodOf(period: BudgetPeriod, now: number): { readonly start: string; readonly resetsAt: number } {
  const d = new Date(now)
  const y = d.getUTCFullYear()
  const m = d.getUTCMonth()
  const midnight = Date.UTC(y, m, d.getUTCDate())
  switch (period) {
    case 'day':
      return { start: utcDay(midnight), resetsAt: midnight + DAY_MS }
    case 'week': {
      // ISO weeks start on Monday (getUTCDay: Sunday 0 … Saturday 6).
      const monday = midnight - ((d.getUTCDay() + 6) % 7) * DAY_MS
      return { start: utcDay(monday), resetsAt: monday + 7 * DAY_MS }
    }
    case 'month':
      return { start: utcDay(Date.UTC(y, m, 1)), resetsAt: Date.UTC(y, m + 1, 1) }
  }
}
