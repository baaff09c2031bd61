/**
 * A validating, non-allocating scan of a JSON object's top level.
 *
 * The relay needs a handful of top-level fields (`model`, `stream`, `max_tokens`) and must edit a few
 * (the mapped model) while passing every other byte through untouched (DESIGN principle 1). Parsing the
 * whole body into objects would cost time and memory on the main thread for every request, and
 * re-serialising it would reorder or reformat what the client sent. So this walks the bytes once, checks
 * the JSON grammar, and reports where each top-level member sits. String contents are skipped with the
 * native `indexOf`, so a long conversation costs little more than a memchr over its text.
 */

const QUOTE = 0x22
const BACKSLASH = 0x5c
const MAX_DEPTH = 512

/** Byte offsets of one top-level member: `"key": value`. */
export interface MemberSpan {
  /** Offset of the key's opening quote. */
  readonly keyStart: number
  /** Offset just after the key's closing quote. */
  readonly keyEnd: number
  readonly valueStart: number
  readonly valueEnd: number
}

export type ScanResult = { readonly ok: true; readonly members: readonly MemberSpan[] } | { readonly ok: false; readonly error: string }

export class JsonSyntaxError extends Error {}

function fail(what: string, at: number): never {
  throw new JsonSyntaxError(`${what} at byte ${at}`)
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** The offset of the first non-whitespace byte at or after `i`. */
export function skipWs(b: Buffer, i: number): number {
  for (;;) {
    const c = b[i]
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++
    else return i
  }
}

/** `b[i]` is an opening quote; returns the offset after the closing one. */
export function skipString(b: Buffer, i: number): number {
  let from = i + 1
  for (;;) {
    const q = b.indexOf(QUOTE, from)
    if (q < 0) fail('unterminated string', i)
    let k = q - 1
    while (b[k] === BACKSLASH) k--
    // An even number of backslashes before the quote means it is not escaped.
    if ((q - 1 - k) % 2 === 0) return q + 1
    from = q + 1
  }
}

function skipNumber(b: Buffer, i: number): number {
  const start = i
  if (b[i] === 0x2d) i++
  const digits = (): void => {
    const s = i
    while ((b[i] ?? 0) >= 0x30 && (b[i] ?? 0) <= 0x39) i++
    if (i === s) fail('invalid number', start)
  }
  if (b[i] === 0x30) i++
  else digits()
  if (b[i] === 0x2e) {
    i++
    digits()
  }
  if (b[i] === 0x65 || b[i] === 0x45) {
    i++
    if (b[i] === 0x2b || b[i] === 0x2d) i++
    digits()
  }
  return i
}

function skipLiteral(b: Buffer, i: number, word: string): number {
  for (let k = 0; k < word.length; k++) if (b[i + k] !== word.charCodeAt(k)) fail('invalid literal', i)
  return i + word.length
}

function skipValue(b: Buffer, i: number, depth: number): number {
  switch (b[i]) {
    case QUOTE:
      return skipString(b, i)
    case 0x7b:
      return skipContainer(b, i, depth, 0x7d, true)
    case 0x5b:
      return skipContainer(b, i, depth, 0x5d, false)
    case 0x74:
      return skipLiteral(b, i, 'true')
    case 0x66:
      return skipLiteral(b, i, 'false')
    case 0x6e:
      return skipLiteral(b, i, 'null')
    default:
      if (b[i] === 0x2d || ((b[i] ?? 0) >= 0x30 && (b[i] ?? 0) <= 0x39)) return skipNumber(b, i)
      return i >= b.length ? fail('unexpected end', i) : fail('unexpected character', i)
  }
}

function skipContainer(b: Buffer, i: number, depth: number, close: number, isObject: boolean): number {
  if (depth >= MAX_DEPTH) fail('nesting too deep', i)
  i = skipWs(b, i + 1)
  if (b[i] === close) return i + 1
  for (;;) {
    if (isObject) {
      if (b[i] !== QUOTE) fail('expected a key', i)
      i = skipWs(b, skipString(b, i))
      if (b[i] !== 0x3a) fail('expected ":"', i)
      i = skipWs(b, i + 1)
    }
    i = skipWs(b, skipValue(b, i, depth + 1))
    if (b[i] === close) return i + 1
    if (b[i] !== 0x2c) fail('expected "," or a closing bracket', i)
    i = skipWs(b, i + 1)
  }
}

/** Checks that `bytes` is one JSON object and returns the spans of its top-level members. */
export function scanObject(bytes: Uint8Array): ScanResult {
  const b = asBuffer(bytes)
  const members: MemberSpan[] = []
  try {
    let i = skipWs(b, 0)
    if (b[i] !== 0x7b) fail('expected a JSON object', i)
    i = skipWs(b, i + 1)
    if (b[i] === 0x7d) i++
    else {
      for (;;) {
        if (b[i] !== QUOTE) fail('expected a key', i)
        const keyStart = i
        const keyEnd = skipString(b, i)
        i = skipWs(b, keyEnd)
        if (b[i] !== 0x3a) fail('expected ":"', i)
        const valueStart = skipWs(b, i + 1)
        const valueEnd = skipValue(b, valueStart, 1)
        members.push({ keyStart, keyEnd, valueStart, valueEnd })
        i = skipWs(b, valueEnd)
        if (b[i] === 0x7d) {
          i++
          break
        }
        if (b[i] !== 0x2c) fail('expected "," or "}"', i)
        i = skipWs(b, i + 1)
      }
    }
    const rest = skipWs(b, i)
    if (rest !== b.length) fail('unexpected data after the object', rest)
    return { ok: true, members }
  } catch (err) {
    if (err instanceof JsonSyntaxError) return { ok: false, error: err.message }
    throw err
  }
}

/** The key of a member as a string (keys with escapes are decoded). */
export function memberKey(bytes: Uint8Array, m: MemberSpan): string {
  const b = asBuffer(bytes)
  const raw = b.toString('latin1', m.keyStart + 1, m.keyEnd - 1)
  if (!raw.includes('\\') && !/[^\x20-\x7e]/.test(raw)) return raw
  try {
    return JSON.parse(b.toString('utf8', m.keyStart, m.keyEnd)) as string
  } catch {
    // The scan checks grammar, not string contents; a key with a bad escape is no key we look for.
    return raw
  }
}

export function findMember(bytes: Uint8Array, members: readonly MemberSpan[], key: string): MemberSpan | undefined {
  // Claude Code bodies have about a dozen top-level keys; a linear search beats building a map.
  for (const m of members) if (m.keyEnd - m.keyStart - 2 >= key.length && memberKey(bytes, m) === key) return m
  return undefined
}

/** The member's value decoded (small values only: model names, flags, numbers). */
export function memberValue(bytes: Uint8Array, m: MemberSpan): unknown {
  return JSON.parse(asBuffer(bytes).toString('utf8', m.valueStart, m.valueEnd))
}
