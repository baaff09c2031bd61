/**
 * An Anthropic Messages request → an OpenAI Chat Completions request (issue 14).
 *
 * The whole body is rebuilt: Chat Completions shares no layout with Messages, so nothing can be edited in
 * place. What has no equivalent is left out (the Anthropic-only fields below, thinking history, cache
 * markers); what cannot be carried faithfully is refused (`reject`), so the relay tries the next
 * candidate and the client hears 400 only when no provider can serve the request.
 */
import type { BodyTools } from '../sdk.js'

export type Json = Record<string, unknown>
export const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value)

export interface OpenAiOptions {
  readonly max_tokens_field: 'auto' | 'max_tokens' | 'max_completion_tokens'
  readonly server_tools: 'reject' | 'drop'
  readonly reasoning_effort: boolean
  readonly top_k: boolean
}

export const DEFAULT_OPTIONS: OpenAiOptions = { max_tokens_field: 'auto', server_tools: 'reject', reasoning_effort: false, top_k: false }

/** Messages fields that are translated (or deliberately left out): anything else is noted as dropped. */
const KNOWN_FIELDS = new Set([
  'model', 'messages', 'system', 'max_tokens', 'stop_sequences', 'temperature', 'top_p', 'top_k', 'metadata', 'stream',
  'tools', 'tool_choice', 'thinking', 'output_config', 'context_management', 'service_tier', 'container', 'mcp_servers',
])

type ChatPart = { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string } }
type ChatMessage = Json

/** The text of a `system` value or of a block list (text blocks joined; cache markers and the rest dropped). */
function textOf(value: unknown): string {
  if (typeof value === 'string') return value
  if (!Array.isArray(value)) return ''
  return value
    .filter((b): b is Json => isObject(b) && b.type === 'text' && typeof b.text === 'string')
    .map((b) => b.text as string)
    .join('\n\n')
}

function imagePart(block: Json, at: string, tools: BodyTools): ChatPart {
  const source = isObject(block.source) ? block.source : {}
  if (source.type === 'base64' && typeof source.data === 'string' && typeof source.media_type === 'string') {
    return { type: 'image_url', image_url: { url: `data:${source.media_type};base64,${source.data}` } }
  }
  if (source.type === 'url' && typeof source.url === 'string') return { type: 'image_url', image_url: { url: source.url } }
  return tools.reject(`${at} is an image given by ${String(source.type ?? 'an unknown source')}; the Chat Completions API takes base64 or URL images`)
}

/** A text document is inlined; any other (PDF, file id, URL) has no Chat Completions form. */
function documentPart(block: Json, at: string, tools: BodyTools): ChatPart {
  const source = isObject(block.source) ? block.source : {}
  const title = typeof block.title === 'string' ? `${block.title}\n\n` : ''
  if (source.type === 'text' && typeof source.data === 'string') return { type: 'text', text: title + source.data }
  if (source.type === 'content') return { type: 'text', text: title + textOf(source.content) }
  const kind = source.media_type === 'application/pdf' ? 'a PDF document' : `a document (${String(source.type ?? 'unknown')} source)`
  return tools.reject(`${at} is ${kind}; the Chat Completions API cannot read it`)
}

/** A tool result's content as the text a `role: "tool"` message carries; its images go to the user turn. */
function toolResult(block: Json, at: string, images: ChatPart[], tools: BodyTools): ChatMessage {
  const parts: string[] = []
  const content = block.content
  if (typeof content === 'string') parts.push(content)
  else if (Array.isArray(content)) {
    content.forEach((item: unknown, k) => {
      if (!isObject(item)) return
      if (item.type === 'text' && typeof item.text === 'string') parts.push(item.text)
      else if (item.type === 'image') images.push(imagePart(item, `${at}.content[${k}]`, tools))
      else if (item.type === 'document') {
        const doc = documentPart(item, `${at}.content[${k}]`, tools)
        if (doc.type === 'text') parts.push(doc.text)
      }
    })
  }
  return { role: 'tool', tool_call_id: String(block.tool_use_id ?? ''), content: parts.join('\n') }
}

