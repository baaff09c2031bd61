/**
 * A validating, non-allocating scan of a JSON object's top level.
 *
 * The relay needs a handful of top-level fields (`model`, `stream`, `max_tokens`) and must edit a few
 * (the mapped model) while passing every other byte through untouched (DESIGN principle 1). Parsing the
 * whole body into objects would cost time and memory on the main thread for every request, and
 * re-serialising it would reorder or reformat what the client sent. So this walks the bytes once and
 * reports where each top-level member sits.
 *
 * The ingress scan is the relay's one check of what it forwards (CONTRACT §6): a body it accepts is
 * exactly one that `JSON.parse` accepts as an object and that is valid UTF-8 — grammar, string escapes,
 * no raw control characters in strings, no lone surrogates in raw bytes. (The one difference: nesting
 * beyond MAX_DEPTH is refused, which no Messages API body comes near.) Later edits of the same bytes in
 * a worker (json-edit.ts) scan in `trusted` mode, which skips string contents with a native search.
 */
import { isUtf8 } from 'node:buffer'

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

export type ScanResult =
  | {
      readonly ok: true
      readonly members: readonly MemberSpan[]
      /**
       * Read in the same pass for routing rules (CONTRACT §8): the value spans `[start, end, …]` of each
       * `tools` element's own `name` and `type` strings (the last of a repeated key, as JSON.parse keeps).
       */
      readonly toolFields: readonly number[]
    }
  | { readonly ok: false; readonly error: string }

const NO_FIELDS: readonly number[] = []

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

/** Bytes that end a run of plain string content: the quote, a backslash, a raw control character. */
const SPECIAL_IN_STRING = new Uint8Array(256)
for (let c = 0; c < 0x20; c++) SPECIAL_IN_STRING[c] = 1
SPECIAL_IN_STRING[QUOTE] = 1
SPECIAL_IN_STRING[BACKSLASH] = 1

/** Bytes allowed after a backslash (RFC 8259 §7), besides `u`. */
const SIMPLE_ESCAPE = new Uint8Array(256)
for (const c of '"\\/bfnrt') SIMPLE_ESCAPE[c.charCodeAt(0)] = 1

const isHex = (c: number | undefined): boolean =>
  c !== undefined && ((c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66))

/**
 * Skips the words of a string's plain content from word index `w`: four bytes at a time, while a word
 * holds no quote, no backslash and no byte below 0x20 (bytes of 0x80 and up, UTF-8, are plain here:
 * `isUtf8` has checked them). The tests are the classic "has a zero byte" bit tricks (`v ^ 0x22222222`
 * is zero where a quote is); a word that might hold a special byte stops the run, and the byte-wise loop
 * decides. Returns the byte offset where the run ended.
 */
function plainWords(words: Int32Array, w: number): number {
  const end = words.length
  while (w < end) {
    const v = words[w]!
    const quote = v ^ 0x22222222
    const backslash = v ^ 0x5c5c5c5c
    if ((((quote - 0x01010101) & ~quote) | ((backslash - 0x01010101) & ~backslash) | ((v - 0x20202020) & ~v)) & 0x80808080) break
    w++
  }
  return w << 2
}

/**
 * `b[i]` is an opening quote; returns the offset after the closing one, checking every escape and
 * refusing raw control characters. With `words` (an Int32Array over `b`, which then starts 4-byte
 * aligned) plain runs go four bytes at a time: on a 200 KB conversation of prose that is 2.5× faster
 * than a byte at a time; escape-dense code gains less (bench/body-scan.mjs, bench/README.md).
 */
