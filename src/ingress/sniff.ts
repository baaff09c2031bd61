/**
 * What the ingress needs from a request body before routing: `model`, `stream`, `max_tokens`, and where
 * the model sits so a worker can replace just those bytes. One validating pass, no object tree: what
 * passes here is valid UTF-8 JSON (CONTRACT §6), so nothing malformed reaches an upstream.
 */
import { relayError } from '../shared/errors.js'
import type { RelayErrorData } from '../shared/errors.js'
import { findMembers, memberValue, scanObject } from '../shared/json-scan.js'
import type { MemberSpan } from '../shared/json-scan.js'
import { BodyFacts } from './body-facts.js'

export type Sniffed =
  | {
      readonly ok: true
      readonly model: string
      readonly modelSpan: readonly [number, number]
      readonly stream: boolean
      readonly maxTokens: number | undefined
      /** `metadata.user_id`, read only when asked (it carries Claude Code's session when no header does). */
      readonly userId: () => unknown
      /** What routing rules ask about the body's shape, read from this pass's spans when asked. */
      readonly facts: BodyFacts
    }
  | { readonly ok: false; readonly error: RelayErrorData }

type Found = { readonly ok: true; readonly member: MemberSpan | undefined } | { readonly ok: false; readonly error: RelayErrorData }

/**
 * The one member named `key`. A repeated routing field is refused: the relay would route on the first
 * while most JSON parsers upstream take the last, so a request could be served as a model it never
 * asked the relay for.
 */
function only(body: Buffer, members: readonly MemberSpan[], key: string): Found {
  const found = findMembers(body, members, key)
  if (found.length > 1) return { ok: false, error: relayError('invalid_field', `${key}: appears ${found.length} times`) }
  return { ok: true, member: found[0] }
}

export function sniffBody(body: Buffer): Sniffed {
  const scan = scanObject(body)
  if (!scan.ok) return { ok: false, error: relayError('invalid_json', `request body is not valid JSON: ${scan.error}`) }
  const model = only(body, scan.members, 'model')
  if (!model.ok) return model
  const modelValue = model.member && memberValue(body, model.member)
  if (!model.member || typeof modelValue !== 'string' || modelValue === '') {
    return { ok: false, error: relayError('invalid_field', 'model: a non-empty string is required') }
  }
  const stream = only(body, scan.members, 'stream')
  if (!stream.ok) return stream
  const streamValue = stream.member ? memberValue(body, stream.member) : false
  if (typeof streamValue !== 'boolean') return { ok: false, error: relayError('invalid_field', 'stream: must be a boolean') }
  const maxTokens = only(body, scan.members, 'max_tokens')
  if (!maxTokens.ok) return maxTokens
  const maxTokensValue = maxTokens.member ? memberValue(body, maxTokens.member) : undefined
  const metadata = only(body, scan.members, 'metadata')
  if (!metadata.ok) return metadata
  const metadataMember = metadata.member
  return {
    ok: true,
    model: modelValue,
    modelSpan: [model.member.valueStart, model.member.valueEnd],
    stream: streamValue,
    maxTokens: typeof maxTokensValue === 'number' ? maxTokensValue : undefined,
    userId: () => {
      const value = metadataMember ? memberValue(body, metadataMember) : undefined
      return value && typeof value === 'object' ? (value as { user_id?: unknown }).user_id : undefined
    },
    facts: new BodyFacts(body, scan.members, scan.toolFields),
  }
}
