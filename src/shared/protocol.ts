/**
 * Every message that crosses the thread boundary, as tagged unions side by side. All of it is plain,
 * structured-clone-safe data; errors travel as `RelayErrorData`.
 *
 *   ingress ──RelayTask (piscina run, body + port transferred)──► worker
 *   ingress ◄──WorkerMessage over the task's port── worker      (head, data, end, fail)
 *   ingress ──IngressMessage over the same port──► worker      (ack = credit, cancel)
 */
import type { Route } from '../../plugins/sdk.js'
import type { RelayErrorData } from './errors.js'

/** Bumped on any incompatible change, so a worker built from another commit fails loudly. */
export const PROTOCOL = 1 as const

/** Which upstream, which credential and which model one attempt uses. Keys travel by index, never by value. */
export interface Lease {
  /** The supervisor's handle for this attempt; its outcome is reported under it. */
  readonly id: number
  /** `provider#hash` of the key (or `provider#client` / `provider#none`): what failover must not retry. */
  readonly keyId: string
  readonly provider: number
  /** Index into the provider's `keys`, or -1 when no pooled key is used. */
  readonly key: number
  readonly upstreamModel: string
  /** Forward the client's own credential (CONTRACT §3) instead of a pooled key. */
  readonly forwardClientCredential: boolean
  /** The session was served by another thinking family before: remove its thinking blocks. */
  readonly stripThinking: boolean
  /** The provider's pooled keys are credentials (a 401/403 blames the key), not only slots with limits. */
  readonly keysAreCredentials: boolean
  /**
   * Set when this attempt probes a half-open circuit: the open period's deadline (the same on every
   * relay that heard of the opening) and how many probes a period allows, for a limit shared across relays.
   */
  readonly probe?: { readonly period: number; readonly limit: number }
}

/**
 * One end of a request's channel: a MessagePort when the request runs in a worker thread, or a
 * LocalPort (src/shared/local-channel.ts) when it runs on the main thread. Both carry the same messages.
 */
export interface TaskPort {
  /** True when messages cross a thread boundary (buffers are then copied into ones that can be transferred). */
  readonly crossThread?: boolean
  postMessage(message: unknown, transfer?: readonly ArrayBuffer[]): void
  on(event: string, listener: (message: never) => void): unknown
  close(): void
}

export interface RelayTask {
  readonly v: typeof PROTOCOL
  readonly kind: 'relay'
  readonly port: TaskPort
  readonly requestId: string
  readonly route: Route
  readonly query: string
  /** Lower-case client headers without hop-by-hop ones, host, content-length and the relay's own key. */
  readonly headers: Record<string, string>
  /** The client's own credential headers (`x-api-key`, `authorization`) not consumed as the relay key. */
  readonly clientCredential: Readonly<Record<string, string>>
  /** The request body, its ArrayBuffer transferred. */
  readonly body: Uint8Array
  /** Byte span of the `model` value in `body` (quotes included), for a targeted edit. */
  readonly modelSpan: readonly [number, number]
  readonly stream: boolean
  /** The client's `max_tokens` when it is a number (for `max_output_tokens` clamping). */
  readonly maxTokens: number | undefined
  readonly lease: Lease
  /** Headers the relay adds to this attempt's upstream request: its own `traceparent` (CONTRACT §11). */
  readonly upstreamHeaders?: Readonly<Record<string, string>>
}

/** Boot check: makes each worker prove its plugins loaded. */
export interface PingTask {
  readonly v: typeof PROTOCOL
  readonly kind: 'ping'
}

export type WorkerTask = RelayTask | PingTask

export interface Usage {
  input_tokens: number
  output_tokens: number
  cache_creation_input_tokens: number
  cache_read_input_tokens: number
  /**
   * The part of `cache_creation_input_tokens` written with a 1-hour lifetime
   * (`usage.cache_creation.ephemeral_1h_input_tokens`): priced at `cache_write_1h` (CONTRACT §9).
   */
  cache_creation_1h_input_tokens: number
}

