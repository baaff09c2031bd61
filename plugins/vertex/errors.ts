/**
 * Vertex AI error answers → Anthropic errors.
 *
 * Vertex answers in two envelopes (wire-protocols §4, §7): model-level errors arrive as Anthropic's own
 * envelope (`{"type":"error",…,"request_id":"req_vrtx_…"}`), passed through untouched; Google-level errors
 * arrive as Google's envelope `{"error":{"code":429,"message":"…","status":"RESOURCE_EXHAUSTED"}}`,
 * sometimes inside a one-element array, and sometimes carrying an Anthropic envelope as a JSON string in
 * `message` (`INVALID_ARGUMENT` wrapping `{"type":"error",…}`). Google's `status` is the canonical gRPC code
 * (google.rpc.Code); it decides the Anthropic type, and `code` (the HTTP status) is the fallback.
 */
import { ANTHROPIC_ERROR_STATUS } from '../sdk.js'
import type { MappedError } from '../sdk.js'

interface Mapping {
  readonly status: number
  readonly type: string
}

const GOOGLE_STATUS: Readonly<Record<string, Mapping>> = {
  INVALID_ARGUMENT: { status: 400, type: 'invalid_request_error' },
  FAILED_PRECONDITION: { status: 400, type: 'invalid_request_error' },
  OUT_OF_RANGE: { status: 400, type: 'invalid_request_error' },
  // The backend does not offer what was asked (a method or feature): a request it cannot serve.
  UNIMPLEMENTED: { status: 400, type: 'invalid_request_error' },
  UNAUTHENTICATED: { status: 401, type: 'authentication_error' },
  PERMISSION_DENIED: { status: 403, type: 'permission_error' },
  NOT_FOUND: { status: 404, type: 'not_found_error' },
  ALREADY_EXISTS: { status: 409, type: 'conflict_error' },
  ABORTED: { status: 409, type: 'conflict_error' },
  RESOURCE_EXHAUSTED: { status: 429, type: 'rate_limit_error' },
  CANCELLED: { status: 500, type: 'api_error' },
  UNKNOWN: { status: 500, type: 'api_error' },
  INTERNAL: { status: 500, type: 'api_error' },
  DATA_LOSS: { status: 500, type: 'api_error' },
  // Google's "service unavailable, retry": Anthropic's word for a busy backend is overloaded (529).
  UNAVAILABLE: { status: 529, type: 'overloaded_error' },
  DEADLINE_EXCEEDED: { status: 504, type: 'timeout_error' },
}


function byHttpStatus(code: number): Mapping {
  if (code === 400) return { status: 400, type: 'invalid_request_error' }
  if (code === 401) return { status: 401, type: 'authentication_error' }
  if (code === 403) return { status: 403, type: 'permission_error' }
  if (code === 404) return { status: 404, type: 'not_found_error' }
  if (code === 413) return { status: 413, type: 'request_too_large' }
  if (code === 429) return { status: 429, type: 'rate_limit_error' }
  if (code === 503) return { status: 529, type: 'overloaded_error' }
  if (code === 504) return { status: 504, type: 'timeout_error' }
  if (code >= 500) return { status: code, type: 'api_error' }
  return { status: code, type: 'invalid_request_error' }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** An Anthropic error `{type, message}` inside an envelope (`{"type":"error","error":{…}}`), if it is one. */
function anthropicError(v: unknown): { type: string; message: string } | undefined {
  if (!isObject(v) || !isObject(v.error)) return undefined
  const { type, message } = v.error
  if (typeof type !== 'string' || typeof message !== 'string') return undefined
  return v.type === 'error' || type in ANTHROPIC_ERROR_STATUS ? { type, message } : undefined
}

/** An Anthropic envelope carried as text in a Google error's message (possibly after a prefix). */
function wrappedAnthropic(message: string): { type: string; message: string } | undefined {
  const open = message.indexOf('{')
  const close = message.lastIndexOf('}')
  if (open < 0 || close < open) return undefined
  return anthropicError(parse(message.slice(open, close + 1)))
}

export function mapVertexError(status: number, body: string): MappedError | undefined {
  let parsed = parse(body)
  if (Array.isArray(parsed) && parsed.length > 0) parsed = parsed[0]
  if (!isObject(parsed)) return undefined
  // Anthropic's own envelope (model-level errors): verbatim, Claude Code's recovery reads its wording.
  if (parsed.type === 'error') return undefined
  const error = parsed.error
  if (!isObject(error)) return undefined
  const message = typeof error.message === 'string' ? error.message : undefined
  const inner = message === undefined ? undefined : wrappedAnthropic(message)
  if (inner) return { status: ANTHROPIC_ERROR_STATUS[inner.type] ?? status, type: inner.type, message: inner.message }
  const code = typeof error.code === 'number' && error.code >= 400 && error.code <= 599 ? error.code : status
  const known = typeof error.status === 'string' ? GOOGLE_STATUS[error.status] : undefined
  const mapping = known ?? byHttpStatus(code)
  const words = message || (typeof error.status === 'string' ? error.status : `Vertex AI answered ${code}`)
  // RESOURCE_EXHAUSTED is the project's quota or Google's shared capacity for the model in the region:
  // every key slot of this provider shares it, so the next attempt goes to another provider (CONTRACT §6).
  const shared = error.status === 'RESOURCE_EXHAUSTED'
  return { status: mapping.status, type: mapping.type, message: words, ...(shared ? { scope: 'provider' as const } : {}) }
}
