/**
 * `cc-relay status [--url URL] [--config FILE]`: fetches a running relay's `/status.json` and prints a
 * compact summary. The URL is `--url`, else the config's `server.listen` (a wildcard host means this
 * machine); the admin key is `$CC_RELAY_ADMIN_KEY`, else the config's `server.admin.api_key`, sent as
 * `Authorization: Bearer`. For an https relay with a self-signed certificate, NODE_EXTRA_CA_CERTS=cert.pem
 * makes Node trust it. The admin key is never printed.
 */
import { ConfigError, loadConfig, type RelayConfig } from '../config/load.js'
import { pluginCatalog } from '../plugin-types.js'
import type { BudgetStatus, KeyStatus, StatusSnapshot, Used } from './status.js'
import type { UsageTotals } from './activity.js'

const FETCH_TIMEOUT_MS = 10_000
const SHOWN_FAILOVERS = 5
const ADMIN_KEY_HINT = 'set CC_RELAY_ADMIN_KEY or server.admin.api_key in the config'

/** Ends the command with a message on stderr and exit 1. */
export class StatusError extends Error {
  /** 1: the relay could not be asked or refused; 2: the command line was wrong (a --url that is not http(s)). */
  readonly exitCode: 1 | 2 = 1
}

/** A wrong option value (CONTRACT §2: usage errors exit 2). */
export class StatusUsageError extends StatusError {
  override readonly exitCode = 2
}

export interface Target {
  /** Without credentials and without a trailing slash: safe to print. */
  readonly url: string
  readonly adminKey: string | undefined
}

export async function statusCommand(opts: { url?: string | undefined; config?: string | undefined }): Promise<number> {
  try {
    const target = await resolveTarget(opts)
    const snapshot = await fetchSnapshot(target)
    process.stdout.write(formatStatus(snapshot, target.url))
    return 0
  } catch (error) {
    if (!(error instanceof StatusError)) throw error
    process.stderr.write(`cc-relay: ${error.message}\n`)
    return error.exitCode
  }
}

export async function resolveTarget(opts: { url?: string | undefined; config?: string | undefined }): Promise<Target> {
  const envKey = process.env['CC_RELAY_ADMIN_KEY'] || undefined
  const given = opts.url === undefined ? undefined : checkedUrl(opts.url)
  // The config is read only for what the flag and the environment leave open.
  if (given !== undefined && (envKey ?? given.password) !== undefined) return { url: given.url, adminKey: envKey ?? given.password }
  let config: RelayConfig | undefined
  try {
    config = (await loadConfig({ file: opts.config, discover: pluginCatalog().discover })).config
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    // With --url, a broken config found by the default lookup only costs the key (loopback needs none).
    if (given === undefined || opts.config !== undefined) throw new StatusError(`${error.source}: invalid\n${error.message}`)
  }
  const configKey = config?.server.admin.api_key || undefined
  if (given !== undefined) return { url: given.url, adminKey: envKey ?? configKey }
  return { url: urlOf(config!), adminKey: envKey ?? configKey }
}

/** Accepts the page's own URL too (`…/status`, `…/status.json`); a password in it is the admin key. */
function checkedUrl(text: string): { url: string; password: string | undefined } {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new StatusUsageError(`--url ${JSON.stringify(text)} is not a URL (expected e.g. http://127.0.0.1:8787)`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new StatusUsageError(`--url must be http:// or https://, not ${url.protocol}`)
  const password = url.password ? decodeURIComponent(url.password) : undefined
  url.username = ''
  url.password = ''
  const path = url.pathname.replace(/\/+$/, '').replace(/\/status(\.json)?$/, '')
  return { url: `${url.origin}${path}`, password }
}

const LISTEN = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d+)$/

/** `server.listen` as a URL this machine can reach: a wildcard host (0.0.0.0, ::) means loopback. */
function urlOf(config: RelayConfig): string {
  const match = LISTEN.exec(config.server.listen)
  if (match === null) throw new StatusError(`cannot read server.listen "${config.server.listen}"; pass --url`)
  const [, ipv6, ipv4OrName, port] = match
  if (port === '0') throw new StatusError('server.listen has port 0 (any free port); pass --url with the address the relay logged')
  const host = ipv6 !== undefined ? `[${/^[0:]*$/.test(ipv6) ? '::1' : ipv6}]` : ipv4OrName === '0.0.0.0' || ipv4OrName === '' ? '127.0.0.1' : ipv4OrName!
  const scheme = config.server.tls.cert_file !== '' ? 'https' : 'http'
  return `${scheme}://${host}:${port}`
}

function fetchSnapshot(target: Target): Promise<StatusSnapshot> {
  return fetchAdminJson<StatusSnapshot>(target, '/status.json')
}

