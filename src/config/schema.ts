/**
 * The shape of a config file (CONTRACT §1) as typebox schemas. Every key is optional here: the
 * defaults live in defaults.ts, and checks that span several keys live in semantic.ts.
 */
import Type from 'typebox'
import { Compile } from 'typebox/compile'
import type { Static, TProperties, TSchema } from 'typebox'
import { BUDGET_PERIODS, CLIENT_TELEMETRY, LOG_FORMATS, LOG_LEVELS, OTLP_PROTOCOLS, POOLING_STRATEGIES, ROUTING_STRATEGIES, STATE_STORES } from './types.js'

/** A closed mapping: any key it does not declare is a typo, reported as `unknown key`. */
const Closed = <P extends TProperties>(properties: P) => Type.Object(properties, { additionalProperties: false })
const Opt = <S extends TSchema>(schema: S) => Type.Optional(schema)

/** Counts, limits and durations in ms: whole numbers, never negative. */
const Count = (minimum = 0) => Opt(Type.Integer({ minimum }))
const Str = () => Opt(Type.String())
const Bool = () => Opt(Type.Boolean())
const Strings = () => Opt(Type.Array(Type.String()))
const StringMap = () => Opt(Type.Record(Type.String(), Type.String()))
/** Weights divide a share of traffic, so 0 (or less) would make a weighted pick undefined. */
const Weight = () => Opt(Type.Number({ exclusiveMinimum: 0 }))

/** CONTRACT §9: a spend cap per UTC period. */
const Budget = () => Opt(Closed({ usd: Type.Number({ minimum: 0 }), period: Type.Enum(BUDGET_PERIODS) }))
/** Model patterns (CONTRACT §10): exact names or a trailing `*` prefix; semantic.ts checks the star. */
const Patterns = () => Opt(Type.Array(Type.String({ minLength: 1 })))

const ClientSchema = Closed({
  name: Type.String({ minLength: 1 }),
  key: Type.String({ minLength: 1 }),
  group: Opt(Type.String({ minLength: 1 })),
  models: Patterns(),
  deny_models: Patterns(),
  rpm_limit: Count(),
  tpm_limit: Count(),
  max_concurrent: Count(),
  budget: Budget(),
})

/**
 * CONTRACT §12: sign-in with Claude Code's gateway protocol; off while `issuer` is "". Cross-key rules
 * (secrets, public_url, group names) live in sso-checks.ts.
 */
const SsoSchema = Closed({
  issuer: Str(),
  client_id: Str(),
  client_secret: Str(),
  scopes: Strings(),
  groups_claim: Str(),
  group_map: StringMap(),
  default_group: Str(),
  allowed_domains: Strings(),
  token_ttl_s: Count(60),
  refresh: Bool(),
  // One secret, or a list that rotates: the first signs, all verify.
  signing_secret: Opt(Type.Union([Type.String(), Type.Array(Type.String())])),
})

/** CONTRACT §10: a team's policy, limits and budgets, shared by its members. */
const GroupSchema = Closed({
  name: Type.String({ minLength: 1 }),
  models: Patterns(),
  deny_models: Patterns(),
  rpm_limit: Count(),
  tpm_limit: Count(),
  max_concurrent: Count(),
  budget: Budget(),
  member_budget: Budget(),
  // A Claude Code managed-settings.json object, served to signed-in members (CONTRACT §12).
  managed_settings: Opt(Type.Record(Type.String(), Type.Unknown())),
})

/** CIDRs (IPv4 or IPv6, or a bare address); semantic.ts parses them. */
const Cidrs = () => Opt(Type.Array(Type.String({ minLength: 1 })))

const ServerSchema = Closed({
  listen: Str(),
  max_body_bytes: Count(1),
  keepalive_ms: Count(),
  shutdown_timeout_ms: Count(),
  timeouts: Opt(Closed({ connect_ms: Count(), first_byte_ms: Count(), idle_ms: Count(), total_ms: Count() })),
  tls: Opt(Closed({ cert_file: Str(), key_file: Str() })),
  public_url: Str(),
  auth: Opt(Closed({ api_key: Str(), allow_subscription: Bool(), allow_ips: Cidrs(), clients: Opt(Type.Array(ClientSchema)), groups: Opt(Type.Array(GroupSchema)), sso: Opt(SsoSchema) })),
  admin: Opt(Closed({ api_key: Str(), allow_ips: Cidrs() })),
})

const KeySchema = Closed({
  key: Str(),
  rpm_limit: Count(),
  tpm_limit: Count(),
  itpm_limit: Count(),
  otpm_limit: Count(),
  priority: Opt(Type.Integer()),
  weight: Weight(),
})

