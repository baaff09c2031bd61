/**
 * The relay's configuration after loading: every key of CONTRACT §1 present (defaults filled in),
 * named exactly as in the YAML file, deep-frozen. Only `loadConfig`/`parseConfig` produce it.
 */

export const ROUTING_STRATEGIES = [
  'failover',
  'round_robin',
  'weighted_round_robin',
  'shuffle',
  'least_loaded',
  'weighted_failover',
  'model_based',
] as const
export type RoutingStrategy = (typeof ROUTING_STRATEGIES)[number]

export const POOLING_STRATEGIES = ['least_loaded', 'round_robin', 'random', 'weighted'] as const
export type PoolingStrategy = (typeof POOLING_STRATEGIES)[number]

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

export const LOG_FORMATS = ['json', 'pretty'] as const
export type LogFormat = (typeof LOG_FORMATS)[number]

export const STATE_STORES = ['memory', 'redis'] as const
export type StateStore = (typeof STATE_STORES)[number]

/** All in milliseconds; 0 = no limit. */
export interface TimeoutsConfig {
  readonly connect_ms: number
  readonly first_byte_ms: number
  readonly idle_ms: number
  readonly total_ms: number
}

/** Both set → HTTPS; both empty → plain HTTP (a half-set pair is a config error). */
export interface TlsConfig {
  readonly cert_file: string
  readonly key_file: string
}

/** A named client key; limits of 0 mean unlimited. */
export const BUDGET_PERIODS = ['day', 'week', 'month'] as const
export type BudgetPeriod = (typeof BUDGET_PERIODS)[number]

/** A spend cap (CONTRACT §9): USD per UTC day, ISO week from Monday, or month. */
export interface BudgetConfig {
  readonly usd: number
  readonly period: BudgetPeriod
}

export interface ClientConfig {
  readonly name: string
  readonly key: string
  /** The team group whose policy, pooled limits and budgets the client shares (CONTRACT §10); '' = none. */
  readonly group: string
  /** Model patterns (exact, or a trailing `*` prefix) that narrow what the group allows; empty = no narrowing. */
  readonly models: readonly string[]
  readonly deny_models: readonly string[]
  readonly rpm_limit: number
  readonly tpm_limit: number
  readonly max_concurrent: number
  readonly budget: BudgetConfig | undefined
}

/** CONTRACT §10: a group's policy; its limits and `budget` are pooled by all its members together. */
export interface GroupConfig {
  readonly name: string
  /** Allowed model patterns; empty = every model. */
  readonly models: readonly string[]
  readonly deny_models: readonly string[]
  readonly rpm_limit: number
  readonly tpm_limit: number
  readonly max_concurrent: number
  readonly budget: BudgetConfig | undefined
  /** Each member's own cap. */
  readonly member_budget: BudgetConfig | undefined
  /** A Claude Code managed-settings.json object for signed-in members (CONTRACT §12). */
  readonly managed_settings: Readonly<Record<string, unknown>> | undefined
}

/** CONTRACT §1 `usage`: the ledger's file ('' = the default under $XDG_STATE_HOME, 'off' = memory only). */
export interface UsageConfig {
  readonly db: string
  readonly retention_days: number
}

/** CONTRACT §12 `server.auth.sso`: sign-in through the company's OIDC provider; off while `issuer` is ''. */
export interface SsoConfig {
  readonly issuer: string
  readonly client_id: string
  readonly client_secret: string
  readonly scopes: readonly string[]
  /** The id_token / userinfo claim that lists the user's IdP groups. */
  readonly groups_claim: string
  /** IdP group → relay group. */
  readonly group_map: Readonly<Record<string, string>>
  /** Relay group for a user whose groups map to none; '' refuses such a user. */
  readonly default_group: string
  /** Lower-case email domains that may sign in; empty = any the IdP vouches for. */
  readonly allowed_domains: readonly string[]
  readonly token_ttl_s: number
  readonly refresh: boolean
  /** ≥ 32 characters each; the first signs, all verify (rotation). */
  readonly signing_secret: string | readonly string[]
}

export interface AuthConfig {
  readonly api_key: string
  readonly allow_subscription: boolean
  /** CIDRs that may call client endpoints; empty = any peer (CONTRACT §10). */
  readonly allow_ips: readonly string[]
  readonly clients: readonly ClientConfig[]
  readonly groups: readonly GroupConfig[]
  readonly sso: SsoConfig
}

export interface AdminConfig {
  readonly api_key: string
  /** CIDRs that may call admin endpoints; empty = as before (the key, or loopback). */
  readonly allow_ips: readonly string[]
}

export interface ServerConfig {
  /** `host:port`, IPv6 hosts in brackets (`[::1]:8787`); port 0 = any free port. */
  readonly listen: string
  readonly max_body_bytes: number
  readonly keepalive_ms: number
  readonly shutdown_timeout_ms: number
  readonly timeouts: TimeoutsConfig
  readonly tls: TlsConfig
  /** How clients reach the relay (CONTRACT §12); '' = the listen address, allowed on loopback only. */
  readonly public_url: string
  readonly auth: AuthConfig
  readonly admin: AdminConfig
}