/** What an answer says about itself (its id, model and stop reason; never its content), read with its usage. */
export interface ReplyFacts {
  id: string
  model: string
  stopReason: string
}

/** How one request went, for the request log (and, later, the supervisor's books). */
export interface Outcome {
  /** The upstream's status; 0 when none came (transport failure, client gone before the head). */
  readonly status: number
  readonly provider: string
  readonly upstreamModel: string
  /** Milliseconds from dispatch to the upstream's response head; -1 when none came. */
  readonly ttfbMs: number
  readonly usage: Usage
  readonly clientAborted: boolean
  readonly errorCode?: string
  /** What the plugin changed to fit the backend, for the request log. */
  readonly notes?: readonly string[]
  /** `retry-after` and `anthropic-ratelimit-*` answer headers, for the key's books. */
  readonly rateHeaders: Readonly<Record<string, string>>
  /** A 2xx stream that sent `event: error` before any content: that error's type (the attempt failed). */
  readonly streamError?: string
  /** The plugin's word on what a failed answer is about, where its status alone misleads (MappedError.scope). */
  readonly scope?: 'key' | 'provider'
  /** Milliseconds from dispatch to the answer's first byte leaving for the client (a stream's first event); -1 when none. */
  readonly ttfeMs?: number
  readonly reply?: ReplyFacts
  /** A stream whose content had started and that ended with `event: error`: that error's type. */
  readonly endedInError?: string
}

/** The outcome of a lease that reached no upstream (status 0, no usage). */
export function noAttemptOutcome(provider: string, upstreamModel: string, clientAborted: boolean): Outcome {
  return {
    status: 0,
    provider,
    upstreamModel,
    ttfbMs: -1,
    usage: { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, cache_creation_1h_input_tokens: 0 },
    clientAborted,
    rateHeaders: {},
  }
}

export type WorkerMessage =
  /** A streaming response's head. `headers` is a flat [name, value, name, value, …] list, lower-case names. */
  | { readonly t: 'head'; readonly status: number; readonly headers: readonly string[]; readonly ttfbMs: number }
  /**
   * A complete answer read whole (non-streaming, or any non-2xx): the ingress may still fail over on it
   * (429, 5xx) instead of sending it.
   */
  | { readonly t: 'whole'; readonly status: number; readonly headers: readonly string[]; readonly body: Uint8Array; readonly outcome: Outcome }
  /** Body bytes; the ArrayBuffer is transferred (always one the worker allocated itself). */
  | { readonly t: 'data'; readonly chunk: Uint8Array }
  | { readonly t: 'end'; readonly outcome: Outcome }
  /** The request failed: before the head this becomes an error response, after it an `event: error`. */
  | { readonly t: 'fail'; readonly error: RelayErrorData; readonly outcome: Outcome }

export type IngressMessage =
  /** Credit: the client has taken this many more bytes, so the worker may read more from upstream. */
  | { readonly t: 'ack'; readonly bytes: number }
  /** The client went away: abort the upstream request. */
  | { readonly t: 'cancel' }

/** Bytes a worker may have in flight to one client before it pauses the upstream read. */
export const CREDIT_WINDOW_BYTES = 1 << 20


/** Supervisor messages (main thread; the reducer's input). */
export interface LeaseAsk {
  readonly type: 'lease.ask'
  readonly route: Route
  readonly model: string
  readonly hasClientCredential: boolean
  /** A short hash of that credential, to count what each login used (never the credential itself). */
  readonly clientCredentialHash?: string | undefined
  /** Providers (by index) that refused this request's content: none of their keys can help. */
  readonly skipProviders?: ReadonlySet<number>
  /** Providers (by index) whose half-open probes are all taken across relays: as good as open for now. */
  readonly probesTaken?: ReadonlySet<number>
  /** Key ids this request has already used: each key is tried at most once per request. */
  readonly tried: ReadonlySet<string>
  /**
   * Providers (by index) that failed this request provider-wide (529, 5xx, a transport failure): the
   * next attempt goes to another provider; their other keys only when no other provider can take it.
   */
  readonly avoidProviders?: ReadonlySet<number>
  /** Claude Code's session, for affinity (src/supervisor/affinity.ts). */
  readonly session?: string | undefined
  /** Token estimate for the windows: input ≈ body bytes / 4, output = max_tokens. */
  readonly estimate: { readonly input: number; readonly output: number }
  /** The routing rule that matched (CONTRACT §8): its providers are the only candidates. */
  readonly rule?: RuleChoice | undefined
}

