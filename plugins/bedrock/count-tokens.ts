/**
 * Bedrock's CountTokens for `POST /v1/messages/count_tokens` (AWS-CT, API_runtime_CountTokens;
 * wire-protocols §3.7):
 *
 * - `POST {base}/model/{modelId}/count-tokens`, SigV4-signed for `bedrock` like InvokeModel, with
 *   `{"input":{"invokeModel":{"body":"<base64 of the InvokeModel body>"}}}`. The InvokeModel body is
 *   the one the plugin builds for `/invoke` (request.ts), with `max_tokens` added when the client's
 *   count_tokens body has none: Bedrock validates it against the Messages schema, which requires it.
 * - The answer is `200 {"inputTokens":N}`; the client gets Anthropic's `{"input_tokens":N}`.
 *   Errors are Bedrock's usual restJson1 errors, mapped by errors.ts like any other.
 */
import type { BodyTools, EmitEvent, MappedError, ResponseTranslator, SseEvent } from '../sdk.js'
import { streamErrorData } from './errors.js'

/** The last path segment of the CountTokens operation. */
export const COUNT_TOKENS_ACTION = 'count-tokens'

const ENVELOPE_START = Buffer.from('{"input":{"invokeModel":{"body":"')
const ENVELOPE_END = Buffer.from('"}}}')

/** `thinking.budget_tokens` when thinking is enabled with a budget. */
function thinkingBudget(thinking: unknown): number | undefined {
  if (typeof thinking !== 'object' || thinking === null) return undefined
  const budget = (thinking as { budget_tokens?: unknown }).budget_tokens
  return typeof budget === 'number' && Number.isInteger(budget) && budget > 0 ? budget : undefined
}

/**
 * The InvokeModel body needs `max_tokens`; a count_tokens body has none (Anthropic's count_tokens
 * takes no `max_tokens`). The value does not change the count. With extended thinking the Messages
 * API also requires `max_tokens` > `budget_tokens`, so one more than the budget is sent then.
 */
export function withMaxTokens(body: Uint8Array, tools: BodyTools): Uint8Array {
  if (tools.getField(body, 'max_tokens') !== undefined) return body
  const budget = thinkingBudget(tools.getField(body, 'thinking'))
  return tools.setField(body, 'max_tokens', String(budget === undefined ? 1 : budget + 1))
}

/**
 * `{"input":{"invokeModel":{"body":"<base64>"}}}` around the InvokeModel body's exact bytes. Base64 is
 * plain ASCII with nothing JSON must escape, so the envelope is written, not serialised.
 */
export function countTokensEnvelope(invokeBody: Uint8Array): Uint8Array {
  const base64 = Buffer.from(invokeBody.buffer, invokeBody.byteOffset, invokeBody.byteLength).toString('base64')
  return Buffer.concat([ENVELOPE_START, Buffer.from(base64, 'latin1'), ENVELOPE_END])
}

/** The count in Bedrock's answer, when it is one. */
function inputTokensOf(body: string): number | undefined {
  let json: unknown
  try {
    json = JSON.parse(body)
  } catch {
    return undefined
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return undefined
  const count = (json as { inputTokens?: unknown }).inputTokens
  return typeof count === 'number' && Number.isSafeInteger(count) && count >= 0 ? count : undefined
}

/**
 * Bedrock's `{"inputTokens":N}` → Anthropic's `{"input_tokens":N}`. A 200 without a count is the
 * upstream's fault, not the client's: `api_error`, so the relay may fail over to another provider.
 */
export function anthropicCount(body: string): string | MappedError {
  const count = inputTokensOf(body)
  if (count !== undefined) return `{"input_tokens":${count}}`
  return { status: 500, type: 'api_error', message: `Bedrock CountTokens answered without an inputTokens count: ${body.slice(0, 200)}` }
}

/**
 * The response side of one count_tokens request. CountTokens answers one JSON document, which the core
 * reads whole and hands to `onWhole` to rewrite (in the worker, before the client sees it). It never
 * streams: an event stream in its place is an upstream fault, sent as one `error` event.
 */
export class CountTokensTranslator implements ResponseTranslator {
  readonly #requestId: string
  #failed = false

  constructor(requestId: string) {
    this.#requestId = requestId
  }

  onWhole(body: string): string | MappedError {
    return anthropicCount(body)
  }

  onEvent(_frame: SseEvent, emit: EmitEvent): void {
    if (this.#failed) return
    this.#failed = true
    const message = 'Bedrock CountTokens answered with an event stream instead of a count'
    emit('error', streamErrorData('internalServerException', JSON.stringify({ message }), this.#requestId))
  }
}
