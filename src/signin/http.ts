/**
 * The HTTP side of the sign-in endpoints: each endpoint is an async function from a `SigninRequest` to
 * a `Reply`, so it is testable without a socket; `serve` adapts it to uWS (headers and the small body
 * read in the handler's synchronous part, the answer corked after the await, a fault answered with
 * 500 and never the process). Every answer is `no-store` and carries the usual hardening headers.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js'
import { readBody, readHeaders } from '../ingress/read-request.js'
import { nextRequestId } from '../ingress/request-id.js'
import { statusLine } from '../ingress/respond.js'
import { fault } from '../shared/faults.js'

export interface SigninRequest {
  readonly method: string
  readonly path: string
  readonly query: URLSearchParams
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string>>
  /** The socket's peer address (no forwarded-for headers). */
  readonly peer: string
  readonly body: Buffer
  readonly requestId: string
}

export interface Reply {
  readonly status: number
  readonly body: string
  readonly contentType?: string
  /** name, value, name, value, … */
  readonly headers?: readonly string[]
}

const HARDENING = ['cache-control', 'no-store', 'pragma', 'no-cache', 'x-content-type-options', 'nosniff', 'referrer-policy', 'no-referrer']

export const json = (status: number, value: unknown, headers: readonly string[] = []): Reply => ({ status, body: JSON.stringify(value), contentType: 'application/json', headers })

/** RFC 6749 §5.2 / RFC 8628 §3.5 error shape. */
export const oauthError = (error: string, description?: string, status = 400): Reply => json(status, description === undefined ? { error } : { error, error_description: description })

/** The Anthropic envelope, for the bearer endpoints (the SDK shows its message). */
export const anthropicError = (status: number, type: string, message: string, requestId: string, headers: readonly string[] = []): Reply =>
  json(status, { type: 'error', error: { type, message }, request_id: requestId }, headers)

/**
 * An `application/x-www-form-urlencoded` body. Unknown parameters are kept and ignored by the caller
 * (RFC 6749 §3.2, RFC 8628 §3.1); a parameter of `known` given twice is refused (RFC 6749 §3.1).
 */
export function parseForm(body: Buffer, known: readonly string[]): Map<string, string> | 'duplicate' {
  const params = new URLSearchParams(body.toString('utf8'))
  const form = new Map<string, string>()
  for (const [name, value] of params) {
    if (form.has(name)) {
      if (known.includes(name)) return 'duplicate'
      continue
    }
    form.set(name, value)
  }
  return form
}

/** One cookie's value from a `Cookie` header. */
export function cookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}

/** Small bodies only: forms and OTLP batches. */
export type Endpoint = (request: SigninRequest) => Promise<Reply>

/** Told of each answer (method, path, status, time): the request log. Never a header or a body. */
export type Answered = (request: { method: string; path: string; requestId: string }, status: number, ms: number) => void

export function serve(endpoint: Endpoint, bodyLimit: number, answered: Answered = () => {}): (res: HttpResponse, req: HttpRequest) => void {
  return (res, req) => {
    const state = { aborted: false }
    res.onAborted(() => (state.aborted = true))
    const requestId = nextRequestId()
    const started = performance.now()
    const headers = readHeaders(req)
    const request = { method: req.getMethod().toUpperCase(), path: req.getUrl(), query: new URLSearchParams(req.getQuery() ?? ''), headers, peer: Buffer.from(res.getRemoteAddressAsText()).toString(), requestId }
    const done = (reply: Reply, close = false): void => {
      send(res, state, reply, requestId, close)
      answered(request, reply.status, performance.now() - started)
    }
    const run = (body: Buffer): void => {
      endpoint({ ...request, body }).then(done, (err: unknown) => {
        fault('signin.endpoint', err, requestId)
        done(anthropicError(500, 'api_error', 'the relay failed while handling this sign-in request', requestId))
      })
    }
    const declared = headers['content-length']
    if (declared === undefined && headers['transfer-encoding'] === undefined) return run(Buffer.alloc(0))
    const length = declared === undefined ? undefined : Number(declared)
    if (length !== undefined && (!Number.isSafeInteger(length) || length < 0 || length > bodyLimit)) {
      return done(anthropicError(413, 'request_too_large', `request body exceeds ${bodyLimit} bytes`, requestId), true)
    }
    readBody(res, length, bodyLimit, (result) => {
      if (!result.ok) return done(anthropicError(413, 'request_too_large', `request body exceeds ${bodyLimit} bytes`, requestId), true)
      run(result.body)
    })
  }
}

function send(res: HttpResponse, state: { aborted: boolean }, reply: Reply, requestId: string, close = false): void {
  if (state.aborted) return
  state.aborted = true
  res.cork(() => {
    res.writeStatus(statusLine(reply.status))
    if (reply.contentType) res.writeHeader('content-type', reply.contentType)
    for (let i = 0; i < HARDENING.length; i += 2) res.writeHeader(HARDENING[i]!, HARDENING[i + 1]!)
    res.writeHeader('request-id', requestId).writeHeader('x-cc-relay-request-id', requestId)
    const extra = reply.headers ?? []
    for (let i = 0; i < extra.length; i += 2) res.writeHeader(extra[i]!, extra[i + 1]!)
    res.end(reply.body, close)
  })
}
