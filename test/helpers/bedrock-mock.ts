/**
 * A Bedrock Runtime double on loopback (node:http), speaking InvokeModel / InvokeModelWithResponseStream
 * as AWS does (wire-protocols §3):
 *
 * - authentication is checked, not assumed: a SigV4 `Authorization` is verified by recomputing the
 *   signature with an independent verifier (test/helpers/sigv4-verify.ts: node:crypto, checked against
 *   AWS's published test vectors; not the @smithy signer the relay uses) for the credentials the mock knows, over the method, path,
 *   query, the headers the request says it signed (`SignedHeaders`) and the body bytes received; the
 *   service must be `bedrock` and the region the mock's. A mismatch answers 403
 *   `InvalidSignatureException` with AWS's wording. A Bedrock API key (`Authorization: Bearer`) must
 *   be one the mock knows.
 * - the body must be Bedrock's shape: JSON with `anthropic_version`, no `model`, no `stream` (real
 *   Bedrock answers 400 "extraneous key [model] is not permitted").
 * - `/invoke` answers Anthropic's message JSON; `/invoke-with-response-stream` answers
 *   `application/vnd.amazon.eventstream` `chunk` frames, each carrying one Anthropic event as base64
 *   plus random-length padding `p`, as Bedrock sends them.
 * - `/count-tokens` (CountTokens, AWS-CT) takes `{"input":{"invokeModel":{"body":"<base64>"}}}`; the
 *   decoded InvokeModel body is checked like an invoke body and must carry `max_tokens` too. It
 *   answers `{"inputTokens":N}` with N = `mockTokenCount(decoded body)`.
 *
 * Every request is recorded (raw path, headers, body, who it authenticated as). A test can replace
 * the answer with `override` (a whole HTTP answer, or a list of frames for a stream).
 */
import { createHash } from 'node:crypto'
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { expectedSignature, parseAuthorization } from './sigv4-verify.js'
import * as eventstreamJs from '../../bench/lib/eventstream.mjs'
import { MESSAGE, STREAM_EVENTS } from '../fixtures/anthropic.js'

const eventstream = eventstreamJs as unknown as {
  encodeEventStreamMessage(headers: Record<string, string>, payload: Uint8Array | string): Buffer
}

export interface AwsCredentials {
  readonly accessKeyId: string
  readonly secretAccessKey: string
  readonly sessionToken?: string
}

export type AuthSeen =
  | { readonly kind: 'sigv4'; readonly accessKeyId: string; readonly region: string; readonly service: string; readonly signedHeaders: readonly string[] }
  | { readonly kind: 'bearer'; readonly token: string }

export interface BedrockRequest {
  readonly method: string
  /** The raw request target, as it came on the wire (`/model/us.anthropic…%2F…/invoke`). */
  readonly url: string
  /** The model id, percent-decoded. */
  readonly model: string
  readonly action: 'invoke' | 'invoke-with-response-stream' | 'count-tokens' | ''
  readonly headers: IncomingMessage['headers']
  readonly body: Buffer
  /** CountTokens: the InvokeModel body decoded from `input.invokeModel.body`, when it was valid base64. */
  readonly invokeBody?: Buffer
  /** Who the request authenticated as; undefined when it was refused. */
  readonly auth: AuthSeen | undefined
  /** Why authentication failed, when it did. */
  readonly authError?: string
}

/** An answer a test substitutes for the usual one. */
export type Override =
  | { readonly status: number; readonly headers?: Record<string, string>; readonly body: string }
  | { readonly frames: readonly Buffer[]; readonly status?: number; readonly headers?: Record<string, string> }

// ---- Frames, as Bedrock writes them ----

const CHUNK_HEADERS = { ':event-type': 'chunk', ':content-type': 'application/json', ':message-type': 'event' }

/** One Anthropic event in a `chunk` frame: `{"bytes":"<base64 of the event JSON>","p":"<padding>"}`. */
export function chunkFrame(event: unknown, padding = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0'.slice(0, 1 + Math.floor(Math.random() * 40))): Buffer {
  const bytes = Buffer.from(JSON.stringify(event), 'utf8').toString('base64')
  return eventstream.encodeEventStreamMessage(CHUNK_HEADERS, JSON.stringify({ bytes, p: padding }))
}

