/**
 * The upstreams the matrix runs Claude Code against, one per provider type, each a small server that
 * plays the model's part of one conversation: asked (by the prompt's marker) to read a file, it answers
 * with a `Read` tool call; given the tool's result, it answers with the text it found there. Every other
 * request (Claude Code's side calls: quota checks, titles, summaries) gets a short text answer. Each
 * keeps what it received, and says why it refused a request the real service would refuse.
 */
import type { ServerResponse } from 'node:http'
import { MockUpstream } from '../test/helpers/mock-upstream.js'
import type { Recorded } from '../test/helpers/mock-upstream.js'
import { invalidChatRequest } from '../test/helpers/openai-mock.js'

export const MARKER = 'CC-RELAY-COMPAT'
export const TOKEN = 'compat-token-7f3a9c'

type Json = Record<string, unknown>
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

/** What the model says next: a tool call, or text. */
type Turn = { readonly tool: { readonly id: string; readonly input: Json } } | { readonly text: string }

/** The conversation logic both wire formats share: `lastUser` is the last user turn as text, `toolResult` the tool's output when the turn carries one. */
function nextTurn(lastUser: string, toolResult: string | undefined, toolNames: readonly string[], file: string): Turn {
  if (toolResult !== undefined) return { text: toolResult.includes(TOKEN) ? `COMPAT-DONE ${TOKEN}` : 'COMPAT-TOOL-RESULT-WITHOUT-THE-TOKEN' }
  if (lastUser.includes(MARKER) && toolNames.includes('Read')) return { tool: { id: 'toolu_compat_1', input: { file_path: file } } }
  return { text: 'ok' }
}

export interface CompatUpstream {
  readonly url: string
  readonly requests: Recorded[]
  /** Requests the real service would have refused, with why. */
  readonly refused: string[]
  /** The tool's result came back to the model (the round trip completed). */
  toolResultSeen: boolean
  close(): Promise<void>
}

// ---- Anthropic Messages ----

const textOf = (content: unknown): string => (typeof content === 'string' ? content : JSON.stringify(content ?? ''))

function anthropicTurn(body: Json, file: string, seen: (found: boolean) => void): Turn {
  const messages = Array.isArray(body.messages) ? (body.messages as Json[]) : []
  const last = [...messages].reverse().find((m) => m.role === 'user')
  const blocks = Array.isArray(last?.content) ? (last!.content as Json[]) : []
  const result = blocks.find((b) => b.type === 'tool_result')
  if (result) seen(true)
  const tools = Array.isArray(body.tools) ? (body.tools as Json[]).map((t) => String(t.name)) : []
  return nextTurn(textOf(last?.content), result ? textOf(result.content) : undefined, tools, file)
}

function anthropicAnswer(res: ServerResponse, body: Json, turn: Turn): void {
  const model = String(body.model)
  const usage = { input_tokens: 120, output_tokens: 12, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 }
  const block = 'tool' in turn ? { type: 'tool_use', id: turn.tool.id, name: 'Read', input: turn.tool.input } : { type: 'text', text: turn.text }
  const stop = 'tool' in turn ? 'tool_use' : 'end_turn'
  if (body.stream !== true) {
    res.writeHead(200, { 'content-type': 'application/json', 'request-id': 'req_compat' })
    return void res.end(JSON.stringify({ id: 'msg_compat', type: 'message', role: 'assistant', model, content: [block], stop_reason: stop, stop_sequence: null, usage }))
  }
  const events: Json[] = [
    { type: 'message_start', message: { id: 'msg_compat', type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 1 } } },
    { type: 'content_block_start', index: 0, content_block: 'tool' in turn ? { ...block, input: {} } : { type: 'text', text: '' } },
    { type: 'ping' },
    { type: 'content_block_delta', index: 0, delta: 'tool' in turn ? { type: 'input_json_delta', partial_json: JSON.stringify(turn.tool.input) } : { type: 'text_delta', text: turn.text } },
    { type: 'content_block_stop', index: 0 },
    { type: 'message_delta', delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: usage.output_tokens } },
    { type: 'message_stop' },
  ]
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'request-id': 'req_compat' })
  res.end(events.map((e) => `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`).join(''))
}