/**
 * Deliberately open: keys not declared here are the type's own options (aws_region, …), checked
 * per entry against the plugin's schema once the type is known (providers.ts).
 */
export const ProviderSchema = Type.Object({
  name: Type.String({ minLength: 1 }),
  type: Type.String({ minLength: 1 }),
  enabled: Bool(),
  base_url: Str(),
  priority: Opt(Type.Union([Type.Integer(), Type.Null()])),
  weight: Weight(),
  keys: Opt(Type.Array(KeySchema)),
  pooling: Opt(Closed({ strategy: Opt(Type.Enum(POOLING_STRATEGIES)) })),
  models: Strings(),
  max_output_tokens: Count(),
  model_mapping: StringMap(),
})

/** The keys every provider entry shares; anything else in an entry goes to `options`. */
export const PROVIDER_COMMON_KEYS: ReadonlySet<string> = new Set(Object.keys(ProviderSchema.properties))

/** A name or a prefix ending in one `*` (semantic.ts checks where the star is). */
const Glob = () => Type.String({ minLength: 1 })

/** CONTRACT §8: every condition given must hold (semantic.ts refuses an empty `when`). */
const RuleSchema = Closed({
  name: Type.String({ minLength: 1 }),
  when: Closed({
    model: Opt(Glob()),
    min_input_tokens: Count(),
    thinking: Bool(),
    tools: Opt(Type.Array(Glob(), { minItems: 1 })),
    images: Bool(),
    client: Opt(Type.String({ minLength: 1 })),
    headers: Opt(Type.Record(Type.String({ minLength: 1 }), Glob())),
  }),
  use: Closed({
    providers: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
    model: Opt(Type.String({ minLength: 1 })),
  }),
})

const RoutingSchema = Closed({
  strategy: Opt(Type.Enum(ROUTING_STRATEGIES)),
  model_mapping: StringMap(),
  default_provider: Str(),
  max_attempts: Count(1),
  failover_timeout_ms: Count(),
  queue_timeout_ms: Count(),
  affinity: Opt(Closed({ enabled: Bool(), ttl_ms: Count() })),
  debug: Bool(),
  rules: Opt(Type.Array(RuleSchema)),
})

const HealthSchema = Closed({
  circuit_breaker: Opt(Closed({ failure_threshold: Count(1), open_duration_ms: Count(), half_open_probes: Count(1) })),
  // A 0 ms interval would spin; disabling is what `enabled: false` is for.
  health_check: Opt(Closed({ enabled: Bool(), interval_ms: Count(1) })),
})

const StateSchema = Closed({
  store: Opt(Type.Enum(STATE_STORES)),
  redis: Opt(Closed({ url: Str(), key_prefix: Str(), connect_timeout_ms: Count(1), command_timeout_ms: Count(1) })),
})

/** USD per million tokens; cache prices default to Anthropic's ratios of the input price. */
const Price = () => Type.Number({ minimum: 0 })
const PriceSchema = Closed({ input: Price(), output: Price(), cache_write: Opt(Price()), cache_write_1h: Opt(Price()), cache_read: Opt(Price()) })

const LoggingSchema = Closed({
  level: Opt(Type.Enum(LOG_LEVELS)),
  format: Opt(Type.Enum(LOG_FORMATS)),
})

/** CONTRACT §11: OpenTelemetry export (semantic.ts checks the endpoint is an http(s) URL). */
const TelemetrySchema = Closed({
  otlp: Opt(Closed({ endpoint: Str(), protocol: Opt(Type.Enum(OTLP_PROTOCOLS)), headers: StringMap(), timeout_ms: Count(1) })),
  service_name: Opt(Type.String({ minLength: 1 })),
  sample_ratio: Opt(Type.Number({ minimum: 0, maximum: 1 })),
  propagate_upstream: Bool(),
  client_telemetry: Opt(Type.Enum(CLIENT_TELEMETRY)),
})

export const ConfigSchema = Closed({
  server: Opt(ServerSchema),
  plugin_dirs: Strings(),
  providers: Opt(Type.Array(ProviderSchema)),
  routing: Opt(RoutingSchema),
  health: Opt(HealthSchema),
  state: Opt(StateSchema),
  logging: Opt(LoggingSchema),
  pricing: Opt(Type.Record(Type.String(), PriceSchema)),
  usage: Opt(Closed({ db: Str(), retention_days: Count(1) })),
  telemetry: Opt(TelemetrySchema),
})

/** A config file that passed the schema: keys may be missing, present ones have the right shape. */
export type ConfigInput = Static<typeof ConfigSchema>
export type ProviderInput = Static<typeof ProviderSchema>

export const configValidator = Compile(ConfigSchema)
