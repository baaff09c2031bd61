/**
 * Shared by the supervisor tests: configs built from the defaults by hand, fake plugins, and a rig that
 * drives a Supervisor with a fake clock and a seeded PRNG (no real time anywhere).
 */
import type { Route, ProviderPlugin } from '../../plugins/sdk.js'
import { CONFIG_DEFAULTS, KEY_DEFAULTS, PROVIDER_DEFAULTS } from '../../src/config/defaults.js'
import type { CircuitBreakerConfig, KeyConfig, ProviderConfig, RelayConfig, RoutingConfig } from '../../src/config/types.js'
import type { Lease, LeaseAsk, LeaseReply, Outcome, Usage } from '../../src/shared/protocol.js'
import { Supervisor } from '../../src/supervisor/supervisor.js'
import type { KeyState, ProviderState } from '../../src/supervisor/state.js'
import { prng } from '../helpers/prng.js'

/** 2025-06-01T12:00:00Z: a realistic epoch, so HTTP dates and epoch-second resets make sense. */
export const T0 = Date.UTC(2025, 5, 1, 12, 0, 0)

function fakePlugin(type: string, clientCredentials: 'forward' | 'never', auth: ProviderPlugin['auth'], routes: readonly Route[] = ['messages', 'count_tokens']): ProviderPlugin {
  return {
    api: 1,
    type,
    routes,
    framing: 'sse',
    auth,
    clientCredentials,
    defaultBaseUrl: () => '',
    prepare: () => {
      throw new Error('not used by the supervisor')
    },
  }
}

/** `anthropic` forwards a client's own credential; `zai` never does; `ollama` needs no credential; `msgonly` lacks count_tokens. */
export const PLUGINS: ReadonlyMap<string, ProviderPlugin> = new Map([
  ['anthropic', fakePlugin('anthropic', 'forward', { kind: 'keys', headers: ['x-api-key'] })],
  ['zai', fakePlugin('zai', 'never', { kind: 'keys', headers: ['bearer', 'x-api-key'] })],
  ['ollama', fakePlugin('ollama', 'never', { kind: 'none' })],
  ['msgonly', fakePlugin('msgonly', 'never', { kind: 'keys', headers: ['x-api-key'] }, ['messages'])],
])

export function key(secret: string, over: Partial<KeyConfig> = {}): KeyConfig {
  return { ...KEY_DEFAULTS, key: secret, ...over }
}

export type ProviderOver = Partial<Omit<ProviderConfig, 'name'>>

/** A provider (type `anthropic` unless told) with one unlimited key named `<name>-key` unless `keys` is given. */
export function provider(name: string, over: ProviderOver = {}): ProviderConfig {
  return { ...PROVIDER_DEFAULTS, name, type: 'anthropic', keys: [key(`${name}-key`)], options: {}, ...over }
}

export interface ConfigOver {
  readonly routing?: Partial<RoutingConfig>
  readonly breaker?: Partial<CircuitBreakerConfig>
  readonly allowSubscription?: boolean
}

export function config(providers: readonly ProviderConfig[], over: ConfigOver = {}): RelayConfig {
  const D = CONFIG_DEFAULTS
  return {
    ...D,
    server: { ...D.server, auth: { ...D.server.auth, allow_subscription: over.allowSubscription ?? false } },
    providers,
    routing: { ...D.routing, ...over.routing },
    health: { ...D.health, circuit_breaker: { ...D.health.circuit_breaker, ...over.breaker } },
  }
}

export function usage(over: Partial<Usage> = {}): Usage {
  return { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, ...over }
}

export interface OutcomeOver {
  readonly usage?: Partial<Usage>
  readonly rateHeaders?: Record<string, string>
  readonly errorCode?: string
  readonly clientAborted?: boolean
}

export function outcome(status: number, over: OutcomeOver = {}): Outcome {
  return {
    status,
    provider: '',
    upstreamModel: '',
    ttfbMs: status ? 10 : -1,
    usage: usage(over.usage),
    clientAborted: over.clientAborted ?? false,
    rateHeaders: over.rateHeaders ?? {},
    ...(over.errorCode === undefined ? {} : { errorCode: over.errorCode }),
  }
}

export type AskOver = Partial<Omit<LeaseAsk, 'type'>>

/** A Supervisor with a hand-driven clock (starting at T0) and `prng(seed)`. */
export class Rig {
  clock = T0
  cfg: RelayConfig
  readonly sup: Supervisor

  constructor(cfg: RelayConfig, seed = 1) {
    this.cfg = cfg
    this.sup = new Supervisor(cfg, PLUGINS, { now: () => this.clock, random: prng(seed) })
  }

  ask(over: AskOver = {}): LeaseReply {
    return this.sup.lease({
      route: 'messages',
      model: 'claude-sonnet-4-5',
      hasClientCredential: false,
      tried: new Set(),
      estimate: { input: 100, output: 100 },
      ...over,
    })
  }

  /** A lease that must be granted. */
  lease(over: AskOver = {}): Lease {
    const reply = this.ask(over)
    if (!reply.ok) throw new Error(`expected a lease, got ${reply.error.code}: ${reply.error.message}`)
    return reply.lease
  }

  /** `provider/key-secret` of a lease (`provider/-` when no pooled key). */
  who(lease: Lease): string {
    const p = this.cfg.providers[lease.provider]!
    return `${p.name}/${lease.key < 0 ? '-' : p.keys[lease.key]!.key}`
  }

  /** Where the next granted lease goes. */
  next(over: AskOver = {}): string {
    return this.who(this.lease(over))
  }

  report(lease: Lease, status: number, over: OutcomeOver = {}): void {
    this.sup.report(lease.id, outcome(status, over))
  }

  reload(cfg: RelayConfig): void {
    this.cfg = cfg
    this.sup.replaceConfig(cfg)
  }

  providerState(name: string): ProviderState {
    const p = this.sup.state.providers.find((x) => x.config.name === name)
    if (!p) throw new Error(`no provider ${name}`)
    return p
  }

  keyState(providerName: string, secret: string): KeyState {
    const k = this.providerState(providerName).keys.find((x) => x.config.key === secret)
    if (!k) throw new Error(`no key ${secret} in ${providerName}`)
    return k
  }

  /** The key id (`provider#hash`) the supervisor uses for the `tried` set. */
  keyId(providerName: string, secret: string): string {
    return this.keyState(providerName, secret).id
  }
}

/** Share of each label in `picks`. */
export function shares(picks: readonly string[]): Record<string, number> {
  const counts = new Map<string, number>()
  for (const p of picks) counts.set(p, (counts.get(p) ?? 0) + 1)
  return Object.fromEntries([...counts].map(([label, n]) => [label, n / picks.length]))
}