/**
 * One user turn: its tool results first (each a `tool` message, as Chat Completions wants them right after
 * the assistant's calls), then its text and images as one user message.
 */
function userTurn(content: unknown, at: string, tools: BodyTools): ChatMessage[] {
  if (typeof content === 'string') return [{ role: 'user', content }]
  if (!Array.isArray(content)) return []
  const results: ChatMessage[] = []
  const parts: ChatPart[] = []
  const images: ChatPart[] = []
  content.forEach((block: unknown, j) => {
    if (!isObject(block)) return
    const where = `${at}[${j}]`
    if (block.type === 'tool_result') results.push(toolResult(block, where, images, tools))
    else if (block.type === 'text' && typeof block.text === 'string') parts.push({ type: 'text', text: block.text })
    else if (block.type === 'image') parts.push(imagePart(block, where, tools))
    else if (block.type === 'document') parts.push(documentPart(block, where, tools))
    // thinking and anything unknown in a user turn carry nothing Chat Completions can use
  })
  const all = [...parts, ...images]
  if (all.length === 0) return results
  const single = all.length === 1 && all[0]!.type === 'text' ? all[0]!.text : undefined
  return [...results, { role: 'user', content: single ?? all }]
}

/** An assistant turn: its text, and its tool calls with their inputs as JSON strings. Thinking is not sent. */
function assistantTurn(content: unknown): ChatMessage[] {
  if (typeof content === 'string') return [{ role: 'assistant', content }]
  if (!Array.isArray(content)) return []
  const text: string[] = []
  const calls: Json[] = []
  for (const block of content) {
    if (!isObject(block)) continue
    if (block.type === 'text' && typeof block.text === 'string') text.push(block.text)
    else if (block.type === 'tool_use') {
      calls.push({ id: String(block.id ?? ''), type: 'function', function: { name: String(block.name ?? ''), arguments: JSON.stringify(block.input ?? {}) } })
    }
    // thinking / redacted_thinking: another family's signed reasoning; server tool blocks: nothing to call
  }
  if (text.length === 0 && calls.length === 0) return []
  return [{ role: 'assistant', content: text.length > 0 ? text.join('') : null, ...(calls.length > 0 ? { tool_calls: calls } : {}) }]
}

/** Anthropic-defined tools (web search, code execution, bash, text editor, computer use) have no schema to send. */
const isServerTool = (tool: Json): boolean => typeof tool.type === 'string' && tool.type !== 'custom' && tool.input_schema === undefined

function chatTools(list: unknown, options: OpenAiOptions, tools: BodyTools, notes: string[]): Json[] {
  if (!Array.isArray(list)) return []
  const out: Json[] = []
  list.forEach((tool: unknown, i) => {
    if (!isObject(tool)) return
    if (isServerTool(tool)) {
      if (options.server_tools === 'drop') return void notes.push(`dropped the Anthropic server tool ${String(tool.name ?? tool.type)} (${String(tool.type)})`)
      tools.reject(`tools[${i}] is the Anthropic server tool ${String(tool.type)}, which the Chat Completions API does not have`)
    }
    const fn: Json = { name: String(tool.name ?? '') }
    if (typeof tool.description === 'string') fn.description = tool.description
    fn.parameters = isObject(tool.input_schema) ? tool.input_schema : { type: 'object', properties: {} }
    out.push({ type: 'function', function: fn })
  })
  return out
}

function toolChoice(choice: unknown): unknown {
  if (!isObject(choice)) return undefined
  switch (choice.type) {
    case 'auto':
      return 'auto'
    case 'any':
      return 'required'
    case 'none':
      return 'none'
    case 'tool':
      return { type: 'function', function: { name: String(choice.name ?? '') } }
    default:
      return undefined
  }
}

