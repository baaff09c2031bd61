/**
 * What a signed-in member's Claude Code asks for besides inference (CONTRACT §12): `GET
 * /managed/settings` (their groups' settings, with the protocol's checksum, ETag and 304),
 * `GET /api/oauth/usage` (their spend in the protocol's dollar view), and `POST /v1/{metrics,logs,traces}`
 * (Claude Code's own OTLP export: answered 200 and, with `telemetry.client_telemetry: forward`, stamped
 * with their email and forwarded to the relay's OTLP collector (otlp/), else discarded). Each needs the
 * relay's bearer token.
 */
import type { SignIn } from './service.js'
import { REFUSAL_HEADERS } from './service.js'
import { anthropicError, json } from './http.js'
import type { Reply, SigninRequest } from './http.js'
import { managedSettingsFor } from './managed-settings.js'
import type { SignedInUser } from './state.js'
import { usageView } from './usage-view.js'
import type { OtlpSignal } from '../tracing/settings.js'
import type { Cap } from './usage-view.js'

export class MemberEndpoints {
  readonly #signin: SignIn
  /** The caps on a user (member and group budgets); issue 23's admission layer provides them. */
  caps: (user: SignedInUser) => readonly Cap[] = () => []

  constructor(signin: SignIn) {
    this.#signin = signin
  }

  #user(request: SigninRequest): SignedInUser | Reply {
    const who = this.#signin.identify(request.headers)
    if (who.kind === 'user') return who.user
    if (who.kind === 'refused') return anthropicError(401, 'authentication_error', who.message, request.requestId, REFUSAL_HEADERS)
    return anthropicError(401, 'authentication_error', 'sign in first: run /login in Claude Code and choose this relay', request.requestId)
  }

  managedSettings = async (request: SigninRequest): Promise<Reply> => {
    const user = this.#user(request)
    if ('status' in user) return user
    const doc = managedSettingsFor(user.groups, this.#signin.groups)
    if (doc === undefined) return anthropicError(404, 'not_found_error', `no managed settings for the groups of ${user.email}`, request.requestId)
    const etag = `"${doc.checksum}"`
    // 304 only in answer to a matching If-None-Match (Claude Code counts any other 304 as a failed fetch).
    if (request.headers['if-none-match'] === etag) return { status: 304, body: '', headers: ['etag', etag] }
    return json(200, doc, ['etag', etag])
  }

  usage = async (request: SigninRequest): Promise<Reply> => {
    const user = this.#user(request)
    if ('status' in user) return user
    const ledger = this.#signin.deps.ledger()
    const now = Date.now()
    const spend = { dayUsd: ledger?.spent(user.email, 'day', now) ?? 0, weekUsd: ledger?.spent(user.email, 'week', now) ?? 0, monthUsd: ledger?.spent(user.email, 'month', now) ?? 0 }
    return json(200, usageView(spend, this.caps(user)))
  }

  /**
   * 200 for a batch taken (or discarded): a 404 would make Claude Code's exporter log an error on every
   * flush. The answer is the empty Export…ServiceResponse in the batch's own encoding.
   */
  telemetry = async (request: SigninRequest): Promise<Reply> => {
    const user = this.#user(request)
    if ('status' in user) return user
    const json = /^\s*application\/json/i.test(request.headers['content-type'] ?? '')
    const taken = this.#signin.deps.clientTelemetry
    if (taken) {
      const signal = request.path.slice('/v1/'.length) as OtlpSignal
      const verdict = await taken.take(signal, request.headers, request.body, user.email)
      if (!verdict.ok) return anthropicError(verdict.status, verdict.status === 413 ? 'request_too_large' : 'invalid_request_error', verdict.reason, request.requestId)
    }
    return json ? { status: 200, body: '{}', contentType: 'application/json' } : { status: 200, body: '', contentType: 'application/x-protobuf' }
  }
}
