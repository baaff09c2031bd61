/**
 * A whole (non-streaming) Chat Completions answer → an Anthropic message (issue 14): reasoning as a
 * `thinking` block, then the text, then one `tool_use` block per tool call with its arguments parsed.
 */
import type { MappedError } from '../sdk.js'
import { errorMessageOf, stopReasonOf, usageOf } from './common.js'
import { isObject } from './request.js'
import type { Json } from './request.js'

const badAnswer = (message: string): MappedError => ({ status: 502, type: 'api_error', message })

/** Tool arguments as the object Anthropic's `input` is; arguments that are not a JSON object are kept as text. */
function inputOf(args: unknown): unknown {
  if (typeof args !== 'string' || args.trim() === '') return {}
  try {
    const parsed: unknown = JSON.parse(args)
    return isObject(parsed) ? parsed : { arguments: args }
  } catch {
    return { arguments: args }
  }
}

export function wholeMessage(text: string, model: string, requestId: string, stopSequences: readonly string[]): string | MappedError {
  let answer: unknown
  try {
    answer = JSON.parse(text)
  } catch {
    return badAnswer(`the upstream's answer is not JSON: ${text.slice(0, 200)}`)
  }
  if (!isObject(answer)) return badAnswer('the upstream answered with something other than a JSON object')
  // Some servers (OpenRouter among them) report a failed generation as a 200 carrying an error object.
  if (answer.error !== undefined && answer.error !== null) return badAnswer(errorMessageOf(answer.error))
  const choice = Array.isArray(answer.choices) && isObject(answer.choices[0]) ? answer.choices[0] : undefined
  if (!choice) return badAnswer('the upstream answered without a choice')
  const message: Json = isObject(choice.message) ? choice.message : {}
  const content: Json[] = []
  const reasoning = [message.reasoning, message.reasoning_content].find((r): r is string => typeof r === 'string' && r !== '')
  if (reasoning !== undefined) content.push({ type: 'thinking', thinking: reasoning, signature: '' })
  if (typeof message.content === 'string' && message.content !== '') content.push({ type: 'text', text: message.content })
  if (Array.isArray(message.tool_calls)) {
    message.tool_calls.forEach((call: unknown, i) => {
      if (!isObject(call)) return
      const fn = isObject(call.function) ? call.function : {}
      const id = typeof call.id === 'string' && call.id !== '' ? call.id : `toolu_${requestId}_${i}`
      content.push({ type: 'tool_use', id, name: typeof fn.name === 'string' ? fn.name : '', input: inputOf(fn.arguments) })
    })
  }
  const stop = stopReasonOf(choice, stopSequences)
  const usage = usageOf(answer.usage) ?? { input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 0 }
  return JSON.stringify({
    id: typeof answer.id === 'string' && answer.id !== '' ? answer.id : `msg_${requestId}`,
    type: 'message',
    role: 'assistant',
    model: typeof answer.model === 'string' && answer.model !== '' ? answer.model : model,
    content,
    stop_reason: stop.reason,
    stop_sequence: stop.sequence,
    usage: { ...usage, cache_creation_input_tokens: 0 },
  })
}