/** One pooled slot of a provider; limits of 0 mean unlimited. */
export interface KeyConfig {
  /** Empty for types whose slots are not credentials (bedrock, vertex). */
  readonly key: string
  readonly rpm_limit: number
  readonly tpm_limit: number
  readonly itpm_limit: number
  readonly otpm_limit: number
  readonly priority: number
  readonly weight: number
}

export interface PoolingConfig {
  readonly strategy: PoolingStrategy
}

export interface ProviderConfig {
  readonly name: string
  readonly type: string
  readonly enabled: boolean
  readonly base_url: string
  /** null → the highest key priority, else 1 (resolved by the router, not here). */
  readonly priority: number | null
  readonly weight: number
  readonly keys: readonly KeyConfig[]
  readonly pooling: PoolingConfig
  readonly models: readonly string[]
  readonly max_output_tokens: number
  readonly model_mapping: Readonly<Record<string, string>>
  /** The entry's type-specific keys, validated against the plugin's `options` schema. */
  readonly options: Readonly<Record<string, unknown>>
}

export interface AffinityConfig {
  readonly enabled: boolean
  readonly ttl_ms: number
}

/** CONTRACT §8: a request-shape routing rule. Absent conditions are not checked. */
export interface RoutingRuleConfig {
  readonly name: string
  readonly when: {
    readonly model?: string
    readonly min_input_tokens?: number
    readonly thinking?: boolean
    readonly tools?: readonly string[]
    readonly images?: boolean
    readonly client?: string
    readonly headers?: Readonly<Record<string, string>>
  }
  readonly use: { readonly providers: readonly string[]; readonly model?: string }
}

export interface RoutingConfig {
  readonly strategy: RoutingStrategy
  readonly model_mapping: Readonly<Record<string, string>>
  readonly default_provider: string
  readonly max_attempts: number
  readonly failover_timeout_ms: number
  readonly queue_timeout_ms: number
  readonly affinity: AffinityConfig
  readonly debug: boolean
  /** Evaluated in order before the strategy; the first whose `when` holds decides the candidates. */
  readonly rules: readonly RoutingRuleConfig[]
}

export interface CircuitBreakerConfig {
  readonly failure_threshold: number
  readonly open_duration_ms: number
  readonly half_open_probes: number
}

export interface HealthCheckConfig {
  readonly enabled: boolean
  readonly interval_ms: number
}

export interface HealthConfig {
  readonly circuit_breaker: CircuitBreakerConfig
  readonly health_check: HealthCheckConfig
}

export interface RedisConfig {
  readonly url: string
  readonly key_prefix: string
  readonly connect_timeout_ms: number
  /** A command slower than this counts as Redis failing: the relay enforces limits locally meanwhile. */
  readonly command_timeout_ms: number
}

export interface StateConfig {
  readonly store: StateStore
  readonly redis: RedisConfig
}

export interface LoggingConfig {
  readonly level: LogLevel
  readonly format: LogFormat
}

/** USD per million tokens of one model (or `prefix*` of models). */
export interface ModelPrice {
  readonly input: number
  readonly output: number
  /** 5-minute cache writes (default 1.25× input). */
  readonly cache_write: number
  /** 1-hour cache writes (default 2× input). */
  readonly cache_write_1h: number
  readonly cache_read: number
}

export interface RelayConfig {
  readonly server: ServerConfig
  /** As written in the file; relative entries are relative to the config file's folder. */
  readonly plugin_dirs: readonly string[]
  readonly providers: readonly ProviderConfig[]
  readonly routing: RoutingConfig
  readonly health: HealthConfig
  readonly state: StateConfig
  readonly logging: LoggingConfig
  /** The operator's prices, over the built-in table (src/admin/pricing.ts), for cost estimates. */
  readonly pricing: Readonly<Record<string, ModelPrice>>
  readonly usage: UsageConfig
  readonly telemetry: TelemetryConfig
}

// ---- telemetry (CONTRACT §1, §11) ----

export const OTLP_PROTOCOLS = ['http/protobuf', 'http/json'] as const
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number]

export const CLIENT_TELEMETRY = ['discard', 'forward'] as const
export type ClientTelemetry = (typeof CLIENT_TELEMETRY)[number]

/**
 * `telemetry`: a key left out of the file is `undefined` here, so the standard OTEL_* variable can
 * apply before the contract's default (src/tracing/settings.ts resolves the three in that order).
 */
export interface TelemetryConfig {
  readonly otlp: {
    /** "" = none written (OTEL_EXPORTER_OTLP_ENDPOINT / _TRACES_ENDPOINT may still give one). */
    readonly endpoint: string
    readonly protocol: OtlpProtocol | undefined
    readonly headers: Readonly<Record<string, string>>
    readonly timeout_ms: number | undefined
  }
  readonly service_name: string | undefined
  readonly sample_ratio: number | undefined
  readonly propagate_upstream: boolean
  readonly client_telemetry: ClientTelemetry
}
