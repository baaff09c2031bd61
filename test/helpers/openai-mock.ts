/**
 * An OpenAI Chat Completions double on loopback: `POST {root}/chat/completions`, streamed
 * (`chat.completion.chunk` events, the usage chunk after the content when `stream_options.include_usage`
 * is set, then `data: [DONE]`) or whole (`chat.completion`), with reasoning text, tool calls in fragments
 * and OpenAI's error envelope. It records every request and validates it the way OpenAI does: unknown
 * top-level fields, roles, tool results that answer no call, and a key other than the configured ones
 * (`Authorization: Bearer`) are refused with OpenAI's 400/401 errors.
 *
 * Its answers are proven faithful by pointing the official `openai` SDK at it (test/plugins/openai-sdk.test.ts).
 */
import type { ServerResponse } from 'node:http'
import { MockUpstream } from './mock-upstream.js'
import type { Recorded } from './mock-upstream.js'

export interface ToolCallScript {
  readonly id: string
  readonly name: string
  readonly arguments: string
  /** The `index` the fragments carry (default: the call's position; Ollama sends 0 for every call). */
  readonly index?: number
}

/** What the next answer says. */
export interface AnswerScript {
  readonly text?: string
  readonly reasoning?: string
  /** Where reasoning goes: `reasoning` (vLLM, OpenRouter, Ollama) or `reasoning_content` (DeepSeek, llama.cpp). */
  readonly reasoningField?: 'reasoning' | 'reasoning_content'
  readonly toolCalls?: readonly ToolCallScript[]
  readonly finishReason?: string
  /** vLLM's name for the stop sequence that ended the answer. */
  readonly stopReason?: string
  readonly promptTokens?: number
  readonly cachedTokens?: number
  readonly completionTokens?: number
  /** Streamed: after this many content chunks, a chunk with a top-level `error` ends the stream. */
  readonly errorAfterChunks?: number
  /** Streamed: after this many chunks the connection is cut (no finish, no [DONE]). */
  readonly cutAfterChunks?: number
  readonly model?: string
}

export interface CannedError {
  readonly status: number
  readonly message: string
  readonly type?: string
  readonly code?: string | null
  readonly headers?: Record<string, string>
}

export interface ChatCall {
  readonly recorded: Recorded
  readonly body: Record<string, unknown>
}

const ALLOWED_FIELDS = new Set([
  'model', 'messages', 'max_tokens', 'max_completion_tokens', 'stop', 'temperature', 'top_p', 'top_k', 'user', 'tools',
  'tool_choice', 'parallel_tool_calls', 'reasoning_effort', 'stream', 'stream_options', 'n', 'seed',
])
const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool'])

type Json = Record<string, unknown>
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

export function openAiError(message: string, type = 'invalid_request_error', code: string | null = null, param: string | null = null): string {
  return JSON.stringify({ error: { message, type, param, code } })
}

/** Why OpenAI would refuse `body`, or undefined. */
export function invalidChatRequest(body: unknown): string | undefined {
  if (!isObject(body)) return 'the body must be a JSON object'
  for (const key of Object.keys(body)) if (!ALLOWED_FIELDS.has(key)) return `Unrecognized request argument supplied: ${key}`
  if (typeof body.model !== 'string' || body.model === '') return 'you must provide a model parameter'
  if (!Array.isArray(body.messages) || body.messages.length === 0) return "'messages' must be a non-empty array"
  const calls = new Set<string>()
  for (const [i, m] of body.messages.entries()) {
    if (!isObject(m) || typeof m.role !== 'string' || !ROLES.has(m.role)) return `Invalid value for 'messages[${i}].role'`
    if (m.role === 'assistant' && Array.isArray(m.tool_calls)) {
      for (const c of m.tool_calls) {
        if (!isObject(c) || typeof c.id !== 'string' || !isObject(c.function) || typeof c.function.arguments !== 'string') return `Invalid 'messages[${i}].tool_calls'`
        calls.add(c.id)
      }
    }
    if (m.role === 'tool' && (typeof m.tool_call_id !== 'string' || !calls.has(m.tool_call_id))) {
      return `Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls' (messages[${i}])`
    }
    if (m.role !== 'assistant' && m.content !== undefined && typeof m.content !== 'string' && !Array.isArray(m.content)) return `Invalid 'messages[${i}].content'`
  }
  if (body.stream_options !== undefined && body.stream !== true) return 'stream_options is only allowed when stream is true'
  if (Array.isArray(body.tools)) {
    for (const t of body.tools) if (!isObject(t) || t.type !== 'function' || !isObject(t.function) || typeof t.function.name !== 'string') return "Invalid 'tools'"
  }
  return undefined
}

/** Splits `text` into `n` nearly equal pieces (at least one). */
function pieces(text: string, n: number): string[] {
  const size = Math.max(1, Math.ceil(text.length / n))
  const out: string[] = []
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size))
  return out.length > 0 ? out : ['']
}

export class OpenAiMock {
  readonly upstream = new MockUpstream()
  /** Keys accepted as `Authorization: Bearer …`; empty = any (a local server). */
  readonly keys = new Set<string>()
  readonly calls: ChatCall[] = []
  #script: AnswerScript[] = [{ text: 'Hello from the OpenAI mock.' }]
  /** Set: every request gets this error instead. */
  error: CannedError | undefined
  #turn = 0

