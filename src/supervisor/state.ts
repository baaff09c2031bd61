/**
 * The supervisor's state: every key's windows, cooldown, in-flight count; every provider's breaker and
 * place in failover order; strategy cursors; open leases. Built from a config, and rebuilt from the next
 * config with everything learned carried over, keyed by provider name and key hash.
 */
import { createHash } from 'node:crypto'
import type { ProviderPlugin } from '../../plugins/sdk.js'
import type { KeyConfig, ProviderConfig, RelayConfig } from '../config/types.js'
import { authOf } from '../shared/plugins.js'
import { AffinityMap } from './affinity.js'
import { Breaker } from './breaker.js'
import type { Cooldowns } from './cooldowns.js'
import { buildTeam } from './team.js'
import type { ClientTicket, TeamBooks } from './team.js'
import { RequestWindow, TokenWindow } from './windows.js'
import type { TokenEntry } from './windows.js'

export interface KeyState {
  /** `provider#hash`: stable across reloads, safe to show (never the key itself). */
  readonly id: string
  readonly hash: string
  readonly index: number
  readonly config: KeyConfig
  readonly rpm: RequestWindow
  readonly tpm: TokenWindow
  readonly itpm: TokenWindow
  readonly otpm: TokenWindow
  /** Cooldowns after 429s and spent budgets, by upstream model (`WHOLE_KEY`: every model). */
  readonly cooldowns: Cooldowns
  /** What the upstream's `anthropic-ratelimit-*` headers last said about this key's budget. */
  learned: Readonly<Record<string, string>>
  /** Why the upstream refused this key (401/403); it is skipped until the config changes it. */
  unusable: string | undefined
  inflight: number
  /** Leases other relays hold on this key (state.store: redis; refreshed by the heartbeat). */
  remoteInflight: number
  lastUsed: number
}

export interface ProviderState {
  readonly index: number
  readonly config: ProviderConfig
  readonly plugin: ProviderPlugin
  /** CONTRACT §1: its own priority, else its highest key priority, else 1. */
  readonly priority: number
  /** Its pooled keys are credentials (auth `keys`); otherwise they are only slots with limits. */
  readonly keysAreCredentials: boolean
  readonly breaker: Breaker
  readonly keys: KeyState[]
  keyCursor: number
  /** Smooth weighted round robin's running weight. */
  current: number
  /** Leases in flight on this provider, pooled key or not (for `least_loaded` routing). */
  inflight: number
}

/** Names, not objects: an outcome may arrive after a reload replaced the state objects. */
export interface LeaseRecord {
  readonly provider: string
  readonly keyHash: string | undefined
  readonly reservations: readonly [TokenEntry | undefined, TokenEntry | undefined, TokenEntry | undefined]
  /** The breaker period this lease probed in (undefined when the breaker was closed). */
  readonly probeEpoch: number | undefined
  /** Hash of the client's own credential when it was forwarded, for per-login counts. */
  readonly login: string | undefined
}

/** Requests and tokens per forwarded client credential (by hash): who used the relay with their own login. */
export interface LoginUsage {
  requests: number
  tokens: number
}

export interface SupervisorState {
  config: RelayConfig
  providers: ProviderState[]
  cursor: number
  readonly leases: Map<number, LeaseRecord>
  nextLeaseId: number
  readonly affinity: AffinityMap
  readonly logins: Map<string, LoginUsage>
  /** Named team clients' and groups' limits and books. */
  team: TeamBooks
  readonly tickets: Map<number, ClientTicket>
  nextTicketId: number
  readonly plugins: ReadonlyMap<string, ProviderPlugin>
  readonly random: () => number
}

export function keyHash(key: string, index: number): string {
  return key ? createHash('sha256').update(key).digest('hex').slice(0, 12) : `slot${index}`
}

function providerPriority(p: ProviderConfig): number {
  if (p.priority !== null) return p.priority
  return p.keys.length ? Math.max(...p.keys.map((k) => k.priority)) : 1
}

function buildKey(provider: ProviderConfig, config: KeyConfig, index: number, old: KeyState | undefined): KeyState {
  const hash = keyHash(config.key, index)
  return {
    id: `${provider.name}#${hash}`,
    hash,
    index,
    config,
    // What the windows hold carries over, under the new limits: a reload never hands out a fresh minute.
    rpm: old?.rpm.withLimit(config.rpm_limit) ?? new RequestWindow(config.rpm_limit),
    tpm: old?.tpm.withLimit(config.tpm_limit) ?? new TokenWindow(config.tpm_limit),
    itpm: old?.itpm.withLimit(config.itpm_limit) ?? new TokenWindow(config.itpm_limit),
    otpm: old?.otpm.withLimit(config.otpm_limit) ?? new TokenWindow(config.otpm_limit),
    cooldowns: old?.cooldowns ?? new Map(),
    learned: old?.learned ?? {},
    unusable: old?.unusable,
    inflight: old?.inflight ?? 0,
    remoteInflight: old?.remoteInflight ?? 0,
    lastUsed: old?.lastUsed ?? 0,
  }
}

/** A state for `config`, carrying over what `previous` learned about the same providers and keys. */
export function buildState(
  config: RelayConfig,
  plugins: ReadonlyMap<string, ProviderPlugin>,
  random: () => number,
  previous?: SupervisorState,
): SupervisorState {
  const oldProviders = new Map(previous?.providers.map((p) => [p.config.name, p]))
  const providers = config.providers.map((p, index): ProviderState => {
    const old = oldProviders.get(p.name)
    const oldKeys = new Map(old?.keys.map((k) => [k.hash, k]))
    const breaker = old?.breaker ?? new Breaker(config.health.circuit_breaker)
    breaker.reconfigure(config.health.circuit_breaker)
    return {
      index,
      config: p,
      plugin: plugins.get(p.type)!,
      priority: providerPriority(p),
      keysAreCredentials: authOf(plugins.get(p.type)!, p.options).kind === 'keys',
      breaker,
      keys: p.keys.map((k, i) => buildKey(p, k, i, oldKeys.get(keyHash(k.key, i)))),
      keyCursor: old?.keyCursor ?? 0,
      current: old?.current ?? 0,
      inflight: old?.inflight ?? 0,
    }
  })
  return {
    config,
    providers,
    cursor: previous?.cursor ?? 0,
    leases: previous?.leases ?? new Map(),
    nextLeaseId: previous?.nextLeaseId ?? 1,
    affinity: previous?.affinity ?? new AffinityMap(),
    logins: previous?.logins ?? new Map(),
    team: buildTeam(config, previous?.team),
    tickets: previous?.tickets ?? new Map(),
    nextTicketId: previous?.nextTicketId ?? 1,
    plugins,
    random,
  }
}
