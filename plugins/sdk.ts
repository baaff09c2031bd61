/**
 * The provider plugin contract: the only surface a plugin in `plugins/<type>/` depends on.
 *
 * A plugin is data plus a few pure functions. It *declares* how its upstream frames bytes, how it
 * authenticates and which routes it serves; it *does* only what is specific to its backend (the
 * upstream URL, targeted body edits, response translation, error mapping). The core owns sockets,
 * decoders, credentials and retries, so `src/` never branches on a provider type.
 *
 * A dropped-in JavaScript plugin needs no imports: everything it may call arrives in its arguments
 * (`options(Type)` gets the schema builder, `prepare(req, tools)` gets the byte-edit helpers).
 * See plugins/README.md for the how-to.
 */
import type Type from 'typebox'
import type { TSchema } from 'typebox'

/** Bumped when this contract changes incompatibly; the loader refuses plugins built for another. */
export const PLUGIN_API = 1 as const

/** Client endpoints a plugin can serve. */
export type Route = 'messages' | 'count_tokens'

/**
 * How the upstream frames a successful streaming response body. `sse`: Server-Sent Events (passed
 * through, or decoded for a translator). `aws-eventstream`: AWS's binary event stream (length-prefixed,
 * CRC-checked frames), always decoded for the plugin's translator.
 */
export type Framing = 'sse' | 'aws-eventstream'

/** Where a pooled key is written on the upstream request. */
export type KeyHeader = 'x-api-key' | 'api-key' | 'bearer'

/**
 * How the relay authenticates to this upstream; the core applies it to the final request bytes.
 * - `keys`: each pooled key is written into every listed header (`bearer` = `Authorization: Bearer …`).
 * - `none`: nothing (a local server).
 * - `bearer`: a fixed token from the config or environment (a Bedrock API key).
 * - `sigv4`: AWS Signature V4 for `service` in `region`, with explicit credentials or, without them,
 *   the AWS default chain (environment, shared files, SSO, instance/container roles).
 * - `google`: an OAuth access token from Application Default Credentials or a service-account key file,
 *   cached and refreshed before it expires.
 * For every kind but `keys`, a provider's `keys` entries are pool slots (their own limits), not credentials.
 */
export type AuthSpec =
  | { readonly kind: 'keys'; readonly headers: readonly KeyHeader[] }
  | { readonly kind: 'none' }
  | { readonly kind: 'bearer'; readonly token: string }
  | {
      readonly kind: 'sigv4'
      readonly service: string
      readonly region: string
      readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string }
    }
  | { readonly kind: 'google'; readonly keyFile?: string; readonly scopes: readonly string[] }

/** What one request looks like to `prepare`. Headers are lower-cased. */
export interface PrepareInput<Options = Record<string, unknown>> {
  readonly route: Route
  /** The relay's id for this request (for error envelopes a translator writes). */
  readonly requestId: string
  /** The client's JSON body, already carrying the upstream model name (model mapping is the core's). */
  readonly body: Uint8Array
  /** The upstream model name (after `model_mapping`, `[1m]` removed). */
  readonly model: string
  readonly stream: boolean
  /** The client's raw query string without `?` ('' when none). */
  readonly query: string
  /** Client headers minus hop-by-hop, host, content-length and every credential. */
  readonly headers: Readonly<Record<string, string>>
  /** The provider's API root: config `base_url`, else `defaultBaseUrl(options)`. No trailing slash. */
  readonly baseUrl: string
  /** This provider's type-specific config keys, validated by `options`. */
  readonly options: Readonly<Options>
}

/** What `prepare` returns: the upstream request before credentials are applied by the core. */
export interface UpstreamRequestSpec {
  /** Absolute URL. */
  readonly url: string
  /** Lower-case names. The core adds credentials, content-length and accept-encoding. */
  readonly headers: Record<string, string>
  readonly body: Uint8Array
  /** What was changed to fit this backend ("removed context_management"), for the request log. */
  readonly notes?: readonly string[]
}

/** Byte-level JSON helpers the core lends to `prepare`: targeted edits, never a re-serialisation. */
export interface BodyTools {
  /** Replace (or add) a top-level field with `json`, a serialised JSON value. */
  setField(body: Uint8Array, key: string, json: string): Uint8Array
  /** Remove a top-level field if present. */
  deleteField(body: Uint8Array, key: string): Uint8Array
  /**
   * Removes `scope` from every `cache_control` where the Messages API defines one (top level, system,
   * tools, message content, tool_result content), on the bytes; `removed` counts them. For backends that
   * accept only `type` and `ttl` there (Bedrock, Vertex, Foundry).
   */
  removeCacheScope(body: Uint8Array): { body: Uint8Array; removed: number }
  /** A top-level field's value, parsed (undefined when absent). Parses only that member. */
  getField(body: Uint8Array, key: string): unknown
  /**
   * This backend cannot serve the request faithfully (a PDF to a text-only model, say): stop before
   * calling it. The client gets 400 `invalid_request_error` with `message` — unless another provider can
   * take the request, which failover then tries.
   */
  reject(message: string): never
}

