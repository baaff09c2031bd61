/**
 * Chat Completions stream chunks → Anthropic SSE events (issue 14).
 *
 * Each `data:` line is one chunk (or `[DONE]`). The Anthropic sequence the client gets:
 * `message_start` when the first chunk arrives; one content block per kind of content as it changes —
 * reasoning text (`delta.reasoning`, `delta.reasoning_content`, OpenRouter's `reasoning_details`) as a
 * `thinking` block, `delta.content` as a `text` block, each tool call as a `tool_use` block with its
 * `arguments` as `input_json_delta`; then `message_delta` (stop reason and the final usage, which comes in
 * a chunk of its own after the content when `stream_options.include_usage` is set) and `message_stop`.
 *
 * Tool calls are told apart by `index`, and by `id` within one index (Ollama reuses index 0 for parallel
 * calls). They are streamed in the order they start; servers send one call's fragments before the next's.
 * A chunk with a top-level `error` (OpenRouter, vLLM) ends the stream with `event: error`, and nothing
 * follows it. A stream that ends without a finish reason or `[DONE]` was cut: `event: error` too.
 */
import type { EmitEvent, ResponseTranslator, SseEvent } from '../sdk.js'
import { errorMessageOf, stopReasonOf, streamErrorData, usageOf } from './common.js'
import { EnvelopeMemo, pieceOf, reasoningOf } from './envelope.js'
import type { Envelope } from './envelope.js'
import type { AnthropicUsage, StopReason } from './common.js'
import { isObject } from './request.js'
import type { Json } from './request.js'

type BlockKind = 'thinking' | 'text' | 'tool_use'

interface ToolCall {
  readonly id: string
  readonly block: number
}

export class ChatStreamTranslator implements ResponseTranslator {
  readonly #model: string
  readonly #requestId: string
  readonly #stopSequences: readonly string[]
  #started = false
  #finished = false
  /** The index of the open block, and what it is (-1: none open). */
  #open = -1
  #openKind: BlockKind | undefined
  #blocks = 0
  /** By `index`: the call most recently started there. */
  readonly #calls = new Map<number, ToolCall>()
  #stop: StopReason | undefined
  #done = false
  #usage: AnthropicUsage | undefined
  /** The fast path's envelopes (envelope.ts); undefined when it is off (the tests compare both paths). */
  readonly #memo: EnvelopeMemo | undefined

  constructor(model: string, requestId: string, stopSequences: readonly string[], opts: { readonly fastPath?: boolean } = {}) {
    this.#model = model
    this.#requestId = requestId
    this.#stopSequences = stopSequences
    this.#memo = opts.fastPath === false ? undefined : new EnvelopeMemo()
  }

