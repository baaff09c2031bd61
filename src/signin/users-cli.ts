/**
 * `cc-relay users [list|revoke EMAIL] [--url URL] [--config FILE] [--json]` (CONTRACT §2): a running
 * relay's signed-in users (email, relay groups, last seen, spend this month), or the end of one user's
 * tokens at once. The relay and its admin key are found as for `cc-relay status`.
 */
import { resolveTarget, StatusError } from '../admin/status-cli.js'
import type { Target } from '../admin/status-cli.js'
import type { UserRow } from './users-admin.js'

export interface UsersOptions {
  readonly action: string | undefined
  readonly email: string | undefined
  readonly url: string | undefined
  readonly config: string | undefined
  readonly json: boolean
}

async function call<T>(target: Target, path: string, init: { method?: string; body?: string } = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', 'content-type': 'application/json' }
  if (target.adminKey !== undefined) headers['authorization'] = `Bearer ${target.adminKey}`
  let res: Response
  try {
    res = await fetch(`${target.url}${path}`, { ...init, headers, signal: AbortSignal.timeout(10_000) })
  } catch (error) {
    throw new StatusError(`cannot reach the relay at ${target.url}: ${(error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message}`)
  }
  if (res.status === 404) throw new StatusError(`the relay at ${target.url} has no signed-in users: sign-in (server.auth.sso) is off there`)
  if (res.status === 401) throw new StatusError(`the relay at ${target.url} needs its admin key (401): set CC_RELAY_ADMIN_KEY, or pass --config with server.admin.api_key`)
  if (res.status === 403) throw new StatusError(`the relay at ${target.url} answers admin requests from loopback only (403); it needs a server.admin.api_key, passed here as CC_RELAY_ADMIN_KEY`)
  const body = (await res.json().catch(() => undefined)) as (T & { error?: { message?: string } }) | undefined
  if (!res.ok || body === undefined) throw new StatusError(`${target.url}${path} answered HTTP ${res.status}${body?.error?.message ? `: ${body.error.message}` : ''}`)
  return body
}

const ago = (iso: string, now: number): string => {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000))
  return s < 90 ? `${s}s ago` : s < 5400 ? `${Math.round(s / 60)}m ago` : s < 129_600 ? `${Math.round(s / 3600)}h ago` : `${Math.round(s / 86_400)}d ago`
}

export function formatUsers(rows: readonly UserRow[], now = Date.now()): string {
  if (rows.length === 0) return 'no signed-in users yet\n'
  const table = [['EMAIL', 'GROUPS', 'LAST SEEN', 'SPEND (MONTH)'], ...rows.map((r) => [r.email, r.groups.join(',') || '-', ago(r.last_seen, now), `$${r.spend_usd_month.toFixed(2)}`])]
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)))
  return table.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n'
}

export async function usersCommand(opts: UsersOptions): Promise<number> {
  const action = opts.action ?? 'list'
  if (!(action === 'list' && opts.email === undefined) && !(action === 'revoke' && opts.email !== undefined)) {
    process.stderr.write('usage: cc-relay users [list | revoke EMAIL] [--url URL] [--config FILE] [--json]\n')
    return 2
  }
  try {
    const target = await resolveTarget(opts)
    if (action === 'list') {
      const rows = await call<UserRow[]>(target, '/users.json')
      process.stdout.write(opts.json ? `${JSON.stringify(rows, null, 2)}\n` : formatUsers(rows))
      return 0
    }
    const result = await call<{ email: string; sessions_ended: number }>(target, '/users/revoke', { method: 'POST', body: JSON.stringify({ email: opts.email }) })
    process.stdout.write(opts.json ? `${JSON.stringify(result)}\n` : `revoked ${result.email}: every token ends now (${result.sessions_ended} refresh session${result.sessions_ended === 1 ? '' : 's'} ended)\n`)
    return 0
  } catch (error) {
    if (!(error instanceof StatusError)) throw error
    process.stderr.write(`cc-relay: ${error.message}\n`)
    return error.exitCode
  }
}
