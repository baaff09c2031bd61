/**
 * `POST /v1/messages` and `POST /v1/messages/count_tokens`: check the client, read and sniff the body,
 * take a lease from the supervisor, and hand the request to a worker with its own port.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js'
import type { Admission } from '../admission/admission.js'
import type { AdminDeps } from '../admin/routes.js'
import type { Telemetry } from '../admin/telemetry.js'
import type { Route } from '../../plugins/sdk.js'
import type { RelayConfig } from '../config/types.js'
import { relayError } from '../shared/errors.js'
import { fault } from '../shared/faults.js'
import type { RelayErrorData } from '../shared/errors.js'
import { CLIENT_CREDENTIAL_HEADERS, isPerHopRequestHeader, RELAY_KEY_HEADER } from '../shared/headers.js'
import type { Logger } from '../shared/log.js'
import type { Dispatch } from './dispatch.js'
import { readBody, readHeaders } from './read-request.js'
import { RequestLog } from './request-log.js'
import { sendError } from './respond.js'
import type { ResponseState } from './respond.js'
import { nextRequestId } from './request-id.js'
import { sniffBody } from './sniff.js'
import { Attempts } from './attempts.js'
import type { Inflight } from '../shared/inflight.js'
import type { SignIn } from '../signin/service.js'

/**
 * What the handlers use. `config`, `dispatch` and the admission's compiled config are swapped together
 * by a reload (synchronously), so a request reads them afresh at each step; requests in flight keep the
 * admission verdict and upstream exchange they started with.
 */
export interface RelayDeps {
  config: RelayConfig
  dispatch: Dispatch
  /** The one door (src/admission/): who may call, and every lease. */
  readonly admission: Admission
  readonly log: Logger
  readonly lifecycle: Lifecycle
  readonly telemetry: Telemetry
  readonly admin: AdminDeps
  /** Sign-in (CONTRACT §12) while `server.auth.sso` is on; its routes and bearer tokens exist only then. */
  readonly signin: SignIn | undefined
}

/** Live requests, so a shutdown can wait for them and end the rest; `draining` refuses new ones. */
export interface Lifecycle {
  draining: boolean
  readonly inflight: Inflight<Attempts>
}

/** The socket's peer, as uWS spells it (read only when an allow list needs it: it costs a copy). */
export const peerAddress = (res: HttpResponse): string => Buffer.from(res.getRemoteAddressAsText()).toString()

/** Client headers as they go upstream: no per-hop ones, no relay key, credentials split off. */
function splitHeaders(headers: Record<string, string>, consumed: ReadonlySet<string>) {
  const forward: Record<string, string> = {}
  const credential: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (isPerHopRequestHeader(name) || name === RELAY_KEY_HEADER) continue
    if ((CLIENT_CREDENTIAL_HEADERS as readonly string[]).includes(name)) {
      if (!consumed.has(name)) credential[name] = value
      continue
    }
    forward[name] = value
  }
  return { forward, credential }
}

export function handleRelay(deps: RelayDeps, route: Route, res: HttpResponse, req: HttpRequest): void {
  const state: ResponseState = { aborted: false }
  const requestId = nextRequestId()
  const log = new RequestLog(deps.log, deps.telemetry, requestId, route)
  let attempts: Attempts | undefined
  res.onAborted(() => {
    state.aborted = true
    log.clientAborted()
    if (attempts) attempts.clientAborted()
    else log.done(0, undefined)
  })
  const headers = readHeaders(req)
  log.headers(headers)
  const query = req.getQuery() ?? ''
  // Answers the relay gives on its own are all its own time (CONTRACT §4 x-cc-relay-overhead-ms).
  const reject = (error: RelayErrorData, close: boolean, extra: readonly string[] = []): void =>
    log.done(sendError(res, state, error, requestId, close, [...extra, 'x-cc-relay-overhead-ms', log.elapsedMs().toFixed(2)]), error)

  const caller = deps.admission.door(() => peerAddress(res), headers)
  if (!caller.ok) {
    log.refused(caller.reason)
    return reject(caller.error, caller.close, caller.headers)
  }
  log.client(caller.profile.name)
  const contentType = headers['content-type'] ?? ''
  if (!/^application\/json\b/i.test(contentType)) return reject(relayError('unsupported_media_type', `content-type must be application/json, got ${JSON.stringify(contentType)}`), true)
  const limit = deps.config.server.max_body_bytes
  const lengths = headers['content-length']?.split(',').map((v) => v.trim())
  // RFC 9112 §6.3: a Content-Length that is not one decimal number (differing values included, a
  // smuggling vector) is a framing error.
  if (lengths && lengths.some((v) => v !== lengths[0] || !/^\d{1,15}$/.test(v))) {
    return reject(relayError('invalid_framing', `invalid Content-Length: ${JSON.stringify(headers['content-length'])}`), true)
  }
  const declared = lengths === undefined ? undefined : Number(lengths[0])
  const tooLarge = relayError('body_too_large', `request body exceeds the relay's limit of ${limit} bytes`)
  if (declared !== undefined && declared > limit) return reject(tooLarge, true)

  readBody(res, declared, limit, (result) => {
    // The request's boundary from here on: a fault ends this request with a 500, never the process.
    try {
      if (!result.ok) return reject(tooLarge, true)
      const body = result.body
      const sniffed = sniffBody(body)
      if (!sniffed.ok) return reject(sniffed.error, false)
      log.model(sniffed.model)
      const { forward, credential } = splitHeaders(headers, caller.consumed)
      const run = new Attempts(deps, res, state, requestId, log, { route, query, headers: forward, credential, body, sniffed, caller })
      attempts = run
      log.onDone(deps.lifecycle.inflight.add(run))
      run.start()
    } catch (err) {
      fault('ingress.request', err, requestId)
      const error = relayError('internal', 'the relay failed while handling this request')
      if (attempts) attempts.fail(error)
      else if (!log.finished) reject(error, true)
    }
  })
}