/** An admin endpoint's JSON (`path` with its query), the admin key as Bearer; failures as StatusError. */
export async function fetchAdminJson<T>(target: Target, path: string): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' }
  if (target.adminKey !== undefined) headers['authorization'] = `Bearer ${target.adminKey}`
  const endpoint = path.split('?')[0]
  let res: Response
  try {
    res = await fetch(`${target.url}${path}`, { headers, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) })
  } catch (error) {
    throw new StatusError(`cannot reach the relay at ${target.url}: ${reasonOf(error)}`)
  }
  if (res.status === 401) {
    const which = target.adminKey === undefined ? 'needs the admin key' : 'refused the admin key given'
    throw new StatusError(`the relay at ${target.url} ${which} (401); ${ADMIN_KEY_HINT}`)
  }
  if (res.status === 403) throw new StatusError(`the relay at ${target.url} answers admin requests from loopback only (403); it needs a server.admin.api_key, passed here as CC_RELAY_ADMIN_KEY`)
  if (!res.ok) {
    // The relay's own error envelope says what was wrong with the request (a bad --since, say).
    const message = await res.json().then((e: { error?: { message?: string } }) => e.error?.message, () => undefined)
    throw new StatusError(`${target.url}${endpoint} answered HTTP ${res.status}${message ? `: ${message}` : ''}`)
  }
  try {
    return (await res.json()) as T
  } catch {
    throw new StatusError(`${target.url}${endpoint} did not answer JSON; is this a cc-relay?`)
  }
}

/** fetch() wraps the socket error (ECONNREFUSED, ENOTFOUND, a certificate problem) in `cause`. */
function reasonOf(error: unknown): string {
  if (error instanceof Error && error.name === 'TimeoutError') return `no answer within ${FETCH_TIMEOUT_MS / 1000} s`
  const cause = error instanceof Error ? error.cause : undefined
  if (cause instanceof Error) return (cause as NodeJS.ErrnoException).code ?? cause.message
  return error instanceof Error ? error.message : String(error)
}

const num = (n: number): string => n.toLocaleString('en-US')
const limit = (n: number): string => (n > 0 ? num(n) : '∞')
// An unlimited window keeps no count: shown as "–/∞".
const used = (u: Used): string => `${u.limit > 0 ? num(u.used) : '–'}/${limit(u.limit)}`
const clock = (iso: string): string => new Date(iso).toLocaleTimeString('en-GB')
const plural = (n: number, word: string): string => `${num(n)} ${word}${n === 1 ? '' : 's'}`

function uptime(s: number): string {
  const d = Math.floor(s / 86400)
  const h = Math.floor((s % 86400) / 3600)
  const m = Math.floor((s % 3600) / 60)
  return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : m ? `${m}m ${s % 60}s` : `${s}s`
}

/** Estimated USD, or "—" when nothing had a price (0 would suggest it was free). */
function cost(t: UsageTotals): string {
  if (t.cost_usd === 0 && t.unpriced_requests > 0) return 'cost —'
  return `$${t.cost_usd.toFixed(4)}${t.unpriced_requests > 0 ? ` (+${t.unpriced_requests} unpriced)` : ''}`
}

const tokens = (t: UsageTotals): string =>
  `tokens in ${num(t.input_tokens)} out ${num(t.output_tokens)} cache ${num(t.cache_read_input_tokens)}/${num(t.cache_creation_input_tokens)}`

function keyLine(k: KeyStatus): string {
  let tpm = `tpm ${used(k.tpm)}`
  if (k.itpm.limit > 0) tpm += ` itpm ${used(k.itpm)}`
  if (k.otpm.limit > 0) tpm += ` otpm ${used(k.otpm)}`
  const state = [k.available ? 'available' : 'unavailable']
  if (k.cooldown_until) state.push(`cooling until ${clock(k.cooldown_until)} (${k.cooldown_kind})`)
  for (const c of k.model_cooldowns) state.push(`${c.model} cooling until ${clock(c.until)} (${c.kind})`)
  if (k.unusable) state.push(`unusable: ${k.unusable}`)
  return `    ${k.hash}  prio ${k.priority}  rpm ${used(k.rpm)}  ${tpm}  ${state.join(', ')}`
}

/** A provider without pooled keys: what authenticates its requests (CONTRACT §3), by `credentials`. */
const NO_KEYS: Readonly<Record<string, string>> = {
  client: "client credentials forwarded (the client's own Anthropic login or key; allow_subscription)",
  none: 'no credential needed',
  sigv4: 'AWS SigV4 (explicit aws_* keys, else the AWS credential chain)',
  google: 'Google OAuth (gcp_credentials_file, else application default credentials)',
  bearer: 'its configured bearer token',
  keys: 'no credential: requests to it are refused (401) until keys are configured',
}

const money = (usd: number): string => `$${usd.toFixed(2)}`
const PERIOD_WORD: Readonly<Record<string, string>> = { day: 'today', week: 'this week', month: 'this month' }

