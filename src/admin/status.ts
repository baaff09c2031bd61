/**
 * `GET /status.json`: the running relay's state for the status page and `cc-relay status`. Keys appear
 * by hash only; limits are shown beside what the sliding windows have used. Nothing here is a secret.
 */
import type { SupervisorState, KeyState } from '../supervisor/state.js'
import { activeCooldowns, WHOLE_KEY } from '../supervisor/cooldowns.js'
import { keyWaitMs } from '../supervisor/key-pick.js'
import { emptyTotals } from './activity.js'
import type { Activity, FailoverEvent, UsageTotals } from './activity.js'
import type { SessionStatus } from './sessions.js'
import { cacheHitRate } from '../shared/cache-hit-rate.js'

/** The reload bookkeeping the snapshot reports. */
export interface ConfigInfo {
  readonly source: string
  loadedAt: number
  reloads: number
  /** The last reload's problems, when it was refused (the running config stayed). */
  lastError: string | undefined
  /** Changed settings that only a restart applies (listen address, TLS files, plugin_dirs). */
  restartNeeded: string[]
}

export interface Used {
  /** Within the sliding minute; always 0 when the limit is 0 (an unlimited window keeps no count). */
  readonly used: number
  /** 0 = unlimited. */
  readonly limit: number
}

export interface KeyStatus {
  readonly id: string
  readonly hash: string
  readonly priority: number
  readonly inflight: number
  /** Leases other relays hold on this key (state.store: redis). */
  readonly remote_inflight: number
  readonly available: boolean
  readonly rpm: Used
  readonly tpm: Used
  readonly itpm: Used
  readonly otpm: Used
  /** The whole key cooling (every model): an account-wide quota or window spent. */
  readonly cooldown_until: string | null
  readonly cooldown_kind: 'throttle' | 'quota' | null
  /** Models this key is cooling for (a 429 or a spent budget for that model); it serves the others. */
  readonly model_cooldowns: readonly { readonly model: string; readonly until: string; readonly kind: 'throttle' | 'quota' }[]
  readonly unusable: string | null
  /** The upstream's last `anthropic-ratelimit-*` headers for this key (budgets it reported). */
  readonly learned: Readonly<Record<string, string>>
}

export interface ProviderStatus {
  readonly name: string
  readonly type: string
  readonly enabled: boolean
  readonly priority: number
  readonly inflight: number
  readonly breaker: { readonly state: 'closed' | 'open' | 'half_open'; readonly failures: number; readonly open_until: string | null }
  readonly keys: readonly KeyStatus[]
  /**
   * What authenticates its upstream requests besides pooled keys (CONTRACT §3): `client` (a client's own
   * Anthropic credential, forwarded), `none` (nothing needed: ollama), `sigv4` (AWS), `google` (OAuth),
   * `bearer` (a token from its config), or `keys` (pooled keys only: without any, requests get 401).
   */
  readonly credentials: 'client' | 'none' | 'sigv4' | 'google' | 'bearer' | 'keys'
}

export interface ClientStatus extends UsageTotals {
  /** cache_read / (input + cache_read + cache_creation); null with no input yet. */
  readonly cache_hit_rate: number | null
  /** The team client's name (a signed-in user's email); '' is everyone on the shared key (or no key). */
  readonly name: string
  /** Its team group (CONTRACT §10), '' for none. */
  readonly group: string
  readonly inflight: number
  readonly rpm: Used
  readonly tpm: Used
  readonly max_concurrent: number
  /**
   * Its effective model policy: its own lists, and of the served model names and the config's patterns
   * those it may use (null: every model).
   */
  readonly policy: { readonly models: readonly string[]; readonly deny_models: readonly string[]; readonly allowed: readonly string[] | null }
}

