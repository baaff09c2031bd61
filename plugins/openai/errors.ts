/**
 * An OpenAI-style error answer → Anthropic's envelope (CONTRACT §6): the status kept, the type Anthropic
 * uses for it, the upstream's own message (a context-length refusal included). `retry-after` and the
 * other upstream headers go along unchanged (the core keeps them).
 */
import type { MappedError } from '../sdk.js'
import { errorMessageOf } from './common.js'
import { isObject } from './request.js'

const TYPES: Readonly<Record<number, string>> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  422: 'invalid_request_error',
  429: 'rate_limit_error',
  504: 'timeout_error',
  529: 'overloaded_error',
}

function messageOf(body: string): string {
  try {
    const parsed: unknown = JSON.parse(body)
    if (isObject(parsed) && parsed.error !== undefined) return errorMessageOf(parsed.error)
    if (isObject(parsed) && typeof parsed.message === 'string') return parsed.message
  } catch {
    // not JSON: the text itself
  }
  return body.trim().slice(0, 1000) || 'no message'
}

export function mapChatError(status: number, body: string): MappedError | undefined {
  if (status < 400) return undefined
  const type = TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error')
  // 422 (vLLM's validation errors) is a bad request in Anthropic's terms.
  return { status: status === 422 ? 400 : status, type, message: `upstream ${status}: ${messageOf(body)}` }
}
