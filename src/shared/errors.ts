/**
 * The one catalog of errors the relay itself produces (CONTRACT §6). Each code maps to an HTTP status and
 * an Anthropic error type; the README's error table is checked against this list by a test, so a code
 * is added here first and documented there. Codes are never reused for another meaning.
 *
 * Errors cross threads as plain `RelayErrorData`, never as `Error` instances: structured clone drops the
 * prototype chain and custom fields.
 */

export interface ErrorSpec {
  readonly status: number
  readonly type: AnthropicErrorType
  /** When a user sees it; this sentence goes into the README table. */
  readonly when: string
}

export type AnthropicErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'billing_error'
  | 'api_error'
  | 'timeout_error'
  | 'overloaded_error'

export const ERRORS = {
  invalid_json: {
    status: 400,
    type: 'invalid_request_error',
    when: 'the body is not a JSON object in valid UTF-8 (bad escapes, raw control characters and invalid bytes included; the message names the byte offset)',
  },
  invalid_field: {
    status: 400,
    type: 'invalid_request_error',
    when: 'a field is missing or wrong: `model` missing or not a string, `stream` not a boolean, a routing field (`model`, `stream`, `max_tokens`, `metadata`) given twice, a `limit` out of range',
  },
  unsupported_request: {
    status: 400,
    type: 'invalid_request_error',
    when: 'the chosen backend cannot serve the request faithfully (a PDF to a text-only local model, say) and no other provider could',
  },
  invalid_framing: { status: 400, type: 'invalid_request_error', when: 'the HTTP framing is invalid or ambiguous (a `Content-Length` that is not one decimal number, or given twice with different values); the connection is closed' },
  model_not_allowed: {
    status: 400,
    type: 'invalid_request_error',
    when: "the team policy (CONTRACT §10: the client's or its groups' `models`/`deny_models`) does not allow the requested model; the message names the model, the client and its group, and nothing is sent upstream",
  },
  unsupported_media_type: { status: 400, type: 'invalid_request_error', when: 'the content-type is not application/json' },
  method_not_allowed: { status: 405, type: 'invalid_request_error', when: 'a known path is called with the wrong method' },
  unauthenticated: {
    status: 401,
    type: 'authentication_error',
    when: 'the relay key is required and missing or wrong (`x-cc-relay-key`, `x-api-key` or `Authorization: Bearer`)',
  },
  no_credential: {
    status: 401,
    type: 'authentication_error',
    when: 'the chosen provider needs a credential and neither a pooled key nor a forwardable client credential is there',
  },
  admin_unauthenticated: {
    status: 401,
    type: 'authentication_error',
    when: 'an admin endpoint (`/status`, `/status.json`, `/usage.json`, `/metrics`) without the right `server.admin.api_key` (HTTP Basic password or `Authorization: Bearer`)',
  },
  admin_forbidden: {
    status: 403,
    type: 'permission_error',
    when: 'an admin endpoint called from a non-loopback address while `server.admin.api_key` is empty',
  },
  ip_forbidden: {
    status: 403,
    type: 'permission_error',
    when: 'the caller\'s address is outside `server.auth.allow_ips` (client endpoints) or `server.admin.allow_ips` (admin endpoints); answered before the body is read',
  },
  not_found: { status: 404, type: 'not_found_error', when: 'the path is not one the relay serves' },
  model_not_served: {
    status: 404,
    type: 'not_found_error',
    when: 'no enabled provider serves the requested model (the message lists what is served)',
  },
  body_too_large: { status: 413, type: 'request_too_large', when: 'the body exceeds `server.max_body_bytes`' },
  rate_limited: {
    status: 429,
    type: 'rate_limit_error',
    when: "every key that serves the model is at its rpm/tpm limit or cooling down after a 429, or a team client or its group is over its `rpm_limit`/`tpm_limit`/`max_concurrent` (`retry-after` says when to retry)",
  },
  budget_exhausted: {
    status: 429,
    type: 'billing_error',
    when: "a spend budget is used up (the client's own, its group's pooled one, or the group's `member_budget`): the message names the budget and when it resets; `retry-after` = seconds until its UTC period resets, `x-should-retry: false`, and the `anthropic-ratelimit-unified-*` headers Claude Code reads",
  },
  internal: { status: 500, type: 'api_error', when: 'a fault inside the relay (a worker failed); the request is not retried' },
  upstream_unreachable: {
    status: 502,
    type: 'api_error',
    when: 'the upstream refused or reset the connection, or broke off a stream (mid-stream: as `event: error`)',
  },
  upstream_timeout: {
    status: 504,
    type: 'timeout_error',
    when: 'the upstream did not connect, answer or keep streaming within `server.timeouts`',
  },
  overloaded: { status: 529, type: 'overloaded_error', when: 'the relay is at capacity (its worker queue is full) or shutting down' },
  providers_unavailable: {
    status: 529,
    type: 'overloaded_error',
    when: "every provider that serves the model has an open circuit breaker (`retry-after` says when one is probed again)",
  },
} as const satisfies Record<string, ErrorSpec>

export type RelayErrorCode = keyof typeof ERRORS

/** An error as it travels between threads and into the response. */
export interface RelayErrorData {
  readonly code: RelayErrorCode
  readonly message: string
}

export function relayError(code: RelayErrorCode, message: string): RelayErrorData {
  return { code, message }
}

/** The Anthropic error envelope, serialised. */
export function errorBody(type: string, message: string, requestId: string): string {
  return JSON.stringify({ type: 'error', error: { type, message }, request_id: requestId })
}

export function envelopeFor(error: RelayErrorData, requestId: string): { status: number; body: string } {
  const spec = ERRORS[error.code]
  return { status: spec.status, body: errorBody(spec.type, error.message, requestId) }
}
