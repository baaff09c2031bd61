/**
 * Turns what went wrong with an upstream into the relay's error data (CONTRACT §6). Messages name the
 * provider and the kind of failure, never a URL's credentials or a key.
 */
import { relayError } from '../shared/errors.js'
import type { RelayErrorData } from '../shared/errors.js'

/** The relay's own idle/total timers abort with this. */
export class TimeoutAbort extends Error {}

/** The upstream's bytes broke its own framing (bad CRC, oversized or cut frame). */
export class ProtocolError extends Error {}

/** The relay's own code (or a plugin's) threw while serving the exchange: this request fails, nothing else. */
export class ExchangeFault extends Error {}

const TRANSPORT_WORDS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection broken',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  UND_ERR_SOCKET: 'connection closed by the upstream',
  UND_ERR_CLOSED: 'connection closed',
}

export function classifyFailure(err: Error, provider: string): RelayErrorData {
  const code = (err as { code?: string }).code ?? ''
  if (err instanceof ExchangeFault) return relayError('internal', `the relay failed while relaying the answer of provider ${provider}`)
  if (err instanceof TimeoutAbort) return relayError('upstream_timeout', `provider ${provider} timed out: ${err.message}`)
  if (err instanceof ProtocolError) return relayError('upstream_unreachable', `provider ${provider} sent a malformed stream: ${err.message}`)
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return relayError('upstream_timeout', `provider ${provider} timed out connecting`)
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return relayError('upstream_timeout', `provider ${provider} sent no response head in time`)
  const words = TRANSPORT_WORDS[code]
  if (words) return relayError('upstream_unreachable', `provider ${provider} unreachable: ${words} (${code})`)
  return relayError('upstream_unreachable', `provider ${provider} failed: ${code || err.name}`)
}