function skipString(b: Buffer, i: number, words?: Int32Array): number {
  const n = b.length
  let k = i + 1
  for (;;) {
    if (words !== undefined && (k & 3) === 0) k = plainWords(words, k >> 2)
    if (k >= n) return fail('unterminated string', i)
    const c = b[k]!
    if (SPECIAL_IN_STRING[c] === 0) {
      k++
      continue
    }
    if (c === QUOTE) return k + 1
    if (c !== BACKSLASH) fail('control character in a string', k)
    const e = b[k + 1]
    if (e !== undefined && SIMPLE_ESCAPE[e] === 1) k += 2
    else if (e === 0x75 && isHex(b[k + 2]) && isHex(b[k + 3]) && isHex(b[k + 4]) && isHex(b[k + 5])) k += 6
    else fail('invalid escape in a string', k)
  }
}

/** The validating string skipper for `b`: word-wise where `b` starts 4-byte aligned (a body of its own always does). */
function validatingSkipper(b: Buffer): SkipString {
  if (b.byteOffset % 4 !== 0) return skipString
  const words = new Int32Array(b.buffer, b.byteOffset, b.length >> 2)
  return (bytes, i) => skipString(bytes, i, words)
}

/**
 * `skipString` for bytes the ingress scan has already validated: string contents are skipped with the
 * native `indexOf`, so a long conversation costs little more than a memchr over its text.
 */
