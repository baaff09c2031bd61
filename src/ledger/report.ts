/**
 * Usage reports (CONTRACT §2 `cc-relay usage`, §9 `GET /usage.json`): ledger rows between two UTC days,
 * summed over the dimensions left out of `by`, as JSON rows, CSV or a text table.
 */
import { addInto, COUNTERS, emptyRow, rowKey, utcDay, addDays } from './rows.js'
import type { LedgerRow } from './rows.js'
import { cacheHitRate } from '../shared/cache-hit-rate.js'

export const DIMENSIONS = ['day', 'client', 'group', 'provider', 'model'] as const
/** What a report is grouped by when `by` is not given (the group only when asked for). */
const DEFAULT_BY = 'day,client,provider,model'
export type Dimension = (typeof DIMENSIONS)[number]

export interface UsageQuery {
  readonly since: string
  readonly until: string
  readonly by: readonly Dimension[]
}

/**
 * One report row: the dimensions asked for and no others (a row summed over every client has no
 * `client`: `""` is the shared key's name, not "everyone"), the counters, and the prompt-cache hit rate
 * of its tokens (src/shared/cache-hit-rate.ts; null with no input).
 */
export type ReportRow = Partial<Record<Dimension, string>> & Record<(typeof COUNTERS)[number], number> & { cache_hit_rate: number | null }

const DAY = /^\d{4}-\d{2}-\d{2}$/
const REPORT_DAYS = 30

/** `since`, `until` and `by` from a query string or the command line; a string says what is wrong. */
export function parseUsageQuery(params: { since?: string | null; until?: string | null; by?: string | null }, now = Date.now()): UsageQuery | string {
  const until = params.until || utcDay(now)
  const since = params.since || addDays(until, -(REPORT_DAYS - 1))
  for (const [name, value] of [['since', since], ['until', until]] as const) {
    if (!DAY.test(value) || Number.isNaN(Date.parse(`${value}T00:00:00Z`))) return `${name}: expected a UTC day as YYYY-MM-DD, got ${JSON.stringify(value)}`
  }
  if (since > until) return `since (${since}) is after until (${until})`
  const by = (params.by || DEFAULT_BY).split(',').map((d) => d.trim()).filter(Boolean)
  const unknown = by.find((d) => !(DIMENSIONS as readonly string[]).includes(d))
  if (unknown !== undefined) return `by: unknown dimension ${JSON.stringify(unknown)} (${DIMENSIONS.join(', ')})`
  return { since, until, by: DIMENSIONS.filter((d) => by.includes(d)) }
}

/** The rows summed over the dimensions not in `by`, in a stable order. */
export function groupRows(rows: readonly LedgerRow[], by: readonly Dimension[]): ReportRow[] {
  const keep = new Set<Dimension>(by)
  const groups = new Map<string, LedgerRow>()
  for (const row of rows) {
    const key = { day: keep.has('day') ? row.day : '', client: keep.has('client') ? row.client : '', provider: keep.has('provider') ? row.provider : '', model: keep.has('model') ? row.model : '', group: keep.has('group') ? row.group : '' }
    const id = rowKey(key)
    let into = groups.get(id)
    if (!into) groups.set(id, (into = emptyRow(key.day, key.client, key.provider, key.model, key.group)))
    addInto(into, row)
  }
  return [...groups.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([, r]) => {
      const out: Record<string, string | number> = {}
      for (const d of DIMENSIONS) if (keep.has(d)) out[d] = r[d]
      for (const c of COUNTERS) out[c] = c === 'cost_usd' ? Math.round(r.cost_usd * 1e6) / 1e6 : r[c]
      return { ...out, cache_hit_rate: cacheHitRate(r) } as ReportRow
    })
}

const columns = (by: readonly Dimension[]): string[] => [...DIMENSIONS.filter((d) => by.includes(d)), ...COUNTERS, 'cache_hit_rate']

export function toCsv(rows: readonly ReportRow[], by: readonly Dimension[]): string {
  const cols = columns(by)
  // RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled.
  const field = (v: unknown): string => {
    const s = String(v ?? '')
    return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s
  }
  return [cols.join(','), ...rows.map((r) => cols.map((c) => field(r[c as keyof ReportRow])).join(','))].join('\n') + '\n'
}

export function toTable(rows: readonly ReportRow[], by: readonly Dimension[]): string {
  if (rows.length === 0) return 'no usage in this period\n'
  const cols = columns(by)
  const header: Record<string, string> = { cache_read_input_tokens: 'cache_read', cache_creation_input_tokens: 'cache_write', input_tokens: 'input', output_tokens: 'output', cost_usd: 'cost_usd', cache_hit_rate: 'cache_hit' }
  const cell = (r: ReportRow, c: string): string => {
    const v = r[c as keyof ReportRow]
    if (c === 'client' && v === '') return '(shared key)'
    if (c === 'group' && v === '') return '(no group)'
    if (c === 'cost_usd') return (v as number).toFixed(4)
    if (c === 'cache_hit_rate') return v === null ? '–' : `${((v as number) * 100).toFixed(1)} %`
    return typeof v === 'number' ? v.toLocaleString('en-US') : String(v)
  }
  const grid = [cols.map((c) => header[c] ?? c), ...rows.map((r) => cols.map((c) => cell(r, c)))]
  const widths = cols.map((_, i) => Math.max(...grid.map((line) => line[i]!.length)))
  const numeric = (i: number): boolean => (COUNTERS as readonly string[]).includes(cols[i]!) || cols[i] === 'cache_hit_rate'
  return grid.map((line) => line.map((v, i) => (numeric(i) ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n') + '\n'
}