export async function anthropicUpstream(file: string): Promise<CompatUpstream> {
  const mock = await new MockUpstream().start()
  const up: CompatUpstream = { url: mock.url, requests: mock.requests, refused: [], toolResultSeen: false, close: () => mock.close() }
  mock.handler = (req, res, recorded) => {
    let body: Json
    try {
      body = JSON.parse(recorded.body.toString()) as Json
    } catch {
      up.refused.push(`${req.url}: the body is not JSON`)
      return void res.writeHead(400, { 'content-type': 'application/json' }).end('{"type":"error","error":{"type":"invalid_request_error","message":"body is not JSON"}}')
    }
    if (req.url?.startsWith('/v1/messages/count_tokens')) return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"input_tokens":120}')
    if (!req.url?.startsWith('/v1/messages')) {
      up.refused.push(`${req.method} ${req.url}: not an API path`)
      return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"type":"error","error":{"type":"not_found_error","message":"not found"}}')
    }
    anthropicAnswer(res, body, anthropicTurn(body, file, (found) => (up.toolResultSeen ||= found)))
  }
  return up
}

// ---- OpenAI Chat Completions (the relay's `openai` type translates both ways) ----

function chatTurn(body: Json, file: string, seen: (found: boolean) => void): Turn {
  const messages = Array.isArray(body.messages) ? (body.messages as Json[]) : []
  const last = messages.at(-1)
  const lastUser = [...messages].reverse().find((m) => m.role === 'user')
  const tools = Array.isArray(body.tools) ? (body.tools as Json[]).map((t) => String(isObject(t.function) ? t.function.name : '')) : []
  if (last?.role === 'tool') seen(true)
  return nextTurn(textOf(lastUser?.content), last?.role === 'tool' ? textOf(last.content) : undefined, tools, file)
}

function chatAnswer(res: ServerResponse, body: Json, turn: Turn): void {
  const model = String(body.model)
  const usage = { prompt_tokens: 120, completion_tokens: 12, total_tokens: 132 }
  const call = 'tool' in turn ? { id: 'call_compat_1', type: 'function', function: { name: 'Read', arguments: JSON.stringify(turn.tool.input) } } : undefined
  const finish = call ? 'tool_calls' : 'stop'
  if (body.stream !== true) {
    const message = call ? { role: 'assistant', content: null, tool_calls: [call] } : { role: 'assistant', content: (turn as { text: string }).text }
    res.writeHead(200, { 'content-type': 'application/json' })
    return void res.end(JSON.stringify({ id: 'chatcmpl-compat', object: 'chat.completion', created: 1_760_000_000, model, choices: [{ index: 0, message, finish_reason: finish }], usage }))
  }
  const chunk = (choices: Json[], extra: Json = {}): string => `data: ${JSON.stringify({ id: 'chatcmpl-compat', object: 'chat.completion.chunk', created: 1_760_000_000, model, choices, ...extra })}\n\n`
  const frames = [chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }])]
  if (call) frames.push(chunk([{ index: 0, delta: { tool_calls: [{ index: 0, ...call }] }, finish_reason: null }]))
  else frames.push(chunk([{ index: 0, delta: { content: (turn as { text: string }).text }, finish_reason: null }]))
  frames.push(chunk([{ index: 0, delta: {}, finish_reason: finish }]), chunk([], { usage }), 'data: [DONE]\n\n')
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' })
  res.end(frames.join(''))
}

export async function openaiUpstream(file: string): Promise<CompatUpstream> {
  const mock = await new MockUpstream().start()
  const up: CompatUpstream = { url: `${mock.url}/v1`, requests: mock.requests, refused: [], toolResultSeen: false, close: () => mock.close() }
  mock.handler = (req, res, recorded) => {
    let body: unknown
    try {
      body = JSON.parse(recorded.body.toString())
    } catch {
      body = undefined
    }
    const why = req.url === '/v1/chat/completions' ? invalidChatRequest(body) : `${req.method} ${req.url}: not a Chat Completions path`
    if (why !== undefined) {
      up.refused.push(why)
      return void res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: why, type: 'invalid_request_error', param: null, code: null } }))
    }
    chatAnswer(res, body as Json, chatTurn(body as Json, file, (found) => (up.toolResultSeen ||= found)))
  }
  return up
}

export const UPSTREAMS: Readonly<Record<string, (file: string) => Promise<CompatUpstream>>> = { anthropic: anthropicUpstream, openai: openaiUpstream }

/** The relay's provider entry for each type, pointed at its upstream. */
export function providerYaml(type: string, url: string): string {
  if (type === 'openai') return `  - { name: openai, type: openai, base_url: "${url}", keys: [{ key: compat-openai-key }] }`
  return `  - { name: anthropic, type: anthropic, base_url: "${url}", keys: [{ key: compat-upstream-key }] }`
}