/** A `chunk` frame with the payload exactly as given (for malformed payloads). */
export function rawChunkFrame(payload: string): Buffer {
  return eventstream.encodeEventStreamMessage(CHUNK_HEADERS, payload)
}

/** An exception frame (`:message-type` exception), e.g. `throttlingException`, payload `{"message":…}`. */
export function exceptionFrame(type: string, payload: Record<string, unknown>): Buffer {
  return eventstream.encodeEventStreamMessage(
    { ':exception-type': type, ':content-type': 'application/json', ':message-type': 'exception' },
    JSON.stringify(payload),
  )
}

/** The same frame with its message CRC broken. */
export function corruptCrc(frame: Buffer): Buffer {
  const bad = Buffer.from(frame)
  bad[bad.length - 1] = bad[bad.length - 1]! ^ 0xff
  return bad
}

/** The fixture stream as Bedrock frames; with `metrics`, `message_stop` carries Bedrock's invocation metrics. */
export function streamFrames(metrics = false): Buffer[] {
  return STREAM_EVENTS.map((event) =>
    chunkFrame(
      metrics && event.type === 'message_stop'
        ? { ...event, 'amazon-bedrock-invocationMetrics': { inputTokenCount: 472, outputTokenCount: 89, invocationLatency: 1798, firstByteLatency: 1507 } }
        : event,
    ),
  )
}

// ---- CountTokens ----

/**
 * The mock's token count for a decoded InvokeModel body: deterministic and far from the relay's own
 * estimate (about request bytes ÷ 4), so a test can tell which of the two answered.
 */
export function mockTokenCount(invokeBody: Buffer): number {
  return 100_000 + invokeBody.byteLength
}

/**
 * `{"input":{"invokeModel":{"body":"<base64>"}}}` → the decoded bytes, or why Bedrock would refuse it.
 * The base64 must be canonical (it re-encodes to itself), as a strict blob decoder demands.
 */
export function decodeCountTokensInput(body: Buffer): { ok: true; invokeBody: Buffer } | { ok: false; message: string } {
  let json: unknown
  try {
    json = JSON.parse(body.toString('utf8'))
  } catch {
    return { ok: false, message: 'Malformed input request, please reformat your input and try again.' }
  }
  const input = (json as { input?: unknown } | null)?.input
  const invokeModel = typeof input === 'object' && input !== null ? (input as { invokeModel?: unknown }).invokeModel : undefined
  const blob = typeof invokeModel === 'object' && invokeModel !== null ? (invokeModel as { body?: unknown }).body : undefined
  if (typeof blob !== 'string') return { ok: false, message: '1 validation error detected: Value at \'input.invokeModel.body\' failed to satisfy constraint: Member must not be null' }
  const decoded = Buffer.from(blob, 'base64')
  if (decoded.toString('base64') !== blob) return { ok: false, message: "Invalid base64 in 'input.invokeModel.body'." }
  return { ok: true, invokeBody: decoded }
}

// ---- SigV4 verification ----

const AUTH_PATTERN = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/

/** `20261126T231213Z` → Date. */
function amzDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value)
  return m ? new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!)) : undefined
}

function headerValue(headers: IncomingMessage['headers'], name: string): string | undefined {
  const v = headers[name]
  return Array.isArray(v) ? v.join(',') : v
}

const INVALID_SIGNATURE =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.'

type Verdict = { ok: true; auth: AuthSeen } | { ok: false; status: number; type: string; message: string }

export class BedrockMock {
  readonly requests: BedrockRequest[] = []
  /** Replaces the usual answer while set (a function: per request; return undefined for the usual answer). */
  override: Override | ((req: BedrockRequest) => Override | undefined) | undefined
  /** Send `message_stop` with `amazon-bedrock-invocationMetrics`, as real Bedrock does. */
  invocationMetrics = false
  /** Write each stream frame in pieces of this many bytes (0: one write per frame). */
  splitFramesAt = 0
  url = ''
  readonly region: string
  readonly #credentials: Map<string, AwsCredentials>
  readonly #bearerTokens: Set<string>
  readonly #server: Server
  readonly #sockets = new Set<Socket>()

