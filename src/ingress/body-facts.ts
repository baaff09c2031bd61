/**
 * What routing rules ask about a request's shape (CONTRACT §8): thinking on or off, its tools' names and
 * types, whether it carries an image. Read from the top-level member spans the ingress's one validating
 * pass already found (sniff.ts), each only when a rule asks and at most once: no second parse of the body.
 * `thinking` is a few bytes; the tools' names and types are where that pass noted them (json-scan.ts
 * skipTools); images are a native byte search of `messages` first (the token `"image"` can only occur
 * as a whole string there, never inside one: a quote in a string is escaped), and only a hit is
 * confirmed block by block.
 */
import { findMember, memberValue, scanObject, trustedElements } from '../shared/json-scan.js'
import type { MemberSpan } from '../shared/json-scan.js'

const IMAGE_TOKEN = Buffer.from('"image"')

/** A small string member of the object at `[start, end)` of `body`. */
function stringMember(body: Buffer, start: number, end: number, key: string): string | undefined {
  const object = body.subarray(start, end)
  const scan = scanObject(object, { trusted: true })
  if (!scan.ok) return undefined
  const member = findMember(object, scan.members, key)
  const value = member && member.valueEnd - member.valueStart < 512 ? memberValue(object, member) : undefined
  return typeof value === 'string' ? value : undefined
}

/** The `content` member of the object at `[start, end)`, as a span of `body`. */
function contentSpan(body: Buffer, start: number, end: number): number | undefined {
  const object = body.subarray(start, end)
  const scan = scanObject(object, { trusted: true })
  if (!scan.ok) return undefined
  const member = findMember(object, scan.members, 'content')
  return member ? start + member.valueStart : undefined
}

/** An image block among the content blocks of the array at `at`, or inside a tool_result among them. */
function blocksHaveImage(body: Buffer, at: number, depth: number): boolean {
  for (const [s, e] of trustedElements(body, at)) {
    const type = stringMember(body, s, e, 'type')
    if (type === 'image') return true
    if (type === 'tool_result' && depth === 0) {
      const inner = contentSpan(body, s, e)
      if (inner !== undefined && blocksHaveImage(body, inner, 1)) return true
    }
  }
  return false
}

/** Read lazily: one object per request, and nothing read until a rule asks. */
export class BodyFacts {
  readonly #body: Buffer
  readonly #members: readonly MemberSpan[]
  readonly #toolFields: readonly number[]
  #thinking: boolean | undefined
  #tools: readonly string[] | undefined
  #images: boolean | undefined

  constructor(body: Buffer, members: readonly MemberSpan[], toolFields: readonly number[]) {
    this.#body = body
    this.#members = members
    this.#toolFields = toolFields
  }

  /** `thinking.type` is `enabled` or `adaptive`. */
  thinking(): boolean {
    if (this.#thinking === undefined) {
      const member = findMember(this.#body, this.#members, 'thinking')
      const value = member ? memberValue(this.#body, member) : undefined
      const type = value !== null && typeof value === 'object' ? (value as { type?: unknown }).type : undefined
      this.#thinking = type === 'enabled' || type === 'adaptive'
    }
    return this.#thinking
  }

  /** Every tool's `name` and `type`, as given. */
  tools(): readonly string[] {
    if (this.#tools === undefined) {
      // Where the tools' names and types are, the validating pass noted (json-scan.ts skipTools).
      const spans = this.#toolFields
      const found: string[] = []
      for (let k = 0; k < spans.length; k += 2) {
        const value = memberValue(this.#body, { keyStart: 0, keyEnd: 0, valueStart: spans[k]!, valueEnd: spans[k + 1]! })
        if (typeof value === 'string') found.push(value)
      }
      this.#tools = found
    }
    return this.#tools
  }

  /** Some message's content (or a tool result inside it) has an `image` block. */
  images(): boolean {
    if (this.#images === undefined) {
      const body = this.#body
      const member = findMember(body, this.#members, 'messages')
      const hit = member ? body.indexOf(IMAGE_TOKEN, member.valueStart) : -1
      this.#images = false
      if (member && hit !== -1 && hit < member.valueEnd) {
        for (const [s, e] of trustedElements(body, member.valueStart)) {
          const content = contentSpan(body, s, e)
          if (content !== undefined && blocksHaveImage(body, content, 0)) {
            this.#images = true
            break
          }
        }
      }
    }
    return this.#images
  }
}
