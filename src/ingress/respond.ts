/**
 * Small writers for answers the relay produces itself. Every write after an await must sit inside
 * `res.cork()` (uWS), so each helper corks; inside a handler's synchronous part corking again is harmless.
 */
import { STATUS_CODES } from 'node:http'
import type { HttpResponse } from 'uWebSockets.js'
import { envelopeFor } from '../shared/errors.js'
import type { RelayErrorData } from '../shared/errors.js'

const statusLines = new Map<number, string>()

/** `"429 Too Many Requests"`, cached: uWS takes the status line as written. */
export function statusLine(status: number): string {
  let line = statusLines.get(status)
  if (line === undefined) {
    line = `${status} ${STATUS_CODES[status] ?? (status === 529 ? 'Overloaded' : 'Status')}`
    statusLines.set(status, line)
  }
  return line
}

export interface ResponseState {
  aborted: boolean
}

export function sendJson(res: HttpResponse, state: ResponseState, status: number, body: string, extraHeaders: readonly string[] = [], close = false): void {
  if (state.aborted) return
  res.cork(() => {
    res.writeStatus(statusLine(status)).writeHeader('content-type', 'application/json')
    for (let i = 0; i < extraHeaders.length; i += 2) res.writeHeader(extraHeaders[i]!, extraHeaders[i + 1]!)
    res.end(body, close)
  })
}

/**
 * An Anthropic error envelope; `request_id` and `x-cc-relay-request-id` are the relay's id (CONTRACT §4).
 * `close` ends the connection, for answers given before the request body was read.
 */
export function sendError(res: HttpResponse, state: ResponseState, error: RelayErrorData, requestId: string, close = false, extraHeaders: readonly string[] = []): number {
  const { status, body } = envelopeFor(error, requestId)
  sendJson(res, state, status, body, ['request-id', requestId, 'x-cc-relay-request-id', requestId, ...extraHeaders], close)
  return status
}

/**
 * A relayed answer's status line and headers. CONTRACT §4: `request-id` is the upstream's when it sent
 * one, else the relay's; `x-cc-relay-request-id` is always the relay's. `drop` leaves out upstream
 * headers (a budgeted caller's upstream rate-limit headers, CONTRACT §10). Call inside `res.cork()`.
 */
export function writeHead(res: HttpResponse, status: number, headers: readonly string[], requestId: string, extra: readonly string[], drop?: (name: string) => boolean): void {
  res.writeStatus(statusLine(status))
  let hasRequestId = false
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!
    if (name === 'request-id') hasRequestId = true
    if (drop?.(name)) continue
    res.writeHeader(name, headers[i + 1]!)
  }
  if (!hasRequestId) res.writeHeader('request-id', requestId)
  res.writeHeader('x-cc-relay-request-id', requestId)
  for (let i = 0; i < extra.length; i += 2) res.writeHeader(extra[i]!, extra[i + 1]!)
}
