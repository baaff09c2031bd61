/**
 * The stream translator's fast path (issue 14's CPU goal). Almost every chunk of a Chat Completions
 * stream carries one piece of text, reasoning or tool-call arguments, and the chunks of one stream differ
 * only in that one string: `{"id":"chatcmpl-1","object":…,"model":…,"choices":[{"index":0,"delta":
 * {"content":"<piece>"},"finish_reason":null}]}`. Parsing each into objects and escaping the piece again
 * was a third of the worker thread's time.
 *
 * So the first chunk of each shape is parsed in full, and its text around the piece — its envelope — is
 * kept. A later chunk that is that envelope around exactly one valid JSON string token means what the
 * parsed one meant with that string in its place, and the token is copied into the Anthropic event as it
 * is (it is already valid JSON). Why that holds: a string token replaced by another string token leaves
 * the rest of the document parsing the same way; learning checks that the piece's slot is the value the
 * translator reads (a probe string put there comes back as the piece, and nowhere else), and that
 * nothing else in the chunk asks anything of the translator (no usage, error, finish reason or second
 * piece). Anything else — a chunk of another shape, whitespace, a long or unusual token — takes the
 * full parse. test/plugins/openai-envelope.test.ts checks both paths give the same events.
 */
import { isObject } from './request.js'
import type { Json } from './request.js'
import { usageOf } from './common.js'

export type PieceKind = 'text' | 'thinking' | 'args'

/** One piece of streamed content a parsed chunk carries, and nothing else. */
export interface Piece {
  readonly kind: PieceKind
  readonly value: string
  /** The member that holds it: `content`, `reasoning`, `reasoning_content` or `arguments`. */
  readonly key: string
  /** The tool call's `index` (args only; 0 otherwise). */
  readonly index: number
}

export interface Envelope {
  readonly prefix: string
  readonly suffix: string
  readonly kind: PieceKind
  readonly index: number
}

/** One JSON string token (RFC 8259 §7). Bounded below: the regex engine backtracks per repetition. */
const STRING_TOKEN = /^"(?:[^"\\\u0000-\u001f]+|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"$/
const MAX_FAST_TOKEN = 8192
const PROBE_VALUE = 'cc-relay envelope probe \u2603'
const PROBE = JSON.stringify(PROBE_VALUE)
const MAX_ENVELOPES = 4

/** Reasoning text a delta carries, whichever field the server uses. */
export function reasoningOf(delta: Json): string {
  if (typeof delta.reasoning === 'string') return delta.reasoning
  if (typeof delta.reasoning_content === 'string') return delta.reasoning_content
  if (Array.isArray(delta.reasoning_details)) {
    return delta.reasoning_details.map((d: unknown) => (isObject(d) && typeof d.text === 'string' ? d.text : '')).join('')
  }
  return ''
}

/**
 * The piece a parsed chunk carries when that is all it asks of the translator (stream.ts reads nothing
 * else from such a chunk once the stream has started); undefined otherwise.
 */
export function pieceOf(chunk: unknown): Piece | undefined {
  if (!isObject(chunk) || (chunk.error !== undefined && chunk.error !== null) || usageOf(chunk.usage)) return undefined
  const choice = Array.isArray(chunk.choices) ? chunk.choices[0] : undefined
  if (!isObject(choice) || typeof choice.finish_reason === 'string') return undefined
  const delta = isObject(choice.delta) ? choice.delta : {}
  const reasoning = reasoningOf(delta)
  const content = typeof delta.content === 'string' ? delta.content : ''
  const calls = Array.isArray(delta.tool_calls) ? delta.tool_calls : []
  if (reasoning !== '' && content === '' && calls.length === 0) {
    const key = typeof delta.reasoning === 'string' ? 'reasoning' : typeof delta.reasoning_content === 'string' ? 'reasoning_content' : undefined
    return key ? { kind: 'thinking', value: reasoning, key, index: 0 } : undefined
  }
  if (content !== '' && reasoning === '' && calls.length === 0) return { kind: 'text', value: content, key: 'content', index: 0 }
  if (reasoning !== '' || content !== '' || calls.length !== 1) return undefined
  const call: unknown = calls[0]
  if (!isObject(call) || (typeof call.id === 'string' && call.id !== '') || !isObject(call.function)) return undefined
  const args = call.function.arguments
  if (typeof args !== 'string' || args === '') return undefined
  return { kind: 'args', value: args, key: 'arguments', index: typeof call.index === 'number' ? call.index : 0 }
}

/** The offset just after the string token that opens at `start`, or -1. */
function tokenEnd(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x5c) i++
    else if (c === 0x22) return i + 1
  }
  return -1
}

/**
 * The envelopes one stream has shown, the last one matched first: a stream sends its reasoning, then its
 * text, then its tool calls, each as a run of chunks of one shape.
 */
export class EnvelopeMemo {
  readonly #envelopes: Envelope[] = []

  /** The envelope `data` is, and the string token it wraps; undefined when it is none of them. */
  match(data: string): { readonly envelope: Envelope; readonly token: string } | undefined {
    const envelopes = this.#envelopes
    for (let i = 0; i < envelopes.length; i++) {
      const envelope = envelopes[i]!
      const { prefix, suffix } = envelope
      const length = data.length - prefix.length - suffix.length
      // Slices compared with ===, not startsWith/endsWith: V8 compares flat strings with memcmp, while
      // startsWith went a character at a time (450 ns against 40 for a 141-character envelope).
      if (length < 2 || length > MAX_FAST_TOKEN || data.slice(0, prefix.length) !== prefix) continue
      const end = data.length - suffix.length
      if (data.slice(end) !== suffix) continue
      const token = data.slice(prefix.length, end)
      if (!STRING_TOKEN.test(token)) continue
      if (i > 0) {
        envelopes[i] = envelopes[0]!
        envelopes[0] = envelope
      }
      return { envelope, token }
    }
    return undefined
  }

  /** `data` parsed to `piece`: keep its envelope when the checks in the header hold. */
  learn(data: string, piece: Piece): void {
    if (data.includes(PROBE_VALUE)) return
    const marker = `"${piece.key}":`
    const at = data.lastIndexOf(marker)
    if (at === -1) return
    const start = at + marker.length
    if (data.charCodeAt(start) !== 0x22) return
    const end = tokenEnd(data, start)
    if (end === -1) return
    const prefix = data.slice(0, start)
    const suffix = data.slice(end)
    let probe: Piece | undefined
    try {
      probe = pieceOf(JSON.parse(prefix + PROBE + suffix))
    } catch {
      return
    }
    if (!probe || probe.kind !== piece.kind || probe.key !== piece.key || probe.index !== piece.index || probe.value !== PROBE_VALUE) return
    // First: the chunks after this one are most likely of its shape. The least recently matched goes.
    this.#envelopes.unshift({ prefix, suffix, kind: piece.kind, index: piece.index })
    if (this.#envelopes.length > MAX_ENVELOPES) this.#envelopes.pop()
  }
}
