/**
 * What the streamed and the whole translation share: stop reasons, usage, and the error envelope.
 */
import { isObject } from './request.js'
import type { Json } from './request.js'

export interface AnthropicUsage {
  input_tokens: number
  cache_read_input_tokens: number
  output_tokens: number
}

const count = (value: unknown): number => (typeof value === 'number' && Number.isFinite(value) && value > 0 ? Math.floor(value) : 0)

/** OpenAI usage → Anthropic's: cached prompt tokens are cache reads, the rest of the prompt is input. */
export function usageOf(usage: unknown): AnthropicUsage | undefined {
  if (!isObject(usage)) return undefined
  const prompt = count(usage.prompt_tokens)
  const cached = Math.min(prompt, count(isObject(usage.prompt_tokens_details) ? usage.prompt_tokens_details.cached_tokens : undefined))
  return { input_tokens: prompt - cached, cache_read_input_tokens: cached, output_tokens: count(usage.completion_tokens) }
}

export interface StopReason {
  readonly reason: string
  readonly sequence: string | null
}

/**
 * `finish_reason` → `stop_reason`. A stop sequence the backend names (vLLM's `stop_reason`, SGLang's
 * `matched_stop`) among the request's own becomes `stop_sequence` with it.
 */
export function stopReasonOf(choice: Json, stopSequences: readonly string[]): StopReason {
  const named = [choice.stop_reason, choice.matched_stop].find((s): s is string => typeof s === 'string')
  switch (choice.finish_reason) {
    case 'length':
      return { reason: 'max_tokens', sequence: null }
    case 'tool_calls':
    case 'function_call':
      return { reason: 'tool_use', sequence: null }
    case 'content_filter':
      return { reason: 'refusal', sequence: null }
    default:
      return named !== undefined && stopSequences.includes(named) ? { reason: 'stop_sequence', sequence: named } : { reason: 'end_turn', sequence: null }
  }
}

/** The message of an OpenAI-style error object (`{error: {message}}`, a bare string, or anything else). */
export function errorMessageOf(error: unknown): string {
  if (typeof error === 'string') return error
  if (isObject(error) && typeof error.message === 'string') return error.message
  return JSON.stringify(error) ?? 'unknown error'
}

/** Anthropic's error event data, for an error that arrives inside a stream. */
export function streamErrorData(type: string, message: string, requestId: string): string {
  return JSON.stringify({ type: 'error', error: { type, message }, request_id: requestId })
}