export function skipTrustedString(b: Buffer, i: number): number {
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

type SkipString = (b: Buffer, i: number) => number

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

function skipValue(b: Buffer, i: number, depth: number, str: SkipString): number {
  switch (b[i]) {
    case QUOTE:
      return str(b, i)
    case 0x7b:
      return skipContainer(b, i, depth, 0x7d, true, str)
    case 0x5b:
      return skipContainer(b, i, depth, 0x5d, false, str)
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

function skipContainer(b: Buffer, i: number, depth: number, close: number, isObject: boolean, str: SkipString): number {
  if (depth >= MAX_DEPTH) fail('nesting too deep', i)
  i = skipWs(b, i + 1)
  if (b[i] === close) return i + 1
  for (;;) {
    if (isObject) {
      if (b[i] !== QUOTE) fail('expected a key', i)
      i = skipWs(b, str(b, i))
      if (b[i] !== 0x3a) fail('expected ":"', i)
      i = skipWs(b, i + 1)
    }
    i = skipWs(b, skipValue(b, i, depth + 1, str))
    if (b[i] === close) return i + 1
    if (b[i] !== 0x2c) fail('expected "," or a closing bracket', i)
    i = skipWs(b, i + 1)
  }
}

/** The key at `[start, end)` (quotes included) is `key`: byte for byte, or decoded when it has escapes. */
function keyIs(b: Buffer, start: number, end: number, key: string): boolean {
  if (end - start - 2 === key.length) {
    let same = true
    for (let k = 0; k < key.length && same; k++) same = b[start + 1 + k] === key.charCodeAt(k)
    if (same) return true
  }
  // An escaped spelling is longer than the plain one; only such keys are decoded.
  if (end - start - 2 <= key.length || !hasBackslash(b, start, end)) return false
  try {
    return JSON.parse(b.toString('utf8', start, end)) === key
  } catch {
    return false
  }
}

/**
 * A `tools` element that is an object: skipped like any object, noting where its own `name` and `type`
 * string values are (`out`), so routing rules never walk the tools again.
 */
function skipToolObject(b: Buffer, i: number, str: SkipString, out: number[]): number {
  let name = -1
  let nameEnd = -1
  let type = -1
  let typeEnd = -1
  i = skipWs(b, i + 1)
  if (b[i] !== 0x7d) {
    for (;;) {
      if (b[i] !== QUOTE) fail('expected a key', i)
      const keyStart = i
      const keyEnd = str(b, i)
      i = skipWs(b, keyEnd)
      if (b[i] !== 0x3a) fail('expected ":"', i)
      const valueStart = skipWs(b, i + 1)
      const valueEnd = skipValue(b, valueStart, 3, str)
      // A repeated key counts as JSON.parse reads it: the last one, whatever its value.
      if (keyIs(b, keyStart, keyEnd, 'name')) [name, nameEnd] = b[valueStart] === QUOTE ? [valueStart, valueEnd] : [-1, -1]
      else if (keyIs(b, keyStart, keyEnd, 'type')) [type, typeEnd] = b[valueStart] === QUOTE ? [valueStart, valueEnd] : [-1, -1]
      i = skipWs(b, valueEnd)
      if (b[i] === 0x7d) break
      if (b[i] !== 0x2c) fail('expected "," or "}"', i)
      i = skipWs(b, i + 1)
    }
  }
  if (name !== -1) out.push(name, nameEnd)
  if (type !== -1) out.push(type, typeEnd)
  return i + 1
}

/** The top-level `tools` value: an array is walked element by element (skipToolObject), anything else skipped. */
function skipTools(b: Buffer, i: number, str: SkipString, out: number[]): number {
  if (b[i] !== 0x5b) return skipValue(b, i, 1, str)
  i = skipWs(b, i + 1)
  if (b[i] === 0x5d) return i + 1
  for (;;) {
    i = skipWs(b, b[i] === 0x7b ? skipToolObject(b, i, str, out) : skipValue(b, i, 2, str))
    if (b[i] === 0x5d) return i + 1
    if (b[i] !== 0x2c) fail('expected "," or a closing bracket', i)
    i = skipWs(b, i + 1)
  }
}

/**
 * The offset of the first byte that breaks UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing
 * above U+10FFFF), or -1. Only run once the native `isUtf8` has said no, to name the offset.
 */
function firstInvalidUtf8(b: Uint8Array): number {
  const n = b.length
  for (let i = 0; i < n; ) {
    const c = b[i]!
    if (c < 0x80) {
      i++
      continue
    }
    let need: number
    let lo = 0x80
    let hi = 0xbf
    if (c >= 0xc2 && c <= 0xdf) need = 1
    else if (c >= 0xe0 && c <= 0xef) {
      need = 2
      if (c === 0xe0) lo = 0xa0
      if (c === 0xed) hi = 0x9f // U+D800–DFFF: surrogates are not characters
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3
      if (c === 0xf0) lo = 0x90
      if (c === 0xf4) hi = 0x8f
    } else return i
    for (let k = 1; k <= need; k++) {
      const d = b[i + k]
      if (d === undefined || d < (k === 1 ? lo : 0x80) || d > (k === 1 ? hi : 0xbf)) return i
    }
    i += need + 1
  }
  return -1
}

/**
 * Checks that `bytes` is one JSON object and returns the spans of its top-level members. `trusted`:
 * the bytes passed this scan before (a worker editing a body the ingress accepted), so string contents
 * and UTF-8 are not checked again.
 */
export function scanObject(bytes: Uint8Array, opts: { readonly trusted?: boolean } = {}): ScanResult {
  const b = asBuffer(bytes)
  const str = opts.trusted ? skipTrustedString : validatingSkipper(b)
  if (!opts.trusted && !isUtf8(b)) return { ok: false, error: `invalid UTF-8 at byte ${firstInvalidUtf8(b)}` }
  const members: MemberSpan[] = []
  let toolFields: number[] | undefined
  try {
    let i = skipWs(b, 0)
    if (b[i] !== 0x7b) fail('expected a JSON object', i)
    i = skipWs(b, i + 1)
    if (b[i] === 0x7d) i++
    else {
      for (;;) {
        if (b[i] !== QUOTE) fail('expected a key', i)
        const keyStart = i
        const keyEnd = str(b, i)
        i = skipWs(b, keyEnd)
        if (b[i] !== 0x3a) fail('expected ":"', i)
        const valueStart = skipWs(b, i + 1)
        const isTools = keyIs(b, keyStart, keyEnd, 'tools')
        // A repeated `tools` is refused or ignored later; its fields are those of the last, as JSON.parse keeps.
        if (isTools) toolFields = []
        const valueEnd = isTools ? skipTools(b, valueStart, str, toolFields!) : skipValue(b, valueStart, 1, str)
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
    return { ok: true, members, toolFields: toolFields ?? NO_FIELDS }
  } catch (err) {
    if (err instanceof JsonSyntaxError) return { ok: false, error: err.message }
    throw err
  }
}

/** True when the member's key is exactly `key` as written (no escapes): the common case, without a string. */
function keyBytesEqual(b: Buffer, m: MemberSpan, key: string): boolean {
  if (m.keyEnd - m.keyStart - 2 !== key.length) return false
  for (let k = 0; k < key.length; k++) if (b[m.keyStart + 1 + k] !== key.charCodeAt(k)) return false
  return true
}

function hasBackslash(b: Buffer, start: number, end: number): boolean {
  for (let k = start; k < end; k++) if (b[k] === BACKSLASH) return true
  return false
}

/** The key of a member as a string (keys with escapes are decoded). */
export function memberKey(bytes: Uint8Array, m: MemberSpan): string {
  const b = asBuffer(bytes)
  const raw = b.toString('latin1', m.keyStart + 1, m.keyEnd - 1)
  if (!raw.includes('\\') && !/[^\x20-\x7e]/.test(raw)) return raw
  try {
    return JSON.parse(b.toString('utf8', m.keyStart, m.keyEnd)) as string
  } catch {
    // Only bytes that never passed the validating scan get here; such a key is no key we look for.
    return raw
  }
}

/**
 * Every member whose key is `key` (a key may be spelled with escapes: `"mod\u0065l"` is `model` to
 * JSON.parse and to the upstream, so it is `model` here too).
 */
export function findMembers(bytes: Uint8Array, members: readonly MemberSpan[], key: string): MemberSpan[] {
  const b = asBuffer(bytes)
  const found: MemberSpan[] = []
  if (!/^[\x20-\x7e]*$/.test(key)) {
    for (const m of members) if (memberKey(b, m) === key) found.push(m)
    return found
  }
  for (const m of members) {
    if (keyBytesEqual(b, m, key)) found.push(m)
    // An escaped spelling is longer than the plain one; only such keys are decoded.
    else if (m.keyEnd - m.keyStart - 2 > key.length && hasBackslash(b, m.keyStart, m.keyEnd) && memberKey(b, m) === key) found.push(m)
  }
  return found
}

export function findMember(bytes: Uint8Array, members: readonly MemberSpan[], key: string): MemberSpan | undefined {
  // Claude Code bodies have about a dozen top-level keys; a linear search beats building a map.
  return findMembers(bytes, members, key)[0]
}

/**
 * The member's value decoded (small values only: model names, flags, numbers). Undefined when it does
 * not parse, which only bytes that skipped the validating scan can do.
 */
export function memberValue(bytes: Uint8Array, m: MemberSpan): unknown {
  try {
    return JSON.parse(asBuffer(bytes).toString('utf8', m.valueStart, m.valueEnd))
  } catch {
    return undefined
  }
}

/**
 * The spans `[start, end)` of an array's elements, in bytes the ingress scan has already validated
 * (`b[start]` opens the array; anything else has no elements). For reading a little of a large
 * member — the names of the tools, the types of content blocks — without parsing it.
 */
export function trustedElements(bytes: Uint8Array, start: number): Array<readonly [number, number]> {
  const b = asBuffer(bytes)
  const out: Array<readonly [number, number]> = []
  if (b[start] !== 0x5b) return out
  try {
    let i = skipWs(b, start + 1)
    if (b[i] === 0x5d) return out
    for (;;) {
      const end = skipValue(b, i, 1, skipTrustedString)
      out.push([i, end])
      i = skipWs(b, end)
      if (b[i] !== 0x2c) return out
      i = skipWs(b, i + 1)
    }
  } catch (err) {
    // Only bytes that never passed the validating scan get here: what was read so far is all there is.
    if (err instanceof JsonSyntaxError) return out
    throw err
  }
}