/** A matched routing rule, as the supervisor applies it. */
export interface RuleChoice {
  readonly name: string
  /** The candidates, by name, in the rule's order. */
  readonly providers: readonly string[]
  /** The upstream model for all of them, instead of their model_mapping. */
  readonly model: string | undefined
}

export interface LeaseReport {
  readonly type: 'lease.outcome'
  readonly leaseId: number
  readonly outcome: Outcome
}

export type LeaseReply =
  | { readonly ok: true; readonly lease: Lease }
  | {
      readonly ok: false
      readonly error: RelayErrorData
      /** When a key or provider frees up, for `retry-after` and `queue_timeout_ms`. */
      readonly retryAfterMs?: number
      /** Every candidate was already tried by this request. */
      readonly exhausted?: boolean
    }

/** An active health check's verdict on a provider whose circuit is open. */
export interface HealthReport {
  readonly type: 'health.result'
  readonly provider: string
  readonly reachable: boolean
}

/** A request from a named team client or a group's member (CONTRACT §10), before its first lease. */
export interface ClientAdmit {
  readonly type: 'client.admit'
  /** The team client's name ('' or a name without books: none of its own limits). */
  readonly client: string
  /** The group the request is booked to: its pooled limits apply too. */
  readonly group: string | undefined
  /** The same estimate the key windows reserve: input + max_tokens. */
  readonly estimateTokens: number
}

/** That request ended: free its concurrency slot and settle its tokens. */
export interface ClientRelease {
  readonly type: 'client.release'
  readonly ticket: number
  readonly tokens: number
}

export type ClientReply =
  | { readonly ok: true; readonly ticket: number }
  | { readonly ok: false; readonly error: RelayErrorData; readonly retryAfterMs: number }

/**
 * What one relay tells the others through Redis (state.store: redis): a circuit that opened or closed,
 * a key cooling down after a 429 (for one model or as a whole), a key its upstream refused. Names and hashes only, never a key.
 */
export type SharedEvent =
  | { readonly type: 'breaker.open'; readonly provider: string; readonly until: number }
  | { readonly type: 'breaker.closed'; readonly provider: string }
  /** `model` is the upstream model the cooldown is for; '' cools the whole key (every model). */
  | { readonly type: 'key.cooldown'; readonly provider: string; readonly keyHash: string; readonly model: string; readonly until: number; readonly kind: 'throttle' | 'quota' }
  | { readonly type: 'key.unusable'; readonly provider: string; readonly keyHash: string; readonly reason: string }
  /** Leases other relays hold on one pooled key (the heartbeat's reading, not an announcement). */
  | { readonly type: 'load'; readonly provider: string; readonly keyHash: string; readonly inflight: number }
  /** A session's provider and key as another relay last served it (read from Redis, not announced). */
  | { readonly type: 'affinity'; readonly session: string; readonly provider: string; readonly keyHash: string | undefined; readonly family: string; readonly ttlMs: number }

/** Another relay's news, applied to this one's state. */
export interface SharedNews {
  readonly type: 'shared.event'
  readonly event: SharedEvent
}

/** Everything the supervisor actor hears. `config.replace` carries a validated config object. */
export type SupervisorMessage = LeaseAsk | LeaseReport | HealthReport | ClientAdmit | ClientRelease | SharedNews | { readonly type: 'config.replace'; readonly config: unknown }

/** What an ask gets back: a lease ask a LeaseReply, a client admission a ClientReply, a tell nothing. */
export type SupervisorReply = LeaseReply | ClientReply