export interface GroupStatus {
  readonly name: string
  readonly models: readonly string[]
  readonly deny_models: readonly string[]
  /** Configured client keys in the group (signed-in members appear under clients once they call). */
  readonly members: readonly string[]
  /** Requests of its members in flight, and its pooled windows. */
  readonly inflight: number
  readonly rpm: Used
  readonly tpm: Used
  readonly max_concurrent: number
  /** Served model names and patterns the group allows (null: every model). */
  readonly allowed: readonly string[] | null
}

export interface BudgetStatus {
  /** The client (or member) whose spend it caps; '' for a group's pool. */
  readonly client: string
  /** The group of a pool or member budget; '' for a client's own. */
  readonly group: string
  readonly scope: 'client' | 'member' | 'group_pool'
  readonly usd: number
  readonly period: string
  readonly spent_usd: number
  readonly resets_at: string
}

export interface StatusSnapshot {
  readonly relay: { readonly version: string; readonly started_at: string; readonly uptime_s: number; readonly pid: number }
  readonly config: { readonly source: string; readonly loaded_at: string; readonly reloads: number; readonly last_error: string | null; readonly restart_needed: readonly string[] }
  readonly store: { readonly kind: string; readonly shared: boolean; readonly instances: number }
  readonly traffic: { readonly requests_per_s: number; readonly error_rate: number; readonly window_s: number; readonly active_requests: number; readonly failovers: number }
  readonly providers: readonly ProviderStatus[]
  readonly clients: readonly ClientStatus[]
  /** Team groups (CONTRACT §10) with their policy, members and pooled limits. */
  readonly groups: readonly GroupStatus[]
  readonly usage: readonly (UsageTotals & { readonly provider: string; readonly model: string; readonly cache_hit_rate: number | null })[]
  /** The busiest Claude Code sessions of the last hour (by a short form of their id). */
  readonly sessions: readonly SessionStatus[]
  /** Subscription logins forwarded to anthropic providers, by credential hash. */
  readonly logins: readonly { readonly hash: string; readonly requests: number; readonly tokens: number }[]
  readonly recent_failovers: readonly (Omit<FailoverEvent, 'at'> & { readonly at: string })[]
  /**
   * Spend budgets (CONTRACT §9, §10) against their spend in the current UTC period: clients' own
   * (`client`), groups' pools (`group`, scope group_pool); a group's `member_budget` shows per member.
   */
  readonly budgets: readonly BudgetStatus[]
  /** The usage ledger: its store, and every client's spend per UTC day over the last 30 days. */
  readonly ledger: { readonly store: string; readonly daily: readonly { readonly day: string; readonly cost_usd: number }[] } | null
  /**
   * Signed-in users (CONTRACT §12), as `cc-relay users` lists them: email, name, relay groups, first and
   * last seen, spend this UTC month. null while sign-in (`server.auth.sso`) is off.
   */
  readonly users: readonly UserRow[] | null
  /** Set when the sign-in store could not be read for `users` (it is then empty). */
  readonly users_error?: string
  /** The loaded routing rules in order (CONTRACT §8), with the requests each matched since start. */
  readonly rules: readonly { readonly name: string; readonly providers: readonly string[]; readonly model: string | null; readonly hits: number }[]
}

import type { UsageLedger } from '../ledger/ledger.js'
import { groupAccount } from '../ledger/ledger.js'
import { periodOf } from '../ledger/rows.js'
import type { BudgetConfig } from '../config/types.js'
import { ModelPolicy } from '../admission/policy.js'
import type { TeamBook } from '../admission/team-book.js'
import { servedModels } from '../supervisor/model-map.js'
import { authOf } from '../shared/plugins.js'
import type { TeamAccountState } from '../supervisor/team.js'
import type { UserRow } from '../signin/users-admin.js'

const iso = (ms: number): string => new Date(ms).toISOString()
const NO_ESTIMATE = { input: 0, output: 0 }
const NOTHING_TRIED: ReadonlySet<string> = new Set()