  constructor(opts: { region: string; credentials?: readonly AwsCredentials[]; bearerTokens?: readonly string[] }) {
    this.region = opts.region
    this.#credentials = new Map((opts.credentials ?? []).map((c) => [c.accessKeyId, c]))
    this.#bearerTokens = new Set(opts.bearerTokens ?? [])
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => void this.#serve(req, res, Buffer.concat(chunks)))
    })
    this.#server.on('connection', (s: Socket) => {
      this.#sockets.add(s)
      s.on('close', () => this.#sockets.delete(s))
    })
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.#server.listen(0, '127.0.0.1', r))
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`
    return this
  }

  get last(): BedrockRequest {
    return this.requests[this.requests.length - 1]!
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy()
    await new Promise<void>((r) => this.#server.close(() => r()))
  }

  async #verify(req: IncomingMessage, body: Buffer): Promise<Verdict> {
    const authorization = headerValue(req.headers, 'authorization')
    const deny = (status: number, type: string, message: string): Verdict => ({ ok: false, status, type, message })
    if (!authorization) return deny(403, 'MissingAuthenticationTokenException', 'Missing Authentication Token')
    if (authorization.startsWith('Bearer ')) {
      const token = authorization.slice('Bearer '.length)
      if (!this.#bearerTokens.has(token)) return deny(403, 'UnrecognizedClientException', 'Invalid API Key format: Must start with pre-defined prefix')
      return { ok: true, auth: { kind: 'bearer', token } }
    }
    const m = AUTH_PATTERN.exec(authorization)
    if (!m) return deny(400, 'IncompleteSignatureException', `Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters.`)
    const [, accessKeyId, shortDate, region, service, signedList] = m as unknown as string[]
    const creds = this.#credentials.get(accessKeyId!)
    if (!creds) return deny(403, 'UnrecognizedClientException', 'The security token included in the request is invalid.')
    if (service !== 'bedrock' || region !== this.region) return deny(403, 'InvalidSignatureException', `Credential should be scoped to correct service/region ('bedrock', '${this.region}').`)
    const dateHeader = headerValue(req.headers, 'x-amz-date') ?? ''
    const date = amzDate(dateHeader)
    if (!date || !dateHeader.startsWith(shortDate!)) return deny(403, 'InvalidSignatureException', 'Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP.')
    if (Math.abs(Date.now() - date.getTime()) > 15 * 60_000) return deny(403, 'InvalidSignatureException', 'Signature expired.')
    const signed = signedList!.split(';')
    if (!signed.includes('host')) return deny(403, 'InvalidSignatureException', "'Host' must be a 'SignedHeader' in the AWS Authorization.")
    if (creds.sessionToken !== undefined && headerValue(req.headers, 'x-amz-security-token') !== creds.sessionToken) {
      return deny(403, 'UnrecognizedClientException', 'The security token included in the request is invalid.')
    }
    const declaredHash = headerValue(req.headers, 'x-amz-content-sha256')
    if (declaredHash !== undefined && declaredHash !== createHash('sha256').update(body).digest('hex')) {
      return deny(400, 'XAmzContentSHA256Mismatch', 'The provided x-amz-content-sha256 header does not match what was computed.')
    }
    // Recompute over exactly what arrived.
    const headers: Record<string, string> = {}
    for (const name of signed) {
      const value = headerValue(req.headers, name)
      if (value !== undefined) headers[name] = value
    }
    // An independent verifier (node:crypto, validated by AWS's test vectors), not the @smithy signer the
    // relay signs with: a mistake both shared would pass here.
    const parts = parseAuthorization(authorization)
    if (!parts) return deny(400, 'IncompleteSignatureException', `Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters.`)
    const expected = expectedSignature({ method: req.method!, target: req.url!, headers, body, amzDate: dateHeader }, parts, creds.secretAccessKey)
    if (expected.signature !== parts.signature) return deny(403, 'InvalidSignatureException', INVALID_SIGNATURE)
    return { ok: true, auth: { kind: 'sigv4', accessKeyId: accessKeyId!, region: region!, service: service!, signedHeaders: signed } }
  }

  async #serve(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
    const route = /^\/model\/([^/?]+)\/(invoke|invoke-with-response-stream|count-tokens)(?:\?|$)/.exec(req.url ?? '')
    let model = ''
    try {
      model = route ? decodeURIComponent(route[1]!) : ''
    } catch {
      model = route?.[1] ?? ''
    }
    const verdict = await this.#verify(req, body)
    const counting = route?.[2] === 'count-tokens' ? decodeCountTokensInput(body) : undefined
    const record: BedrockRequest = {
      method: req.method!,
      url: req.url!,
      model,
      action: (route?.[2] as BedrockRequest['action']) ?? '',
      headers: req.headers,
      body,
      ...(counting?.ok ? { invokeBody: counting.invokeBody } : {}),
      auth: verdict.ok ? verdict.auth : undefined,
      ...(verdict.ok ? {} : { authError: verdict.type }),
    }
    this.requests.push(record)
    const requestId = `mock-${this.requests.length}`
    const fail = (status: number, type: string, message: string): void => {
      // AWS's own spelling of the header names (HTTP/1.1 keeps the case on the wire).
      res.writeHead(status, { 'Content-Type': 'application/json', 'x-amzn-ErrorType': `${type}:http://internal.amazon.com/coral/com.amazon.bedrock/`, 'x-amzn-RequestId': requestId })
      res.end(JSON.stringify({ message }))
    }
    if (!verdict.ok) return fail(verdict.status, verdict.type, verdict.message)
    if (req.method !== 'POST' || !route) return fail(404, 'UnknownOperationException', 'Unknown operation')

    const override = typeof this.override === 'function' ? this.override(record) : this.override
    if (override && 'body' in override) {
      res.writeHead(override.status, { 'content-type': 'application/json', 'x-amzn-requestid': requestId, ...override.headers })
      return void res.end(override.body)
    }

    if (counting && !counting.ok) return fail(400, 'ValidationException', counting.message)
    // What InvokeModel would get: the request body, or for CountTokens the body it carries.
    const invokeBody = counting?.ok ? counting.invokeBody : body
    let json: Record<string, unknown>
    try {
      json = JSON.parse(invokeBody.toString('utf8')) as Record<string, unknown>
    } catch {
      return fail(400, 'ValidationException', 'Malformed input request, please reformat your input and try again.')
    }
    for (const key of ['model', 'stream']) {
      if (key in json) return fail(400, 'ValidationException', `Malformed input request: #: extraneous key [${key}] is not permitted, please reformat your input and try again.`)
    }
    if (typeof json['anthropic_version'] !== 'string') return fail(400, 'ValidationException', 'Malformed input request: #: required key [anthropic_version] not found, please reformat your input and try again.')
    if (counting) {
      if (typeof json['max_tokens'] !== 'number') return fail(400, 'ValidationException', 'Malformed input request: #: required key [max_tokens] not found, please reformat your input and try again.')
      res.writeHead(200, { 'content-type': 'application/json', 'x-amzn-requestid': requestId })
      return void res.end(JSON.stringify({ inputTokens: mockTokenCount(invokeBody) }))
    }

    if (route[2] === 'invoke' && !override) {
      res.writeHead(200, { 'content-type': 'application/json', 'x-amzn-requestid': requestId, 'x-amzn-bedrock-input-token-count': '2095', 'x-amzn-bedrock-output-token-count': '503' })
      return void res.end(JSON.stringify(MESSAGE))
    }
    const frames = override && 'frames' in override ? override.frames : streamFrames(this.invocationMetrics)
    res.writeHead(override && 'frames' in override ? (override.status ?? 200) : 200, {
      'content-type': 'application/vnd.amazon.eventstream',
      'x-amzn-requestid': requestId,
      'x-amzn-bedrock-content-type': 'application/json',
      ...(override && 'frames' in override ? override.headers : {}),
    })
    await this.#writeFrames(res, frames)
    res.end()
  }

  async #writeFrames(res: ServerResponse, frames: readonly Buffer[]): Promise<void> {
    for (const frame of frames) {
      const size = this.splitFramesAt > 0 ? this.splitFramesAt : frame.length
      for (let i = 0; i < frame.length; i += size) {
        res.write(frame.subarray(i, i + size))
        await new Promise((r) => setImmediate(r))
      }
    }
  }
}
