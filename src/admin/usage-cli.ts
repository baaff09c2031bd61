/**
 * `cc-relay usage [--url URL] [--config FILE] [--since YYYY-MM-DD] [--until YYYY-MM-DD]
 * [--by day,client,group,provider,model] [--format table|csv|json]` (CONTRACT §2): a running relay's usage
 * ledger from its `/usage.json`, found and authenticated as `cc-relay status` does.
 */
import { parseUsageQuery, toCsv, toTable } from '../ledger/report.js'
import type { ReportRow } from '../ledger/report.js'
import { fetchAdminJson, resolveTarget, StatusError } from './status-cli.js'

export interface UsageOptions {
  readonly url: string | undefined
  readonly config: string | undefined
  readonly since: string | undefined
  readonly until: string | undefined
  readonly by: string | undefined
  readonly format: string | undefined
}

const FORMATS = ['table', 'csv', 'json'] as const

export async function usageCommand(opts: UsageOptions): Promise<number> {
  const format = opts.format ?? 'table'
  if (!(FORMATS as readonly string[]).includes(format)) {
    process.stderr.write(`cc-relay usage: --format must be table, csv or json, not ${JSON.stringify(format)}\n`)
    return 2
  }
  const query = parseUsageQuery({ since: opts.since, until: opts.until, by: opts.by })
  if (typeof query === 'string') {
    process.stderr.write(`cc-relay usage: ${query}\n`)
    return 2
  }
  try {
    const target = await resolveTarget(opts)
    const params = new URLSearchParams({ since: query.since, until: query.until, by: query.by.join(',') })
    const rows = await fetchAdminJson<ReportRow[]>(target, `/usage.json?${params}`)
    if (format === 'json') process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`)
    else if (format === 'csv') process.stdout.write(toCsv(rows, query.by))
    else process.stdout.write(`usage ${query.since} … ${query.until} (UTC) at ${target.url}\n${toTable(rows, query.by)}`)
    return 0
  } catch (error) {
    if (!(error instanceof StatusError)) throw error
    process.stderr.write(`cc-relay: ${error.message}\n`)
    return error.exitCode
  }
}