/** Whether `k` could take a request right now (ignoring the request's own size). */
export function keyAvailable(k: KeyState, now: number): boolean {
  return keyWaitMs(k, WHOLE_KEY, NO_ESTIMATE, now, NOTHING_TRIED) === 0
}

function keyStatus(k: KeyState, now: number): KeyStatus {
  const cooldowns = activeCooldowns(k.cooldowns, now)
  const whole = cooldowns.find(([scope]) => scope === WHOLE_KEY)?.[1]
  return {
    id: k.id,
    hash: k.hash,
    priority: k.config.priority,
    inflight: k.inflight,
    remote_inflight: k.remoteInflight,
    available: keyAvailable(k, now),
    rpm: { used: k.rpm.used(now), limit: k.rpm.limit },
    tpm: { used: k.tpm.used(now), limit: k.tpm.limit },
    itpm: { used: k.itpm.used(now), limit: k.itpm.limit },
    otpm: { used: k.otpm.used(now), limit: k.otpm.limit },
    cooldown_until: whole ? iso(whole.until) : null,
    cooldown_kind: whole ? whole.kind : null,
    model_cooldowns: cooldowns.filter(([scope]) => scope !== WHOLE_KEY).map(([model, c]) => ({ model, until: iso(c.until), kind: c.kind })),
    unusable: k.unusable ?? null,
    learned: k.learned,
  }
}

/** CONTRACT §3: who supplies a provider's upstream credential when no pooled key does. */
function credentialsOf(p: SupervisorState['providers'][number], allowSubscription: boolean): ProviderStatus['credentials'] {
  if (p.plugin.clientCredentials === 'forward' && allowSubscription) return 'client'
  return authOf(p.plugin, p.config.options).kind
}

export interface SnapshotInputs {
  readonly state: SupervisorState
  readonly activity: Activity
  readonly config: ConfigInfo
  readonly activeRequests: number
  readonly version: string
  readonly store: { readonly kind: string; readonly shared: boolean; readonly instances: number }
  readonly ledger?: UsageLedger | undefined
  /** The compiled team config: policies by caller. */
  readonly book: TeamBook
  /** Signed-in users (undefined: sign-in is off), or why they could not be read. */
  readonly users?: readonly UserRow[] | { readonly error: string } | undefined
}

