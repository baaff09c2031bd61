/**
 * A Vertex AI double for Claude's publisher-model endpoints (wire-protocols §4), on loopback:
 * `POST {root}/v1/projects/{p}/locations/{r}/publishers/anthropic/models/{model}:rawPredict` (the MESSAGE
 * JSON), `…:streamRawPredict` (Anthropic SSE of STREAM_EVENTS) and `…/models/count-tokens:rawPredict`
 * (`{"input_tokens":…}`). It records every request, accepts only `Authorization: Bearer <token>` for the
 * tokens in `tokens`, refuses a body without `anthropic_version` (Vertex requires it in the body, API-VX),
 * and can answer Google error envelopes or cut a stream mid-way.
 *
 * Its answers are proven faithful by pointing `@anthropic-ai/vertex-sdk` at it (test/plugins/vertex-sdk.test.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { MESSAGE, STREAM_EVENTS } from '../fixtures/anthropic.js'
import { MockUpstream, sse } from './mock-upstream.js'
import type { Recorded } from './mock-upstream.js'

const PATH = /^(.*)\/v1\/projects\/([^/]+)\/locations\/([^/]+)\/publishers\/anthropic\/models\/([^/:]+):(rawPredict|streamRawPredict)$/

/** A request the mock understood. */
export interface VertexCall {
  readonly recorded: Recorded
  /** What came before `/v1` (empty when `base_url` is the API root). */
  readonly prefix: string
  readonly project: string
  readonly region: string
  /** The model path segment, decoded; `count-tokens` for token counting. */
  readonly model: string
  readonly method: 'rawPredict' | 'streamRawPredict'
  readonly body: Record<string, unknown>
}

/** Google's error envelope (google.rpc.Status as JSON). */
export function googleError(code: number, status: string, message: string): string {
  return JSON.stringify({ error: { code, message, status } })
}

export interface CannedAnswer {
  readonly status: number
  readonly body: string
  readonly headers?: Record<string, string>
}

export class VertexMock {
  readonly upstream = new MockUpstream()
  /** Access tokens accepted as `Authorization: Bearer …`. */
  readonly tokens = new Set<string>()
  readonly calls: VertexCall[] = []
  /** Every Authorization header seen, in order (accepted or not). */
  readonly authorizations: (string | undefined)[] = []
  /** Set: the next requests get this answer instead of a model's. */
  answer: CannedAnswer | undefined
  /** Set: a streaming answer sends this many events, then the connection is reset. */
  resetAfterEvents: number | undefined
  inputTokens = 42

  async start(): Promise<this> {
    this.upstream.handler = (req, res, recorded) => this.#handle(req, res, recorded)
    await this.upstream.start()
    return this
  }

  get url(): string {
    return this.upstream.url
  }

  get requests(): readonly Recorded[] {
    return this.upstream.requests
  }

  get last(): VertexCall {
    return this.calls[this.calls.length - 1]!
  }

  close(): Promise<void> {
    return this.upstream.close()
  }

  #json(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', ...headers }).end(body)
  }

  #handle(req: IncomingMessage, res: ServerResponse, recorded: Recorded): void {
    if (req.method === 'GET') return this.#json(res, 404, googleError(404, 'NOT_FOUND', 'Method not found.'))
    const auth = req.headers.authorization
    this.authorizations.push(auth)
    const match = PATH.exec(new URL(recorded.url, 'http://x').pathname)
    if (req.method !== 'POST' || !match) return this.#json(res, 404, googleError(404, 'NOT_FOUND', `The requested URL ${recorded.url} was not found on this server.`))
    const token = /^Bearer (.+)$/.exec(auth ?? '')?.[1]
    if (!token || !this.tokens.has(token)) {
      return this.#json(
        res,
        401,
        googleError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.'),
        { 'www-authenticate': 'Bearer realm="https://accounts.google.com/"' },
      )
    }
    let body: Record<string, unknown>
    try {
      body = JSON.parse(recorded.body.toString('utf8')) as Record<string, unknown>
    } catch {
      return this.#json(res, 400, googleError(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.'))
    }
    const [, prefix, project, region, model, method] = match
    const call: VertexCall = {
      recorded,
      prefix: prefix!,
      project: decodeURIComponent(project!),
      region: decodeURIComponent(region!),
      model: decodeURIComponent(model!),
      method: method as VertexCall['method'],
      body,
    }
    this.calls.push(call)
    if (typeof body.anthropic_version !== 'string') {
      return this.#json(res, 400, googleError(400, 'INVALID_ARGUMENT', 'anthropic_version: field required'))
    }
    if (this.answer) return this.#json(res, this.answer.status, this.answer.body, this.answer.headers)
    if (call.model === 'count-tokens') {
      if (typeof body.model !== 'string') return this.#json(res, 400, googleError(400, 'INVALID_ARGUMENT', 'model: field required'))
      return this.#json(res, 200, JSON.stringify({ input_tokens: this.inputTokens }))
    }
    if (call.method === 'rawPredict') return this.#json(res, 200, JSON.stringify(MESSAGE), { 'request-id': 'req_vrtx_011CMOCK' })
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'request-id': 'req_vrtx_011CMOCKSTREAM' })
    if (this.resetAfterEvents === undefined) return void res.end(vertexStreamBody())
    res.write(sse(STREAM_EVENTS.slice(0, this.resetAfterEvents)), () => setTimeout(() => res.socket?.destroy(), 50))
  }
}

/** The exact SSE bytes the mock streams for a successful streamRawPredict. */
export function vertexStreamBody(): string {
  return sse(STREAM_EVENTS)
}

/**
 * The message STREAM_EVENTS add up to, written out by hand (not by an SDK's accumulator): thinking with its
 * signature, text, a tool call with its input parsed, the final stop reason and usage.
 */
export const STREAM_MESSAGE = {
  id: 'msg_01XFDUDYJgAACzvnptvVoYEL',
  type: 'message',
  role: 'assistant',
  model: 'claude-sonnet-4-5-20250929',
  content: [
    { type: 'thinking', thinking: 'The user wants the weather; I should call the tool.', signature: 'EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds' },
    { type: 'text', text: 'Let me check the weather in San Francisco — “ünïcödé” ✓.' },
    { type: 'tool_use', id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', name: 'get_weather', input: { location: 'San Francisco, CA', unit: 'celsius' } },
  ],
  stop_reason: 'tool_use',
  stop_sequence: null,
  usage: { input_tokens: 472, cache_creation_input_tokens: 120, cache_read_input_tokens: 2048, output_tokens: 89 },
}
