/**
 * Every default of CONTRACT §1, in one place, and the merge of a validated file over them.
 * The defaults are frozen, so sharing their nested objects between loaded configs is safe.
 */
import type { ConfigInput, ProviderInput } from './schema.js'
import type { ClientConfig, GroupConfig, KeyConfig, ProviderConfig, RelayConfig } from './types.js'

export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const child of Object.values(value)) deepFreeze(child)
  }
  return value
}

export const CONFIG_DEFAULTS: Omit<RelayConfig, 'providers'> = deepFreeze({
  server: {
    listen: '127.0.0.1:8787',
    max_body_bytes: 33_554_432,
    keepalive_ms: 15_000,
    shutdown_timeout_ms: 30_000,
    timeouts: { connect_ms: 10_000, first_byte_ms: 300_000, idle_ms: 300_000, total_ms: 0 },
    tls: { cert_file: '', key_file: '' },
    public_url: '',
    auth: {
      api_key: '',
      allow_subscription: false,
      allow_ips: [],
      clients: [],
      groups: [],
      sso: {
        issuer: '',
        client_id: '',
        client_secret: '',
        scopes: ['openid', 'email', 'profile'],
        groups_claim: 'groups',
        group_map: {},
        default_group: '',
        allowed_domains: [],
        token_ttl_s: 3600,
        refresh: true,
        signing_secret: '',
      },
    },
    admin: { api_key: '', allow_ips: [] },
  },
  plugin_dirs: [],
  routing: {
    strategy: 'failover',
    model_mapping: {},
    default_provider: '',
    max_attempts: 3,
    failover_timeout_ms: 30_000,
    queue_timeout_ms: 0,
    affinity: { enabled: true, ttl_ms: 3_600_000 },
    debug: false,
    rules: [],
  },
  health: {
    circuit_breaker: { failure_threshold: 5, open_duration_ms: 30_000, half_open_probes: 3 },
    health_check: { enabled: true, interval_ms: 10_000 },
  },
  state: { store: 'memory', redis: { url: '', key_prefix: 'cc-relay:', connect_timeout_ms: 2000, command_timeout_ms: 500 } },
  logging: { level: 'info', format: 'json' },
  pricing: {},
  usage: { db: '', retention_days: 400 },
  // Unwritten keys stay undefined: OTEL_* variables, then the contract's defaults (src/tracing/settings.ts).
  telemetry: {
    otlp: { endpoint: '', protocol: undefined, headers: {}, timeout_ms: undefined },
    service_name: undefined,
    sample_ratio: undefined,
    propagate_upstream: true,
    client_telemetry: 'discard',
  },
})

export const PROVIDER_DEFAULTS: Omit<ProviderConfig, 'name' | 'type' | 'keys' | 'options'> = deepFreeze({
  enabled: true,
  base_url: '',
  priority: null,
  weight: 1,
  pooling: { strategy: 'least_loaded' },
  models: [],
  max_output_tokens: 0,
  model_mapping: {},
})

export const KEY_DEFAULTS: KeyConfig = deepFreeze({
  key: '',
  rpm_limit: 0,
  tpm_limit: 0,
  itpm_limit: 0,
  otpm_limit: 0,
  priority: 1,
  weight: 1,
})

export const CLIENT_DEFAULTS: Omit<ClientConfig, 'name' | 'key'> = deepFreeze({
  group: '',
  models: [],
  deny_models: [],
  rpm_limit: 0,
  tpm_limit: 0,
  max_concurrent: 0,
  budget: undefined,
})

export const GROUP_DEFAULTS: Omit<GroupConfig, 'name'> = deepFreeze({
  models: [],
  deny_models: [],
  rpm_limit: 0,
  tpm_limit: 0,
  max_concurrent: 0,
  budget: undefined,
  member_budget: undefined,
  managed_settings: undefined,
})

/** A provider entry split by providers.ts: `common` holds only the shared keys, `options` the rest. */
export interface ProviderParts {
  readonly common: ProviderInput
  readonly options: Readonly<Record<string, unknown>>
}

function withProviderDefaults({ common, options }: ProviderParts): ProviderConfig {
  return {
    ...PROVIDER_DEFAULTS,
    ...common,
    keys: (common.keys ?? []).map((key) => ({ ...KEY_DEFAULTS, ...key })),
    pooling: { ...PROVIDER_DEFAULTS.pooling, ...common.pooling },
    options,
  }
}

/** `input` must have passed the schema and the semantic checks; the result is deep-frozen. */
export function applyDefaults(input: ConfigInput, providers: readonly ProviderParts[]): RelayConfig {
  const D = CONFIG_DEFAULTS
  const server = input.server ?? {}
  const routing = input.routing ?? {}
  const health = input.health ?? {}
  const state = input.state ?? {}
  return deepFreeze({
    server: {
      ...D.server,
      ...server,
      timeouts: { ...D.server.timeouts, ...server.timeouts },
      tls: { ...D.server.tls, ...server.tls },
      auth: {
        ...D.server.auth,
        ...server.auth,
        clients: (server.auth?.clients ?? []).map((client) => ({ ...CLIENT_DEFAULTS, ...client })),
        groups: (server.auth?.groups ?? []).map((group) => ({ ...GROUP_DEFAULTS, ...group })),
        sso: { ...D.server.auth.sso, ...server.auth?.sso, allowed_domains: (server.auth?.sso?.allowed_domains ?? []).map((d) => d.trim().replace(/^@/, '').toLowerCase()) },
      },
      admin: { ...D.server.admin, ...server.admin },
    },
    plugin_dirs: input.plugin_dirs ?? D.plugin_dirs,
    providers: providers.map(withProviderDefaults),
    routing: { ...D.routing, ...routing, affinity: { ...D.routing.affinity, ...routing.affinity } },
    health: {
      circuit_breaker: { ...D.health.circuit_breaker, ...health.circuit_breaker },
      health_check: { ...D.health.health_check, ...health.health_check },
    },
    state: { ...D.state, ...state, redis: { ...D.state.redis, ...state.redis } },
    logging: { ...D.logging, ...input.logging },
    pricing: Object.fromEntries(
      Object.entries(input.pricing ?? {}).map(([model, p]) => [model, { cache_write: p.input * 1.25, cache_write_1h: p.input * 2, cache_read: p.input * 0.1, ...p }]),
    ),
    usage: { ...D.usage, ...input.usage },
    telemetry: { ...D.telemetry, ...input.telemetry, otlp: { ...D.telemetry.otlp, ...input.telemetry?.otlp } },
  })
}