  /** The answers of the next requests, in turn; the last one repeats. Setting it starts from its first. */
  get script(): AnswerScript[] {
    return this.#script
  }

  set script(answers: AnswerScript[]) {
    this.#script = answers
    this.#turn = 0
  }

  async start(): Promise<this> {
    this.upstream.handler = (req, res, recorded) => this.#handle(res, recorded)
    await this.upstream.start()
    return this
  }

  get url(): string {
    return this.upstream.url
  }

  get last(): ChatCall {
    return this.calls[this.calls.length - 1]!
  }

  close(): Promise<void> {
    return this.upstream.close()
  }

  #handle(res: ServerResponse, recorded: Recorded): void {
    const json = (status: number, body: string, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(body)
    }
    const path = new URL(recorded.url, 'http://x').pathname
    if (recorded.method === 'GET' && path.endsWith('/models')) return json(200, JSON.stringify({ object: 'list', data: [] }))
    if (recorded.method !== 'POST' || !path.endsWith('/chat/completions')) return json(404, openAiError(`Unknown path ${path}`, 'invalid_request_error', 'unknown_url'))
    const auth = recorded.headers.authorization
    if (this.keys.size > 0 && !(typeof auth === 'string' && auth.startsWith('Bearer ') && this.keys.has(auth.slice(7)))) {
      return json(401, openAiError('Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key'))
    }
    let body: unknown
    try {
      body = JSON.parse(recorded.body.toString('utf8'))
    } catch {
      return json(400, openAiError('We could not parse the JSON body of your request.'))
    }
    const invalid = invalidChatRequest(body)
    if (invalid) return json(400, openAiError(invalid))
    this.calls.push({ recorded, body: body as Json })
    if (this.error) return json(this.error.status, openAiError(this.error.message, this.error.type, this.error.code ?? null), this.error.headers)
    const script = this.#script[Math.min(this.#turn++, this.#script.length - 1)]!
    const request = body as Json
    if (request.stream === true) return this.#stream(res, request, script)
    return json(200, JSON.stringify(this.#whole(request, script)))
  }

  #usage(script: AnswerScript): Json {
    const prompt = script.promptTokens ?? 25
    const completion = script.completionTokens ?? 12
    return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, prompt_tokens_details: { cached_tokens: script.cachedTokens ?? 0 } }
  }

  #whole(request: Json, script: AnswerScript): Json {
    const message: Json = { role: 'assistant', content: script.text ?? null }
    if (script.reasoning) message[script.reasoningField ?? 'reasoning_content'] = script.reasoning
    if (script.toolCalls?.length) message.tool_calls = script.toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } }))
    const choice: Json = { index: 0, message, finish_reason: script.finishReason ?? (script.toolCalls?.length ? 'tool_calls' : 'stop'), logprobs: null }
    if (script.stopReason !== undefined) choice.stop_reason = script.stopReason
    return { id: 'chatcmpl-mock1', object: 'chat.completion', created: 1_760_000_000, model: script.model ?? String(request.model), choices: [choice], usage: this.#usage(script) }
  }

  #stream(res: ServerResponse, request: Json, script: AnswerScript): void {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' })
    const model = script.model ?? String(request.model)
    const chunk = (choices: Json[], extra: Json = {}): string =>
      `data: ${JSON.stringify({ id: 'chatcmpl-mock1', object: 'chat.completion.chunk', created: 1_760_000_000, model, choices, ...extra })}\n\n`
    const delta = (d: Json, finish: string | null = null, more: Json = {}): string => chunk([{ index: 0, delta: d, logprobs: null, finish_reason: finish, ...more }])
    const out: string[] = [delta({ role: 'assistant', content: '' })]
    for (const part of script.reasoning ? pieces(script.reasoning, 3) : []) out.push(delta({ [script.reasoningField ?? 'reasoning_content']: part }))
    for (const part of script.text ? pieces(script.text, 4) : []) out.push(delta({ content: part }))
    script.toolCalls?.forEach((c, i) => {
      const index = c.index ?? i
      out.push(delta({ tool_calls: [{ index, id: c.id, type: 'function', function: { name: c.name, arguments: '' } }] }))
      for (const part of pieces(c.arguments, 3)) out.push(delta({ tool_calls: [{ index, function: { arguments: part } }] }))
    })
    if (script.errorAfterChunks !== undefined) {
      out.splice(script.errorAfterChunks + 1)
      out.push(`data: ${JSON.stringify({ error: { message: 'The model produced invalid content.', type: 'server_error', code: 'server_error' } })}\n\n`)
      return void res.end(out.join(''))
    }
    const finish = script.finishReason ?? (script.toolCalls?.length ? 'tool_calls' : 'stop')
    out.push(delta({}, finish, script.stopReason !== undefined ? { stop_reason: script.stopReason } : {}))
    const includeUsage = isObject(request.stream_options) && request.stream_options.include_usage === true
    if (includeUsage) out.push(chunk([], { usage: this.#usage(script) }))
    out.push('data: [DONE]\n\n')
    if (script.cutAfterChunks !== undefined) {
      res.write(out.slice(0, script.cutAfterChunks).join(''))
      return void setTimeout(() => res.socket?.destroy(), 20)
    }
    // Chunk by chunk, as a server streaming tokens does.
    for (const frame of out) res.write(frame)
    res.end()
  }
}