export function statusSnapshot(inputs: SnapshotInputs, now = Date.now()): StatusSnapshot {
  const { state, activity, config } = inputs
  const providers = state.providers.map((p): ProviderStatus => ({
    name: p.config.name,
    type: p.config.type,
    enabled: p.config.enabled,
    priority: p.priority,
    inflight: p.inflight,
    breaker: { state: p.breaker.available(now) && p.breaker.state === 'open' ? 'half_open' : p.breaker.state, failures: p.breaker.failures, open_until: p.breaker.state === 'open' && p.breaker.openUntil > now ? iso(p.breaker.openUntil) : null },
    keys: p.keys.map((k) => keyStatus(k, now)),
    credentials: credentialsOf(p, state.config.server.auth.allow_subscription),
  }))
  // What a policy may be judged against: the served model names, and the policies' own patterns (a
  // provider without model lists serves any name, so the patterns say more than an empty list would).
  const { clients: clientConfigs, groups: groupConfigs } = state.config.server.auth
  const named = [...servedModels(state.config.providers), ...[...groupConfigs, ...clientConfigs].flatMap((x) => x.models)]
  const candidates = [...new Set(named)]
  const allowedBy = (policy: ModelPolicy): string[] | null => (policy.unrestricted ? null : candidates.filter((m) => policy.decide(m).ok))
  const used = (a: TeamAccountState | undefined, window: 'rpm' | 'tpm'): Used => ({ used: a ? a[window].used(now) : 0, limit: a ? a.limits[`${window}_limit`] : 0 })
  const configured = new Map(state.config.server.auth.clients.map((c) => [c.name, c]))
  // Every configured team client, used or not, and anyone else who used the relay (the shared key, signed-in users).
  const names = new Set<string>([...state.team.clients.keys(), ...activity.byClient.keys()])
  const clients = [...names].map((name): ClientStatus => {
    const team = state.team.clients.get(name)
    const totals = activity.byClient.get(name)
    const config = configured.get(name)
    const profile = inputs.book.client(name)
    return {
      name,
      group: config?.group ?? '',
      ...(totals ?? emptyTotals()),
      cache_hit_rate: totals ? cacheHitRate(totals) : null,
      inflight: team?.inflight ?? 0,
      rpm: used(team, 'rpm'),
      tpm: used(team, 'tpm'),
      max_concurrent: team?.limits.max_concurrent ?? 0,
      policy: { models: config?.models ?? [], deny_models: config?.deny_models ?? [], allowed: profile ? allowedBy(profile.policy) : null },
    }
  })
  const groups = state.config.server.auth.groups.map((g): GroupStatus => {
    const books = state.team.groups.get(g.name)
    return {
      name: g.name,
      models: g.models,
      deny_models: g.deny_models,
      members: state.config.server.auth.clients.filter((c) => c.group === g.name).map((c) => c.name),
      inflight: books?.inflight ?? 0,
      rpm: used(books, 'rpm'),
      tpm: used(books, 'tpm'),
      max_concurrent: g.max_concurrent,
      allowed: allowedBy(new ModelPolicy([g], undefined)),
    }
  })
  const budget = (client: string, group: string, scope: BudgetStatus['scope'], b: BudgetConfig, account: string): BudgetStatus => ({
    client, group, scope, usd: b.usd, period: b.period, spent_usd: Math.round((inputs.ledger?.spent(account, b.period, now) ?? 0) * 1e6) / 1e6, resets_at: iso(periodOf(b.period, now).resetsAt),
  })
  const budgets: BudgetStatus[] = []
  for (const c of state.config.server.auth.clients) {
    if (c.budget && c.budget.usd > 0) budgets.push(budget(c.name, '', 'client', c.budget, c.name))
    const g = c.group ? state.config.server.auth.groups.find((x) => x.name === c.group) : undefined
    if (g?.member_budget && g.member_budget.usd > 0) budgets.push(budget(c.name, g.name, 'member', g.member_budget, c.name))
  }
  for (const g of state.config.server.auth.groups) if (g.budget && g.budget.usd > 0) budgets.push(budget('', g.name, 'group_pool', g.budget, groupAccount(g.name)))
  return {
    relay: { version: inputs.version, started_at: iso(activity.startedAt), uptime_s: Math.round((now - activity.startedAt) / 1000), pid: process.pid },
    config: { source: config.source, loaded_at: iso(config.loadedAt), reloads: config.reloads, last_error: config.lastError ?? null, restart_needed: config.restartNeeded },
    store: inputs.store,
    traffic: { ...activity.lastMinute(now), active_requests: inputs.activeRequests, failovers: activity.failoverCount },
    providers,
    clients,
    groups,
    usage: [...activity.byModel.values()].map((u) => ({ ...u, cache_hit_rate: cacheHitRate(u) })),
    sessions: activity.sessions.busiest(10, now),
    logins: [...state.logins].map(([hash, u]) => ({ hash, requests: u.requests, tokens: u.tokens })),
    recent_failovers: activity.recentFailovers().map((f) => ({ ...f, at: iso(f.at) })),
    budgets,
    ledger: inputs.ledger ? { store: inputs.ledger.kind, daily: inputs.ledger.dailySpend(30, now) } : null,
    users: inputs.users === undefined ? null : 'error' in inputs.users ? [] : inputs.users,
    ...(inputs.users !== undefined && 'error' in inputs.users ? { users_error: inputs.users.error } : {}),
    rules: state.config.routing.rules.map((r) => ({ name: r.name, providers: r.use.providers, model: r.use.model ?? null, hits: activity.ruleHits.get(r.name) ?? 0 })),
  }
}
