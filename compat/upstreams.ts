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
import { BedrockMock, chunkFrame } from '../test/helpers/bedrock-mock.js'
import { CREDS, REGION, US_PROFILE } from '../test/helpers/bedrock-setup.js'
import { vertexConfig, vertexWorld } from '../test/helpers/vertex-setup.js'

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
  /** The relay's provider entry pointing at this upstream. */
  readonly provider: string
  /** What the relay's environment needs to reach it (vertex: the local Google token endpoint). */
  readonly relayEnv?: NodeJS.ProcessEnv
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

const USAGE = { input_tokens: 120, output_tokens: 12, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 }
const blockOf = (turn: Turn): Json => ('tool' in turn ? { type: 'tool_use', id: turn.tool.id, name: 'Read', input: turn.tool.input } : { type: 'text', text: turn.text })
const stopOf = (turn: Turn): string => ('tool' in turn ? 'tool_use' : 'end_turn')

/** The whole Anthropic message for `turn`. */
function anthropicMessage(model: string, turn: Turn): Json {
  return { id: 'msg_compat', type: 'message', role: 'assistant', model, content: [blockOf(turn)], stop_reason: stopOf(turn), stop_sequence: null, usage: USAGE }
}

/** The Anthropic stream events for `turn`. */
function anthropicEvents(model: string, turn: Turn): Json[] {
  const usage = USAGE
  const block = blockOf(turn)
  const stop = stopOf(turn)
  return [
    { type: 'message_start', message: { id: 'msg_compat', type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 1 } } },
    { type: 'content_block_start', index: 0, content_block: 'tool' in turn ? { ...block, input: {} } : { type: 'text', text: '' } },
    { type: 'ping' },
    { type: 'content_block_delta', index: 0, delta: 'tool' in turn ? { type: 'input_json_delta', partial_json: JSON.stringify(turn.tool.input) } : { type: 'text_delta', text: turn.text } },
    { type: 'content_block_stop', index: 0 },
    { type: 'message_delta', delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: usage.output_tokens } },
    { type: 'message_stop' },
  ]
}

function anthropicAnswer(res: ServerResponse, body: Json, turn: Turn): void {
  const model = String(body.model)
  if (body.stream !== true) {
    res.writeHead(200, { 'content-type': 'application/json', 'request-id': 'req_compat' })
    return void res.end(JSON.stringify(anthropicMessage(model, turn)))
  }
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'request-id': 'req_compat' })
  res.end(anthropicEvents(model, turn).map((e) => `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`).join(''))
}

/** The anthropic provider's pooled key: CONTRACT §3 says the upstream gets it in place of the CLI's credential. */
export const ANTHROPIC_POOLED_KEY = 'compat-upstream-key'

export async function anthropicUpstream(file: string): Promise<CompatUpstream> {
  const mock = await new MockUpstream().start()
  const provider = `  - { name: anthropic, type: anthropic, base_url: "${mock.url}", keys: [{ key: ${ANTHROPIC_POOLED_KEY} }] }`
  const up: CompatUpstream = { url: mock.url, requests: mock.requests, refused: [], toolResultSeen: false, provider, close: () => mock.close() }
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
  const provider = `  - { name: openai, type: openai, base_url: "${mock.url}/v1", keys: [{ key: compat-openai-key }] }`
  const up: CompatUpstream = { url: `${mock.url}/v1`, requests: mock.requests, refused: [], toolResultSeen: false, provider, close: () => mock.close() }
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

// ---- Bedrock (InvokeModel / InvokeModelWithResponseStream, SigV4-signed; the mock verifies the signature) ----

export async function bedrockUpstream(file: string): Promise<CompatUpstream> {
  const mock = await new BedrockMock({ region: REGION, credentials: [CREDS] }).start()
  // Claude Code's model names mapped to a Bedrock inference profile, as a team configures it.
  const provider = `  - name: bedrock\n    type: bedrock\n    base_url: "${mock.url}"\n    aws_region: "${REGION}"\n    aws_access_key_id: "${CREDS.accessKeyId}"\n    aws_secret_access_key: "${CREDS.secretAccessKey}"\n    model_mapping: { "claude-*": "${US_PROFILE}" }`
  const up: CompatUpstream = { url: mock.url, requests: [], refused: [], toolResultSeen: false, provider, close: () => mock.close() }
  mock.override = (req) => {
    if (req.authError) {
      up.refused.push(`${req.action || req.url}: ${req.authError}`)
      return undefined
    }
    let body: Json
    try {
      body = JSON.parse(req.body.toString()) as Json
    } catch {
      return undefined // the mock refuses it as Bedrock does
    }
    const why = 'model' in body || 'stream' in body ? 'extraneous key model or stream' : typeof body.anthropic_version !== 'string' ? 'no anthropic_version' : undefined
    if (why || req.action === 'count-tokens') {
      if (why) up.refused.push(`${req.action}: ${why}`)
      return undefined // the mock answers it (or refuses it) as Bedrock does
    }
    const turn = anthropicTurn(body, file, (found) => (up.toolResultSeen ||= found))
    if (req.action === 'invoke') return { status: 200, body: JSON.stringify(anthropicMessage(req.model, turn)) }
    return { frames: anthropicEvents(req.model, turn).map((e) => chunkFrame(e)) }
  }
  return up
}

// ---- Vertex AI (rawPredict / streamRawPredict with a Google OAuth token; the mock checks the token) ----

const VERTEX_PATH = /^.*\/v1\/projects\/[^/]+\/locations\/[^/]+\/publishers\/anthropic\/models\/([^/:]+):(rawPredict|streamRawPredict)$/

export async function vertexUpstream(file: string): Promise<CompatUpstream> {
  const world = await vertexWorld()
  const provider = vertexConfig({ baseUrl: world.mock.url, keyFile: world.account.keyFile }).split('providers:\n')[1]!.trimEnd()
  const up: CompatUpstream = { url: world.mock.url, requests: world.mock.upstream.requests, refused: [], toolResultSeen: false, provider, relayEnv: world.google.env(), close: () => world.close() }
  // The mock's own checks (path, token, anthropic_version) answer anything wrong; a good request gets the conversation's turn.
  const checked = world.mock.upstream.handler
  world.mock.upstream.handler = (req, res, recorded) => {
    const match = VERTEX_PATH.exec(recorded.url)
    const token = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''))?.[1]
    let body: Json | undefined
    try {
      body = JSON.parse(recorded.body.toString()) as Json
    } catch {
      body = undefined
    }
    const fine = match && token && world.mock.tokens.has(token) && body && typeof body.anthropic_version === 'string' && match[1] !== 'count-tokens'
    if (!fine) {
      if (!token || !world.mock.tokens.has(token)) up.refused.push(`${recorded.url}: no valid Google access token`)
      else if (body && typeof body.anthropic_version !== 'string') up.refused.push(`${recorded.url}: no anthropic_version`)
      return checked(req, res, recorded)
    }
    const model = decodeURIComponent(match[1]!)
    const turn = anthropicTurn(body!, file, (found) => (up.toolResultSeen ||= found))
    if (match[2] === 'rawPredict') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(anthropicMessage(model, turn)))
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' })
    res.end(anthropicEvents(model, turn).map((e) => `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`).join(''))
  }
  return up
}

export const UPSTREAMS: Readonly<Record<string, (file: string) => Promise<CompatUpstream>>> = { anthropic: anthropicUpstream, openai: openaiUpstream, bedrock: bedrockUpstream, vertex: vertexUpstream }

