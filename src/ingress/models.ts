/**
 * `GET /v1/models` and `GET /v1/models/{id}` in Anthropic's shape (API-MODELS): the model names clients
 * may send — `model_mapping` keys without wildcards and `models` lists of enabled providers (CONTRACT §1),
 * those the caller's policy allows (§10) —
 * with `limit` (1–1000, default 20), `after_id` and `before_id` paging. Claude Code reads `data[].id`
 * and `display_name` for gateway model discovery.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js'
import { relayError } from '../shared/errors.js'
import type { RelayErrorData } from '../shared/errors.js'
import { logAnswered } from './request-log.js'
import type { RelayDeps } from './relay-handler.js'
import { peerAddress } from './relay-handler.js'
import { readHeaders } from './read-request.js'
import { nextRequestId } from './request-id.js'
import { sendError, sendJson } from './respond.js'

/** Models have no release date here; the relay's start stands in, as a stable RFC 3339 time. */
const CREATED_AT = new Date().toISOString().replace(/\.\d+Z$/, 'Z')

const entry = (id: string) => ({ type: 'model', id, display_name: id, created_at: CREATED_AT })

function page(ids: readonly string[], query: URLSearchParams): { body: object } | { error: string } {
  const limit = query.has('limit') ? Number(query.get('limit')) : 20
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) return { error: 'limit: must be an integer from 1 to 1000' }
  let start = 0
  let end = ids.length
  const after = query.get('after_id')
  const before = query.get('before_id')
  if (after !== null) start = ids.indexOf(after) + 1
  if (before !== null) end = Math.max(0, ids.indexOf(before))
  // before_id pages backwards: the `limit` entries just before it.
  const slice = before !== null && after === null ? ids.slice(Math.max(start, end - limit), end) : ids.slice(start, Math.min(end, start + limit))
  const last = slice.length ? ids.indexOf(slice[slice.length - 1]!) : -1
  const first = slice.length ? ids.indexOf(slice[0]!) : -1
  const hasMore = before !== null && after === null ? first > start : last >= 0 && last < end - 1
  return { body: { data: slice.map(entry), has_more: hasMore, first_id: slice[0] ?? null, last_id: slice[slice.length - 1] ?? null } }
}

export function handleModels(deps: RelayDeps, res: HttpResponse, req: HttpRequest, id: string | undefined): void {
  const startedAt = performance.now()
  const state = { aborted: false }
  const requestId = nextRequestId()
  const path = req.getUrl()
  const ids = ['request-id', requestId, 'x-cc-relay-request-id', requestId]
  const logged = (status: number, error?: RelayErrorData, client?: string, refused?: string): void =>
    logAnswered(deps.log, { request_id: requestId, route: 'models', method: 'get', path, status, startedAt, client, refused, error })
  const caller = deps.admission.door(() => peerAddress(res), readHeaders(req))
  if (!caller.ok) return logged(sendError(res, state, caller.error, requestId, caller.close, caller.headers), caller.error, undefined, caller.reason)
  const client = caller.profile.name
  // CONTRACT §10: each caller sees only the models its policy allows (Claude Code's /model picker).
  const models = deps.admission.visibleModels(caller)
  if (id !== undefined) {
    if (!models.includes(id)) {
      const error = relayError('not_found', `model ${JSON.stringify(id)} is not served by this relay`)
      return logged(sendError(res, state, error, requestId), error, client)
    }
    sendJson(res, state, 200, JSON.stringify(entry(id)), ids)
    return logged(200, undefined, client)
  }
  const result = page(models, new URLSearchParams(req.getQuery() ?? ''))
  if ('error' in result) {
    const error = relayError('invalid_field', result.error)
    return logged(sendError(res, state, error, requestId), error, client)
  }
  sendJson(res, state, 200, JSON.stringify(result.body), ids)
  logged(200, undefined, client)
}
