/**
 * OpenAI-compatible upstreams (OpenAI, OpenRouter, DeepSeek, Groq, vLLM, llama.cpp, LM Studio, Ollama's
 * `/v1`) through `POST {base_url}/chat/completions` (CONTRACT §5): Claude Code's Messages requests are
 * translated there (request.ts) and the answers back (stream.ts, whole.ts, errors.ts), in the worker
 * threads. Pooled keys go as `Authorization: Bearer`; a client's own Anthropic credential never does.
 */
import { definePlugin } from '../sdk.js'
import { mapChatError } from './errors.js'
import { chatRequest, DEFAULT_OPTIONS, isObject } from './request.js'
import type { Json, OpenAiOptions } from './request.js'
import { ChatStreamTranslator } from './stream.js'
import { wholeMessage } from './whole.js'

type Options = Partial<OpenAiOptions>

const optionsOf = (options: Options): OpenAiOptions => ({ ...DEFAULT_OPTIONS, ...options })

/** The request's stop sequences, to tell a stop-sequence hit from a natural end. */
function stopSequencesOf(body: Uint8Array): string[] {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'))
    const list = isObject(parsed) ? parsed.stop_sequences : undefined
    return Array.isArray(list) ? list.filter((s): s is string => typeof s === 'string') : []
  } catch {
    return []
  }
}

const mentions = (body: Uint8Array, token: string): boolean => Buffer.from(body.buffer, body.byteOffset, body.byteLength).indexOf(token) !== -1

export default definePlugin<Options>({
  api: 1,
  type: 'openai',
  description: 'OpenAI-compatible Chat Completions APIs (OpenAI, OpenRouter, DeepSeek, Groq, vLLM, llama.cpp, LM Studio, Ollama /v1), translated',
  options: (Type) =>
    Type.Object({
      // auto: max_completion_tokens for api.openai.com (its reasoning models refuse max_tokens), else max_tokens.
      max_tokens_field: Type.Optional(Type.Union([Type.Literal('auto'), Type.Literal('max_tokens'), Type.Literal('max_completion_tokens')])),
      // Anthropic server tools (web search, code execution…) have no equivalent: refuse the request, or drop them.
      server_tools: Type.Optional(Type.Union([Type.Literal('reject'), Type.Literal('drop')])),
      // The backend takes `reasoning_effort` (OpenAI's o-series and GPT-5, DeepSeek, OpenRouter): thinking maps to it.
      reasoning_effort: Type.Optional(Type.Boolean()),
      // The backend takes `top_k` (vLLM, llama.cpp; OpenAI does not).
      top_k: Type.Optional(Type.Boolean()),
    }),
  defaultBaseUrl: () => 'https://api.openai.com/v1',
  // No token counting in Chat Completions: count_tokens for models served here is the relay's estimate.
  routes: ['messages'],
  framing: 'sse',
  auth: { kind: 'keys', headers: ['bearer'] },
  clientCredentials: 'never',
  // Another model family: Anthropic's signed thinking never goes there, and its reasoning never comes back signed.
  thinkingFamily: 'openai',
  healthCheck: (baseUrl) => ({ url: `${baseUrl}/models` }),
  prepare(req, tools) {
    let parsed: unknown
    try {
      parsed = JSON.parse(Buffer.from(req.body.buffer, req.body.byteOffset, req.body.byteLength).toString('utf8'))
    } catch {
      return tools.reject('the request body is not JSON')
    }
    if (!isObject(parsed)) return tools.reject('the request body is not a JSON object')
    const { body, notes } = chatRequest(parsed as Json, req.model, req.stream, optionsOf(req.options), req.baseUrl, tools)
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: req.stream ? 'text/event-stream' : 'application/json' }
    if (req.headers['user-agent']) headers['user-agent'] = req.headers['user-agent']
    return { url: `${req.baseUrl}/chat/completions`, headers, body: Buffer.from(JSON.stringify(body)), ...(notes.length > 0 ? { notes } : {}) }
  },
  translator(req) {
    // Only a request with stop sequences needs them read back; the rest skip the parse.
    const stops = mentions(req.body, '"stop_sequences"') ? stopSequencesOf(req.body) : []
    const stream = new ChatStreamTranslator(req.model, req.requestId, stops)
    return {
      onEvent: (e, emit) => stream.onEvent(e, emit),
      onEnd: (emit) => stream.onEnd(emit),
      onWhole: (text) => wholeMessage(text, req.model, req.requestId, stops),
    }
  },
  mapError: (status, _headers, body) => mapChatError(status, body),
})
