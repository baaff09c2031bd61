/**
 * What the ingress needs from a request body before routing: `model`, `stream`, `max_tokens`, and where
 * the model sits so a worker can replace just those bytes. One validating pass, no object tree.
 */
import { relayError } from '../shared/errors.js'
import type { RelayErrorData } from '../shared/errors.js'
import { findMember, memberValue, scanObject } from '../shared/json-scan.js'

export type Sniffed =
  | {
      readonly ok: true
      readonly model: string
      readonly modelSpan: readonly [number, number]
      readonly stream: boolean
      readonly maxTokens: number | undefined
      /** `metadata.user_id`, read only when asked (it carries Claude Code's session when no header does). */
      readonly userId: () => unknown
    }
  | { readonly ok: false; readonly error: RelayErrorData }

export function sniffBody(body: Buffer): Sniffed {
  const scan = scanObject(body)
  if (!scan.ok) return { ok: false, error: relayError('invalid_json', `request body is not valid JSON: ${scan.error}`) }
  const model = findMember(body, scan.members, 'model')
  const modelValue = model && memberValue(body, model)
  if (!model || typeof modelValue !== 'string' || modelValue === '') {
    return { ok: false, error: relayError('invalid_field', 'model: a non-empty string is required') }
  }
  const stream = findMember(body, scan.members, 'stream')
  const streamValue = stream ? memberValue(body, stream) : false
  if (typeof streamValue !== 'boolean') return { ok: false, error: relayError('invalid_field', 'stream: must be a boolean') }
  const metadata = findMember(body, scan.members, 'metadata')
  const maxTokens = findMember(body, scan.members, 'max_tokens')
  const maxTokensValue = maxTokens ? memberValue(body, maxTokens) : undefined
  return {
    ok: true,
    model: modelValue,
    modelSpan: [model.valueStart, model.valueEnd],
    stream: streamValue,
    maxTokens: typeof maxTokensValue === 'number' ? maxTokensValue : undefined,
    userId: () => {
      const value = metadata ? memberValue(body, metadata) : undefined
      return value && typeof value === 'object' ? (value as { user_id?: unknown }).user_id : undefined
    },
  }
}
