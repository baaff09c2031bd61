/**
 * Client-side helpers for error-path e2e tests: one shape for an answer read through `fetch` or through a
 * raw `node:http` request, and the check of the Anthropic error envelope the relay must produce
 * (CONTRACT §6): `{"type":"error","error":{"type":…,"message":…},"request_id":…}` whose `request_id` is
 * the `x-cc-relay-request-id` response header (CONTRACT §4).
 */
import { request } from 'node:http'
import type { IncomingHttpHeaders } from 'node:http'

/** Lower-case header names → values. */
export interface Answer {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly text: string
}

export interface Envelope {
  readonly type: string
  readonly error: { readonly type: string; readonly message: string }
  readonly request_id: string
}

/** The part of tap's `Test` these helpers use (keeps them independent of tap's type exports). */
export interface Asserts {
  equal(found: unknown, wanted: unknown, ...msg: any[]): boolean
  same(found: unknown, wanted: unknown, ...msg: any[]): boolean
  ok(value: unknown, ...msg: any[]): boolean
  match(found: unknown, pattern: any, ...msg: any[]): boolean
}

export async function readAnswer(res: Response): Promise<Answer> {
  const headers: Record<string, string> = {}
  res.headers.forEach((value, name) => (headers[name] = value))
  return { status: res.status, headers, text: await res.text() }
}

function flatHeaders(h: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(h)) if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value
  return out
}

/**
 * A request over a fresh `node:http` connection, for what `fetch` cannot send: a declared
 * `content-length` with no body behind it, or a chunked upload. `chunks` are written one after the
 * other (each after the previous one was handed to the socket), and writing stops as soon as a
 * response arrives: the relay may answer (and close) before the body is complete. `end: false` leaves
 * the request body open, so only the relay's answer can settle the promise. Errors after the answer
 * (the relay closing a connection whose body we were still sending) are expected and ignored.
 */
export function rawRequest(
  url: string,
  opts: { method: string; path: string; headers: Record<string, string>; chunks?: readonly (string | Buffer)[]; end?: boolean },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let answered = false
    const req = request(`${url}${opts.path}`, { method: opts.method, headers: opts.headers, agent: false })
    req.on('response', (res) => {
      answered = true
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        resolve({ status: res.statusCode!, headers: flatHeaders(res.headers), text: Buffer.concat(chunks).toString() })
        req.destroy()
      })
      res.on('error', (err) => reject(err))
    })
    req.on('error', (err) => {
      if (!answered) reject(err)
    })
    const chunks = [...(opts.chunks ?? [])]
    const next = (): void => {
      if (answered) return
      const chunk = chunks.shift()
      if (chunk !== undefined) return void req.write(chunk, () => next())
      if (opts.end === false) req.flushHeaders()
      else req.end()
    }
    next()
  })
}

/**
 * Checks status and the exact envelope shape, and that `request_id` is the relay's own id from the
 * `x-cc-relay-request-id` header. Returns the parsed envelope for further checks.
 */
export function assertEnvelope(t: Asserts, answer: Answer, status: number, type: string): Envelope {
  t.equal(answer.status, status, `status ${status}`)
  t.match(answer.headers['content-type'] ?? '', /^application\/json/, 'content-type is JSON')
  let body: Envelope
  try {
    body = JSON.parse(answer.text) as Envelope
  } catch {
    t.ok(false, `the body is JSON: ${answer.text}`)
    return { type: '', error: { type: '', message: '' }, request_id: '' }
  }
  assertEnvelopeBody(t, body, type, answer.headers['x-cc-relay-request-id'])
  return body
}

/** The envelope's shape, its error type, and its `request_id` equal to `relayRequestId`. */
export function assertEnvelopeBody(t: Asserts, body: Envelope, type: string, relayRequestId: string | undefined): void {
  t.same(Object.keys(body).sort(), ['error', 'request_id', 'type'], 'envelope has exactly type, error, request_id')
  t.equal(body.type, 'error', 'envelope type is "error"')
  t.same(Object.keys(body.error ?? {}).sort(), ['message', 'type'], 'error has exactly type and message')
  t.equal(body.error?.type, type, `error type ${type}`)
  t.ok(typeof body.error?.message === 'string' && body.error.message.length > 0, 'error message is a non-empty string')
  t.match(relayRequestId ?? '', /^req_ccr_/, 'x-cc-relay-request-id header is the relay id')
  t.equal(body.request_id, relayRequestId, 'request_id equals x-cc-relay-request-id')
}

/**
 * `x-cc-relay-overhead-ms` (CONTRACT §4): present, a decimal number of milliseconds, not negative. A
 * missing header must fail here (`Number(null)` is 0, which a bare `>= 0` check would accept).
 */
export function assertOverhead(t: Asserts, value: string | null | undefined, what: string): void {
  t.match(value ?? '', /^\d+\.\d{2}$/, `${what}: x-cc-relay-overhead-ms is present, in ms with two decimals`)
}