/** Anthropic's error types and the HTTP status each is sent with (API-ERR), for plugins' `mapError`. */
export const ANTHROPIC_ERROR_STATUS: Readonly<Record<string, number>> = Object.freeze({
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  conflict_error: 409,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
})

/** An upstream error in the shape the relay sends to clients. */
export interface MappedError {
  readonly status: number
  /** An Anthropic error type: invalid_request_error, rate_limit_error, … */
  readonly type: string
  readonly message: string
  /**
   * What the failure is about, where the status alone misleads (CONTRACT §6 failover scope): `provider`
   * sends the next attempt to another provider (a quota of the whole account or region, shared capacity
   * exhausted); `key` to this provider's next key. Omitted: the status decides (429 and 401/403 → key;
   * 5xx and 529 → provider).
   */
  readonly scope?: 'key' | 'provider'
}

/**
 * One decoded upstream frame. SSE: the `event:` name and the joined `data:` lines. AWS event stream: the
 * `:event-type` (or `:exception-type` for exception frames) as `event`, the payload as `data`, and every
 * string header in `headers`.
 */
export interface SseEvent {
  readonly event: string
  readonly data: string
  readonly headers?: Readonly<Record<string, string>>
}

/** Writes one Anthropic SSE event to the client (the core frames and batches it). */
export type EmitEvent = (event: string, data: string) => void

/**
 * Per-request, stateful: turns the upstream's decoded frames into Anthropic SSE events, and, with
 * `onWhole`, a successful answer that is not a stream into Anthropic's JSON.
 */
export interface ResponseTranslator {
  onEvent(event: SseEvent, emit: EmitEvent): void
  /** The upstream ended cleanly: flush anything held back. */
  onEnd?(emit: EmitEvent): void
  /**
   * A 2xx answer that is not a stream, read whole → the JSON the client gets instead (sent as
   * `application/json`), or an error in Anthropic's terms. For a backend whose JSON is not Anthropic's
   * (Bedrock's CountTokens `{"inputTokens":N}`). Without it such an answer passes through byte for byte.
   */
  onWhole?(body: string): string | MappedError
}

export interface ProviderPlugin<Options = Record<string, unknown>> {
  readonly api: typeof PLUGIN_API
  /** The `type:` value in config, e.g. `anthropic`. Unique across all loaded plugins. */
  readonly type: string
  readonly description?: string
  /** Schema of this type's own config keys (an object schema; unknown keys are errors). */
  readonly options?: (T: typeof Type) => TSchema
  /** The API root used when `base_url` is empty. */
  defaultBaseUrl(options: Readonly<Options>): string
  /** Which client endpoints this backend can answer. */
  readonly routes: readonly Route[]
  readonly framing: Framing
  /** How to authenticate; a function when it depends on the provider's options (region, credentials). */
  readonly auth: AuthSpec | ((options: Readonly<Options>) => AuthSpec)
  /**
   * `forward`: with `server.auth.allow_subscription`, a client's own Anthropic credential (subscription
   * token or API key) goes to this upstream unchanged. Only for genuine Anthropic endpoints: a
   * subscription token must never reach another backend (CONTRACT §3). `never`: always stripped.
   */
  readonly clientCredentials: 'forward' | 'never'
  /**
   * Backends whose thinking signatures are interchangeable share a family. Anthropic's API, Bedrock,
   * Vertex and Foundry are one ("Values generated on one platform work on another"): `anthropic`, the
   * default. When a session moves to a provider of another family, the relay removes the earlier
   * turns' thinking blocks rather than let the new backend reject them.
   */
  readonly thinkingFamily?: string
  /**
   * The active health check for an open circuit: a cheap request whose answer below 500 means the
   * upstream is reachable again. Default: `GET` the API root (`baseUrl`).
   */
  healthCheck?(baseUrl: string, options: Readonly<Options>): { readonly url: string; readonly method?: 'GET' | 'HEAD' }
  /** Build the upstream request. Pure; edit the body with `tools`, never rebuild it from known fields. */
  prepare(req: PrepareInput<Options>, tools: BodyTools): UpstreamRequestSpec
  /** Per request. Return undefined to pass the upstream body through byte for byte (the fast path). */
  translator?(req: PrepareInput<Options>): ResponseTranslator | undefined
  /**
   * A non-2xx upstream answer → the error the client sees. Return undefined to pass the upstream's
   * status, headers and body through verbatim (Claude Code's recovery keys on upstream wording).
   */
  mapError?(status: number, headers: Readonly<Record<string, string>>, body: string): MappedError | undefined
}

/** Identity helper that gives a TypeScript plugin its types. */
export function definePlugin<Options = Record<string, unknown>>(plugin: ProviderPlugin<Options>): ProviderPlugin<Options> {
  return plugin
}
