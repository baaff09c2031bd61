/**
 * Header rules shared by both directions of the relay.
 */

/** RFC 9110 §7.6.1 connection-specific headers, plus the ones each hop computes for itself. */
const PER_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  'expect',
])

/** Request headers the relay never forwards as they came: per-hop ones and the encoding negotiation
 * (the relay asks upstream for `identity` because it reads usage from the stream). */
export function isPerHopRequestHeader(name: string): boolean {
  return PER_HOP.has(name) || name === 'accept-encoding'
}

/** Response headers not copied to the client: per-hop ones, and `date`, which uWS writes itself. */
export function isPerHopResponseHeader(name: string): boolean {
  return PER_HOP.has(name) || name === 'date'
}

/** Headers that carry a client's Anthropic credential. */
export const CLIENT_CREDENTIAL_HEADERS = ['x-api-key', 'authorization'] as const

/** The header a client may use for the relay key beside its own Anthropic credential (CONTRACT §3). */
export const RELAY_KEY_HEADER = 'x-cc-relay-key'

/** Answer headers the supervisor reads for a key's budget (src/supervisor/rate-signals.ts). */
export function isRateHeader(name: string): boolean {
  return name === 'retry-after' || name === 'retry-after-ms' || name.startsWith('anthropic-ratelimit-')
}
