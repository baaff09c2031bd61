/**
 * The admin endpoints: `/status` (the live page), `/status.json`, `/usage.json` (the usage ledger,
 * CONTRACT §9) and `/metrics` (Prometheus text).
 * Each checks AdminAuth first; a refused browser gets a Basic-auth challenge so it can ask for the key.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js'
import { nextRequestId } from '../ingress/request-id.js'
import { sendError, statusLine } from '../ingress/respond.js'
import type { ResponseState } from '../ingress/respond.js'
import type { Supervisor } from '../supervisor/supervisor.js'
import type { TeamBook } from '../admission/team-book.js'
import type { AdminAuth } from './admin-auth.js'
import { STATUS_PAGE_HTML } from './status-page.js'
import { statusSnapshot } from './status.js'
import type { ConfigInfo } from './status.js'
import type { Telemetry } from './telemetry.js'
import { groupRows, parseUsageQuery } from '../ledger/report.js'
import type { UserRow } from '../signin/users-admin.js'

export interface AdminDeps {
  /** Replaced on reload (a new `server.admin.api_key` applies at once). */
  auth: AdminAuth
  readonly supervisor: Supervisor
  readonly telemetry: Telemetry
  readonly configInfo: ConfigInfo
  readonly activeRequests: () => number
  readonly version: string
  readonly store: () => { readonly kind: string; readonly shared: boolean; readonly instances: number }
  /** The compiled team config (policies), as the admission step has it now. */
  readonly book: () => TeamBook
  /** Signed-in users for the status page (CONTRACT §12); undefined while sign-in is off. */
  readonly users: () => Promise<UserRow[]> | undefined
}

/** The sign-in store is read for each snapshot; one that does not answer soon leaves the users out, not the page. */
const USERS_DEADLINE_MS = 2000

async function signedInUsers(deps: AdminDeps): Promise<readonly UserRow[] | { error: string } | undefined> {
  const reading = deps.users()
  if (reading === undefined) return undefined
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<{ error: string }>((resolve) => (timer = setTimeout(() => resolve({ error: `the sign-in store did not answer within ${USERS_DEADLINE_MS} ms` }), USERS_DEADLINE_MS)))
  try {
    return await Promise.race([reading.catch((err: Error) => ({ error: `the sign-in store could not be read: ${err.message}` })), late])
  } finally {
    clearTimeout(timer)
  }
}

export type AdminRoute = 'page' | 'status' | 'metrics' | 'usage'

function send(res: HttpResponse, state: ResponseState, contentType: string, body: string, requestId: string): void {
  if (state.aborted) return
  res.cork(() => {
    res
      .writeStatus(statusLine(200))
      .writeHeader('content-type', contentType)
      .writeHeader('cache-control', 'no-store')
      .writeHeader('request-id', requestId)
      .writeHeader('x-cc-relay-request-id', requestId)
    res.end(body)
  })
}

export function handleAdmin(deps: AdminDeps, route: AdminRoute, res: HttpResponse, req: HttpRequest): void {
  const state: ResponseState = { aborted: false }
  const requestId = nextRequestId()
  res.onAborted(() => (state.aborted = true))
  const peer = Buffer.from(res.getRemoteAddressAsText()).toString()
  const refused = deps.auth.check(req.getHeader('authorization'), peer)
  if (refused) {
    const challenge = refused.code === 'admin_unauthenticated' ? ['www-authenticate', 'Basic realm="cc-relay admin", charset="UTF-8"'] : []
    sendError(res, state, refused, requestId, false, challenge)
    return
  }
  if (route === 'page') return send(res, state, 'text/html; charset=utf-8', STATUS_PAGE_HTML, requestId)
  if (route === 'usage') return sendUsage(deps, res, state, new URLSearchParams(req.getQuery() ?? ''), requestId)
  if (route === 'status') {
    signedInUsers(deps).then((users) => {
      const snapshot = statusSnapshot({
        state: deps.supervisor.state,
        activity: deps.telemetry.activity,
        config: deps.configInfo,
        activeRequests: deps.activeRequests(),
        version: deps.version,
        store: deps.store(),
        ledger: deps.telemetry.ledger,
        book: deps.book(),
        users,
      })
      send(res, state, 'application/json', JSON.stringify(snapshot), requestId)
    }).catch((err: Error) => sendError(res, state, { code: 'internal', message: `status failed: ${err.message}` }, requestId))
    return
  }
  const registry = deps.telemetry.metrics.registry
  registry.metrics().then(
    (text) => send(res, state, registry.contentType, text, requestId),
    (err: Error) => sendError(res, state, { code: 'internal', message: `metrics failed: ${err.message}` }, requestId),
  )
}

/** `GET /usage.json?since=YYYY-MM-DD&until=YYYY-MM-DD&by=day,client,provider,model`: the ledger's rows, grouped. */
function sendUsage(deps: AdminDeps, res: HttpResponse, state: ResponseState, params: URLSearchParams, requestId: string): void {
  const query = parseUsageQuery({ since: params.get('since'), until: params.get('until'), by: params.get('by') })
  if (typeof query === 'string') return void sendError(res, state, { code: 'invalid_field', message: query }, requestId)
  const ledger = deps.telemetry.ledger
  if (!ledger) return send(res, state, 'application/json', '[]', requestId)
  ledger.rows(query.since, query.until).then(
    (rows) => send(res, state, 'application/json', JSON.stringify(groupRows(rows, query.by)), requestId),
    (err: Error) => sendError(res, state, { code: 'internal', message: `the usage ledger could not be read: ${err.message}` }, requestId),
  )
}