/** `output_config.effort`, else the thinking budget, as OpenAI's low / medium / high. */
function effortOf(body: Json): string | undefined {
  const thinking = isObject(body.thinking) ? body.thinking : undefined
  if (!thinking || thinking.type === 'disabled') return undefined
  const effort = isObject(body.output_config) ? body.output_config.effort : undefined
  if (effort === 'low' || effort === 'medium' || effort === 'high') return effort
  if (effort === 'max' || effort === 'xhigh') return 'high'
  const budget = typeof thinking.budget_tokens === 'number' ? thinking.budget_tokens : undefined
  if (budget === undefined) return 'medium'
  return budget < 4096 ? 'low' : budget < 16384 ? 'medium' : 'high'
}

function maxTokensField(options: OpenAiOptions, baseUrl: string): 'max_tokens' | 'max_completion_tokens' {
  if (options.max_tokens_field !== 'auto') return options.max_tokens_field
  // api.openai.com's reasoning models refuse max_tokens; DeepSeek and most local servers ignore the other.
  return new URL(baseUrl).hostname === 'api.openai.com' ? 'max_completion_tokens' : 'max_tokens'
}

export interface ChatRequest {
  readonly body: Json
  readonly notes: string[]
}

/** The Chat Completions body for `body` (an Anthropic Messages request), sent to `model`. */
export function chatRequest(body: Json, model: string, stream: boolean, options: OpenAiOptions, baseUrl: string, tools: BodyTools): ChatRequest {
  const notes: string[] = []
  const messages: ChatMessage[] = []
  const system = textOf(body.system)
  if (system !== '') messages.push({ role: 'system', content: system })
  const history = Array.isArray(body.messages) ? body.messages : []
  history.forEach((m: unknown, i) => {
    if (!isObject(m)) return
    const at = `messages[${i}].content`
    if (m.role === 'user') messages.push(...userTurn(m.content, at, tools))
    else if (m.role === 'assistant') messages.push(...assistantTurn(m.content))
    else if (m.role === 'system') {
      const text = textOf(m.content)
      if (text !== '') messages.push({ role: 'system', content: text })
    }
  })
  const out: Json = { model, messages }
  if (typeof body.max_tokens === 'number') out[maxTokensField(options, baseUrl)] = body.max_tokens
  if (Array.isArray(body.stop_sequences) && body.stop_sequences.length > 0) out.stop = body.stop_sequences
  if (typeof body.temperature === 'number') out.temperature = body.temperature
  if (typeof body.top_p === 'number') out.top_p = body.top_p
  if (typeof body.top_k === 'number') {
    if (options.top_k) out.top_k = body.top_k
    else notes.push('top_k not sent (the provider option top_k is off)')
  }
  const userId = isObject(body.metadata) ? body.metadata.user_id : undefined
  if (typeof userId === 'string' && userId !== '') out.user = userId
  const chatToolList = chatTools(body.tools, options, tools, notes)
  if (chatToolList.length > 0) {
    out.tools = chatToolList
    const choice = toolChoice(body.tool_choice)
    if (choice !== undefined) out.tool_choice = choice
    if (isObject(body.tool_choice) && body.tool_choice.disable_parallel_tool_use === true) out.parallel_tool_calls = false
  }
  const effort = effortOf(body)
  if (effort !== undefined) {
    if (options.reasoning_effort) out.reasoning_effort = effort
    else notes.push('thinking not requested upstream (the provider option reasoning_effort is off)')
  }
  if (stream) {
    out.stream = true
    out.stream_options = { include_usage: true }
  }
  const unknown = Object.keys(body).filter((k) => !KNOWN_FIELDS.has(k) && !k.startsWith('anthropic_'))
  if (unknown.length > 0) notes.push(`dropped fields the Chat Completions API has no place for: ${unknown.join(', ')}`)
  return { body: out, notes }
}