export function formatStatus(s: StatusSnapshot, url: string): string {
  const out: string[] = []
  const sharing = s.store.shared ? ' (shared)' : s.store.kind === 'redis' ? ' (unavailable: local limits)' : ''
  const store = `${s.store.kind}${sharing}, ${plural(s.store.instances, 'instance')}`
  out.push(`cc-relay ${s.relay.version} at ${url}: up ${uptime(s.relay.uptime_s)}, pid ${s.relay.pid}`)
  out.push(`config ${s.config.source} (${plural(s.config.reloads, 'reload')}), store ${store}`)
  if (s.config.last_error) out.push(`  ! last reload refused (running config kept): ${s.config.last_error}`)
  if (s.config.restart_needed.length > 0) out.push(`  ! restart needed to apply: ${s.config.restart_needed.join(', ')}`)
  const t = s.traffic
  out.push(`traffic: ${t.requests_per_s.toFixed(2)} req/s, ${(t.error_rate * 100).toFixed(1)}% errors (last ${t.window_s} s), ${num(t.active_requests)} active, ${plural(t.failovers, 'failover')}`)

  out.push('', 'providers:')
  for (const p of s.providers) {
    const breaker = `breaker ${p.breaker.state}${p.breaker.open_until ? ` until ${clock(p.breaker.open_until)}` : ''}${p.breaker.failures ? ` (${plural(p.breaker.failures, 'failure')})` : ''}`
    out.push(`  ${p.name} (${p.type}${p.enabled ? '' : ', disabled'})  ${breaker}, ${num(p.inflight)} in flight`)
    if (p.keys.length === 0) out.push(`    no pooled keys: ${NO_KEYS[p.credentials] ?? 'see the provider type'}`)
    for (const k of p.keys) out.push(keyLine(k))
  }

  if (s.clients.length > 0) {
    out.push('', 'clients:')
    const width = Math.max(...s.clients.map((c) => (c.name || '(shared key)').length))
    for (const c of s.clients) {
      const limits = `rpm ${used(c.rpm)} tpm ${used(c.tpm)} concurrent ${num(c.inflight)}/${limit(c.max_concurrent)}`
      // Older relays have no groups or policy in their snapshot.
      const policy = c.policy?.allowed ? `  models: ${c.policy.allowed.join(', ') || 'none'}` : ''
      const group = c.group ? `  group ${c.group}` : ''
      out.push(`  ${(c.name || '(shared key)').padEnd(width)}${group}  ${plural(c.requests, 'request')}, ${plural(c.errors, 'error')}, ${tokens(c)}, ${cost(c)}  ${limits}${policy}`)
    }
  }
  if (s.groups && s.groups.length > 0) {
    out.push('', 'groups:')
    for (const g of s.groups) {
      const models = g.allowed === null ? 'every model' : g.allowed.join(', ') || 'no served model'
      const limits = `rpm ${used(g.rpm)} tpm ${used(g.tpm)} concurrent ${num(g.inflight)}/${limit(g.max_concurrent)}`
      out.push(`  ${g.name}  members: ${g.members.join(', ') || 'none'}  models: ${models}  ${limits}`)
    }
  }
  // Older relays have no budgets in their snapshot.
  if (s.budgets && s.budgets.length > 0) {
    out.push('', 'budgets:')
    const who = (b: BudgetStatus): string => (b.scope === 'group_pool' ? `group ${b.group}` : b.scope === 'member' ? `${b.client} (member of ${b.group})` : b.client)
    const width = Math.max(...s.budgets.map((b) => who(b).length))
    for (const b of s.budgets) {
      out.push(`  ${who(b).padEnd(width)}  $${b.spent_usd.toFixed(4)} of ${money(b.usd)} ${PERIOD_WORD[b.period] ?? b.period}, resets ${b.resets_at.slice(0, 10)}${b.spent_usd >= b.usd ? '  ! spent: requests refused (429)' : ''}`)
    }
  }
  if (s.usage.length > 0) {
    out.push('', 'usage:')
    for (const u of s.usage) out.push(`  ${u.provider} / ${u.model}  ${plural(u.requests, 'request')}, ${plural(u.errors, 'error')}, ${tokens(u)}, ${cost(u)}`)
  }
  if (s.logins.length > 0) {
    out.push('', 'subscription logins:')
    for (const l of s.logins) out.push(`  ${l.hash}  ${plural(l.requests, 'request')}, ${num(l.tokens)} tokens`)
  }
  // Older relays have no rules in their snapshot.
  if (s.rules && s.rules.length > 0) {
    out.push('', 'routing rules (first match wins):')
    for (const r of s.rules) out.push(`  ${r.name}  → ${r.providers.join(', ')}${r.model ? ` as ${r.model}` : ''}  ${plural(r.hits, 'hit')}`)
  }
  const recent = s.recent_failovers.slice(0, SHOWN_FAILOVERS)
  out.push('', recent.length > 0 ? `recent failovers (newest first, ${recent.length} of ${num(t.failovers)}):` : 'recent failovers: none')
  for (const f of recent) out.push(`  ${clock(f.at)}  ${f.request_id}  ${f.provider}  ${f.reason} → next ${f.scope}`)
  return `${out.join('\n')}\n`
}