  onEvent(e: SseEvent, emit: EmitEvent): void {
    if (this.#finished) return
    const data = e.data.trim()
    if (data === '') return
    if (data === '[DONE]') {
      this.#done = true
      return
    }
    if (this.#started && this.#memo) {
      const hit = this.#memo.match(data)
      if (hit && this.#piece(emit, hit.envelope, hit.token)) return
    }
    let chunk: unknown
    try {
      chunk = JSON.parse(data)
    } catch {
      return this.#fail(emit, 'api_error', `the upstream sent a stream chunk that is not JSON: ${data.slice(0, 200)}`)
    }
    if (!isObject(chunk)) return
    if (chunk.error !== undefined && chunk.error !== null) return this.#fail(emit, 'api_error', errorMessageOf(chunk.error))
    this.#start(chunk, emit)
    const usage = usageOf(chunk.usage)
    if (usage) this.#usage = usage
    const choice = Array.isArray(chunk.choices) ? chunk.choices[0] : undefined
    if (!isObject(choice)) return
    if (choice.finish_reason === 'error') return this.#fail(emit, 'api_error', 'the upstream ended the answer with an error')
    const delta = isObject(choice.delta) ? choice.delta : {}
    const reasoning = reasoningOf(delta)
    if (reasoning !== '') this.#delta(emit, 'thinking', `{"type":"thinking_delta","thinking":${JSON.stringify(reasoning)}}`)
    if (typeof delta.content === 'string' && delta.content !== '') this.#delta(emit, 'text', `{"type":"text_delta","text":${JSON.stringify(delta.content)}}`)
    if (Array.isArray(delta.tool_calls)) for (const call of delta.tool_calls) if (isObject(call)) this.#toolCall(emit, call)
    if (typeof choice.finish_reason === 'string') {
      this.#stop = stopReasonOf(choice, this.#stopSequences)
      this.#close(emit)
    }
    if (this.#memo && !this.#finished) {
      const piece = pieceOf(chunk)
      if (piece) this.#memo.learn(data, piece)
    }
  }

  /**
   * A chunk the memo recognised: `token` is the piece as a JSON string token, copied as it is. False
   * when the full path must decide (arguments for a call that has not started: it opens a block).
   */
  #piece(emit: EmitEvent, envelope: Envelope, token: string): boolean {
    if (envelope.kind === 'args') {
      const current = this.#calls.get(envelope.index)
      if (!current) return false
      if (token !== '""' && current.block === this.#open) {
        emit('content_block_delta', `{"type":"content_block_delta","index":${current.block},"delta":{"type":"input_json_delta","partial_json":${token}}}`)
      }
      return true
    }
    if (token === '""') return true
    if (envelope.kind === 'text') this.#delta(emit, 'text', `{"type":"text_delta","text":${token}}`)
    else this.#delta(emit, 'thinking', `{"type":"thinking_delta","thinking":${token}}`)
    return true
  }

  onEnd(emit: EmitEvent): void {
    if (this.#finished) return
    if (!this.#started) return this.#fail(emit, 'api_error', 'the upstream stream ended before its first chunk')
    if (!this.#stop && !this.#done) return this.#fail(emit, 'api_error', 'the upstream stream ended before the answer finished')
    this.#close(emit)
    this.#finished = true
    const stop = this.#stop ?? { reason: 'end_turn', sequence: null }
    // Anthropic's SDKs take the final counts from message_delta; the usage chunk came after the content.
    const usage = this.#usage ?? { input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 0 }
    emit('message_delta', JSON.stringify({ type: 'message_delta', delta: { stop_reason: stop.reason, stop_sequence: stop.sequence }, usage }))
    emit('message_stop', '{"type":"message_stop"}')
  }

  #start(chunk: Json, emit: EmitEvent): void {
    if (this.#started) return
    this.#started = true
    const usage = usageOf(chunk.usage) ?? { input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 0 }
    const message = {
      id: typeof chunk.id === 'string' && chunk.id !== '' ? chunk.id : `msg_${this.#requestId}`,
      type: 'message',
      role: 'assistant',
      content: [],
      model: typeof chunk.model === 'string' && chunk.model !== '' ? chunk.model : this.#model,
      stop_reason: null,
      stop_sequence: null,
      usage: { ...usage, cache_creation_input_tokens: 0 },
    }
    emit('message_start', JSON.stringify({ type: 'message_start', message }))
  }

  /**
   * A delta (its JSON, built by the caller around the one string that needs escaping: this runs once per
   * token) for a text or thinking block; opens one when the open block is of another kind.
   */
  #delta(emit: EmitEvent, kind: 'thinking' | 'text', deltaJson: string): void {
    if (this.#openKind !== kind) {
      this.#close(emit)
      this.#openBlock(emit, kind, kind === 'text' ? { type: 'text', text: '' } : { type: 'thinking', thinking: '' })
    }
    emit('content_block_delta', `{"type":"content_block_delta","index":${this.#open},"delta":${deltaJson}}`)
  }

  #toolCall(emit: EmitEvent, call: Json): void {
    const index = typeof call.index === 'number' ? call.index : 0
    const fn = isObject(call.function) ? call.function : {}
    const id = typeof call.id === 'string' && call.id !== '' ? call.id : undefined
    let current = this.#calls.get(index)
    if (!current || (id !== undefined && id !== current.id)) {
      this.#close(emit)
      const name = typeof fn.name === 'string' ? fn.name : ''
      const toolId = id ?? `toolu_${this.#requestId}_${this.#blocks}`
      this.#openBlock(emit, 'tool_use', { type: 'tool_use', id: toolId, name, input: {} })
      current = { id: toolId, block: this.#open }
      this.#calls.set(index, current)
    }
    const args = typeof fn.arguments === 'string' ? fn.arguments : ''
    // A fragment for a call whose block has closed (calls interleaved) has nowhere to go in Anthropic's
    // one-block-at-a-time stream; servers do not interleave, so it is not expected.
    if (args !== '' && current.block === this.#open) {
      emit('content_block_delta', JSON.stringify({ type: 'content_block_delta', index: current.block, delta: { type: 'input_json_delta', partial_json: args } }))
    }
  }

  #openBlock(emit: EmitEvent, kind: BlockKind, block: Json): void {
    this.#open = this.#blocks++
    this.#openKind = kind
    emit('content_block_start', JSON.stringify({ type: 'content_block_start', index: this.#open, content_block: block }))
  }

  #close(emit: EmitEvent): void {
    if (this.#open < 0) return
    emit('content_block_stop', JSON.stringify({ type: 'content_block_stop', index: this.#open }))
    this.#open = -1
    this.#openKind = undefined
  }

  /** An error ends the client's stream: `event: error` is the last thing it gets. */
  #fail(emit: EmitEvent, type: string, message: string): void {
    this.#finished = true
    emit('error', streamErrorData(type, message, this.#requestId))
  }
}
