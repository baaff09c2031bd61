/**
 * What a finished attempt says about where the trouble is (CONTRACT §6 "Failover scope"), in one table
 * that both sides use: the ingress to decide where the next attempt goes, the supervisor to decide what
 * the breaker counts.
 *
 *   ok        the answer is the answer (2xx)
 *   key       this key (for this model) is spent or refused: the same provider's next key may well serve
 *   provider  the provider, or the path to it, is unwell: the next attempt goes to another provider, and
 *             the breaker counts it
 *   refused   this provider cannot carry the request's content (a plugin's `reject`): any other provider
 *   final     the request's own fault, or the client's credential: it goes back to the client as it is
 */
import type { Outcome } from '../shared/protocol.js'

export type AttemptScope = 'ok' | 'key' | 'provider' | 'refused' | 'final'

export interface AttemptFacts {
  /** The upstream's status; 0 when none came. */
  readonly status: number
  /** Set when the attempt failed without an answer (a RelayErrorCode). */
  readonly errorCode?: string | undefined
  /** A 2xx stream whose first event before any content was `event: error`: that error's type. */
  readonly streamError?: string | undefined
  /** What the provider's plugin says the failure is about, where the status alone misleads. */
  readonly declared?: 'key' | 'provider' | undefined
  /** The attempt carried the client's own credential (CONTRACT §3: its 401/403 is the client's to see). */
  readonly clientCredential: boolean
  /** The provider's pooled keys are credentials; otherwise they are slots sharing one account's quota. */
  readonly keysAreCredentials: boolean
}

/** An `event: error` before any content, by its Anthropic error type. */
function streamErrorScope(type: string): AttemptScope {
  if (type === 'overloaded_error' || type === 'api_error') return 'provider'
  if (type === 'rate_limit_error') return 'key'
  return 'final'
}

function byStatus(f: AttemptFacts): AttemptScope {
  if (f.status >= 200 && f.status < 300) return 'ok'
  if (f.status === 429) return 'key'
  if (f.status === 401 || f.status === 403) return f.clientCredential ? 'final' : 'key'
  if (f.status >= 500) return 'provider'
  return 'final'
}

export function attemptScope(f: AttemptFacts): AttemptScope {
  switch (f.errorCode) {
    case 'unsupported_request':
      return 'refused'
    case 'upstream_unreachable':
    case 'upstream_timeout':
      return 'provider'
    case 'internal':
      return 'final'
  }
  // A declared scope is taken as it is (a plugin's reading of its backend, or the relay's own refusal).
  if (f.streamError === undefined && f.declared !== undefined) return f.declared
  const scope = f.streamError !== undefined ? streamErrorScope(f.streamError) : byStatus(f)
  // Another slot of a provider whose keys are not credentials (Bedrock, Vertex, Ollama) shares the same
  // account and quota: what the upstream says spent one spent them all.
  return scope === 'key' && !f.keysAreCredentials && !f.clientCredential ? 'provider' : scope
}

/**
 * Whether the breaker counts this attempt as the provider failing: a transport failure, a timeout, a
 * 5xx or 529, an overload or API error in the stream before content. A subset of `provider` scope:
 * rate limits and refused credentials move the next attempt elsewhere but never open a circuit.
 */
export function unhealthy(f: AttemptFacts): boolean {
  if (f.errorCode === 'upstream_unreachable' || f.errorCode === 'upstream_timeout') return true
  if (f.errorCode !== undefined) return false
  if (f.streamError !== undefined) return streamErrorScope(f.streamError) === 'provider'
  return f.status >= 500
}

/** The facts of a reported outcome. */
export function outcomeFacts(o: Outcome, clientCredential: boolean, keysAreCredentials: boolean): AttemptFacts {
  return { status: o.status, errorCode: o.errorCode, streamError: o.streamError, declared: o.scope, clientCredential, keysAreCredentials }
}
