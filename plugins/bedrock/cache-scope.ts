/**
 * Removes the `scope` member of every `cache_control` object in a request body, on bytes: every other
 * byte stays as the client sent it (no JSON round trip, so no number or escape is rewritten inside
 * messages, thinking blocks or tool inputs).
 *
 * Evidence: Claude Code sends `cache_control: {"type":"ephemeral","scope":…}` with the
 * `prompt-caching-scope-2026-01-05` beta; Bedrock accepts only `type` and `ttl` in `cache_control`
 * and rejects `scope` (wire-protocols §1.3; LL-BR `_remove_ttl_from_cache_control`: "Bedrock only
 * supports `type` and `ttl` in cache_control. It does NOT support: `scope` … always removed"). The beta
 * itself is not on Bedrock's list (betas.ts), so the field would be meaningless there anyway.
 */

const QUOTE = 0x22
const BACKSLASH = 0x5c
const COLON = 0x3a
const COMMA = 0x2c
const OPEN_OBJECT = 0x7b
const CLOSE_OBJECT = 0x7d
const OPEN_ARRAY = 0x5b
const CLOSE_ARRAY = 0x5d

const CACHE_CONTROL = Buffer.from('cache_control')
const SCOPE = Buffer.from('scope')
const SCOPE_KEY = Buffer.from('"scope"')

function isSpace(c: number | undefined): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09
}

function skipSpace(b: Buffer, i: number): number {
  while (i < b.length && isSpace(b[i])) i++
  return i
}

/** `i` at an opening quote → the index after the closing quote (indexOf does the scanning). */
function skipString(b: Buffer, i: number): number {
  let from = i + 1
  for (;;) {
    const q = b.indexOf(QUOTE, from)
    if (q < 0) return b.length
    // Escaped when preceded by an odd run of backslashes.
    let k = q - 1
    while (k > i && b[k] === BACKSLASH) k--
    if ((q - 1 - k) % 2 === 0) return q + 1
    from = q + 1
  }
}

/** `i` at the first byte of a value → the index after it. */
function skipValue(b: Buffer, i: number): number {
  const c = b[i]
  if (c === QUOTE) return skipString(b, i)
  if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
    let depth = 0
    while (i < b.length) {
      const d = b[i]
      if (d === QUOTE) {
        i = skipString(b, i)
        continue
      }
      if (d === OPEN_OBJECT || d === OPEN_ARRAY) depth++
      else if (d === CLOSE_OBJECT || d === CLOSE_ARRAY) {
        depth--
        if (depth === 0) return i + 1
      }
      i++
    }
    return i
  }
  // A number or a literal: up to the next delimiter.
  while (i < b.length && b[i] !== COMMA && b[i] !== CLOSE_OBJECT && b[i] !== CLOSE_ARRAY && !isSpace(b[i])) i++
  return i
}

function keyIs(b: Buffer, start: number, end: number, name: Buffer): boolean {
  // start/end bound the key including its quotes.
  return end - start - 2 === name.length && b.compare(name, 0, name.length, start + 1, end - 1) === 0
}

interface Member {
  readonly start: number
  readonly end: number
  readonly isScope: boolean
}

/**
 * The object that opens at `open`: when it has `scope` members, one replacement of the whole object by
 * its other members, each member's bytes unchanged (only the separators between members are rewritten).
 */
function scopeCut(b: Buffer, open: number, cuts: Cut[]): void {
  const members: Member[] = []
  let i = skipSpace(b, open + 1)
  while (i < b.length && b[i] === QUOTE) {
    const keyEnd = skipString(b, i)
    const colon = skipSpace(b, keyEnd)
    if (b[colon] !== COLON) return
    const valueEnd = skipValue(b, skipSpace(b, colon + 1))
    members.push({ start: i, end: valueEnd, isScope: keyIs(b, i, keyEnd, SCOPE) })
    i = skipSpace(b, valueEnd)
    if (b[i] !== COMMA) break
    i = skipSpace(b, i + 1)
  }
  // Anything but the object's end here is not JSON this walker understands: leave it alone.
  if (b[i] !== CLOSE_OBJECT) return
  const removed = members.filter((m) => m.isScope).length
  if (removed === 0) return
  const kept = members.filter((m) => !m.isScope).map((m) => b.subarray(m.start, m.end))
  const joined: Buffer[] = [Buffer.from('{')]
  kept.forEach((m, index) => joined.push(...(index ? [Buffer.from(','), m] : [m])))
  joined.push(Buffer.from('}'))
  cuts.push({ start: open, end: i + 1, insert: Buffer.concat(joined), removed })
}

interface Cut {
  readonly start: number
  readonly end: number
  readonly insert: Buffer
  readonly removed: number
}

/** The body without `cache_control.scope` members, and how many were removed. */
export function stripCacheControlScope(body: Uint8Array): { body: Uint8Array; removed: number } {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength)
  // Fast path: nearly every request has no scope at all.
  if (b.indexOf(SCOPE_KEY) < 0) return { body, removed: 0 }
  const cuts: Cut[] = []
  let i = 0
  for (;;) {
    // Outside strings, only a quote can start a key: jump from one to the next.
    i = b.indexOf(QUOTE, i)
    if (i < 0) break
    const end = skipString(b, i)
    if (keyIs(b, i, end, CACHE_CONTROL)) {
      const colon = skipSpace(b, end)
      if (b[colon] === COLON) {
        const value = skipSpace(b, colon + 1)
        const before = cuts.length
        if (b[value] === OPEN_OBJECT) scopeCut(b, value, cuts)
        // Past a rewritten object: cuts never overlap.
        if (cuts.length > before) {
          i = cuts[cuts.length - 1]!.end
          continue
        }
      }
    }
    i = end
  }
  if (cuts.length === 0) return { body, removed: 0 }
  const parts: Buffer[] = []
  let from = 0
  let removed = 0
  for (const cut of cuts) {
    parts.push(b.subarray(from, cut.start), cut.insert)
    from = cut.end
    removed += cut.removed
  }
  parts.push(b.subarray(from))
  return { body: Buffer.concat(parts), removed }
}
