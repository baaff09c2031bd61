/**
 * Cross-checks scanObject against JSON.parse + UTF-8 validity (CONTRACT §6: what the relay forwards is
 * valid UTF-8 JSON). Generated objects check the spans; fast-check properties over arbitrary bytes,
 * JSON texts and mutations of them check that the two verdicts are always the same and that the scan
 * never throws. Seeded: CC_RELAY_FUZZ_SEED replays a failing run (fast-check prints the seed).
 */
import t from 'tap'
import { isUtf8 } from 'node:buffer'
import fc from 'fast-check'
import { prng } from '../helpers/prng.js'
import { memberKey, memberValue, scanObject } from '../../src/shared/json-scan.js'


type Rng = () => number
const int = (r: Rng, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1))
const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!

const WS = ['', '', '', ' ', '  ', '\n', '\t', '\r\n', ' \n\t ']
const CHARS = ['a', 'Z', '0', ' ', '"', '\\', '/', 'é', '日', '😀', '“', '\n', '\t', '\u0001', '{', '}', '[', ']', ',', ':', 'e', '-']

function stringToken(r: Rng): string {
  let s = '"'
  for (let n = int(r, 0, 6); n > 0; n--) {
    const c = pick(r, CHARS)
    const roll = r()
    if (roll < 0.15) for (let k = 0; k < c.length; k++) s += `\\u${c.charCodeAt(k).toString(16).padStart(4, '0')}`
    else if (roll < 0.2 && c === '/') s += '\\/'
    else s += JSON.stringify(c).slice(1, -1)
  }
  return `${s}"`
}

function numberToken(r: Rng): string {
  let s = r() < 0.3 ? '-' : ''
  s += r() < 0.3 ? '0' : `${int(r, 1, 9)}${r() < 0.5 ? int(r, 0, 9999) : ''}`
  if (r() < 0.4) s += `.${int(r, 0, 999)}`
  if (r() < 0.3) s += `${pick(r, ['e', 'E'])}${pick(r, ['', '+', '-'])}${int(r, 0, 30)}`
  return s
}

function valueToken(r: Rng, depth: number): string {
  const roll = r()
  if (depth < 4 && roll < 0.15) return objectToken(r, depth + 1).text
  if (depth < 4 && roll < 0.3) {
    const items = Array.from({ length: int(r, 0, 4) }, () => `${pick(r, WS)}${valueToken(r, depth + 1)}${pick(r, WS)}`)
    return `[${items.length ? items.join(',') : pick(r, WS)}]`
  }
  if (roll < 0.55) return stringToken(r)
  if (roll < 0.85) return numberToken(r)
  return pick(r, ['true', 'false', 'null'])
}

interface Generated {
  readonly text: string
  readonly members: readonly { readonly key: string; readonly value: string }[]
}

function objectToken(r: Rng, depth: number): Generated {
  const members = Array.from({ length: int(r, 0, 5) }, () => ({ key: stringToken(r), value: valueToken(r, depth) }))
  const inner = members.map((m) => `${pick(r, WS)}${m.key}${pick(r, WS)}:${pick(r, WS)}${m.value}${pick(r, WS)}`)
  return { text: `{${inner.length ? inner.join(',') : pick(r, WS)}}`, members }
}

function generate(r: Rng): Generated {
  const g = objectToken(r, 0)
  return { text: `${pick(r, WS)}${g.text}${pick(r, WS)}`, members: g.members }
}

/** JSON.parse's verdict: the text is JSON and its value a plain object. */
function parsesToObject(b: Buffer): boolean {
  try {
    const v: unknown = JSON.parse(b.toString('utf8'))
    return typeof v === 'object' && v !== null && !Array.isArray(v)
  } catch {
    return false
  }
}

/** Marks the bytes strictly between a string token's quotes (valid JSON input only). */
function stringContents(b: Buffer): boolean[] {
  const inside: boolean[] = []
  let inString = false
  let escaped = false
  for (const c of b) {
    if (!inString) {
      inside.push(false)
      if (c === 0x22) inString = true
    } else if (escaped) {
      inside.push(true)
      escaped = false
    } else if (c === 0x22) {
      inside.push(false)
      inString = false
    } else {
      inside.push(true)
      escaped = c === 0x5c
    }
  }
  return inside
}

const r = prng(0xc0ffee)
const docs = Array.from({ length: 400 }, () => generate(r))

t.test('generated objects: scanner and JSON.parse agree, spans cut out the generated tokens', async (t) => {
  const problems: string[] = []
  for (const g of docs) {
    const b = Buffer.from(g.text, 'utf8')
    if (!parsesToObject(b)) problems.push(`generator produced invalid JSON: ${g.text}`)
    const scan = scanObject(b)
    if (!scan.ok) {
      problems.push(`rejected ${JSON.stringify(g.text)}: ${scan.error}`)
      continue
    }
    const cut = scan.members.map((m) => ({ key: b.toString('utf8', m.keyStart, m.keyEnd), value: b.toString('utf8', m.valueStart, m.valueEnd) }))
    if (JSON.stringify(cut) !== JSON.stringify(g.members)) problems.push(`spans of ${JSON.stringify(g.text)}: ${JSON.stringify(cut)}`)
    scan.members.forEach((m, k) => {
      const want = g.members[k]
      if (!want) return
      if (memberKey(b, m) !== JSON.parse(want.key)) problems.push(`memberKey of ${want.key}`)
      if (JSON.stringify(memberValue(b, m)) !== JSON.stringify(JSON.parse(want.value))) problems.push(`memberValue of ${want.value}`)
    })
  }
  t.equal(docs.length, 400)
  t.ok(docs.filter((g) => g.members.length === 0).length > 0, 'the corpus includes empty objects')
  t.same(problems, [])
})

const seed = Number(process.env.CC_RELAY_FUZZ_SEED ?? 20261201)

/** The contract's verdict: valid UTF-8, JSON.parse accepts it, and it is a plain object. */
function acceptable(b: Uint8Array): boolean {
  return isUtf8(b) && parsesToObject(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
}

/** `b` copied to the start of a buffer of its own (4-byte aligned: the scanner reads it word-wise) or at an odd offset (byte-wise). */
function placed(b: Uint8Array, offset: 0 | 1): Buffer {
  const backing = Buffer.allocUnsafeSlow(b.length + offset)
  backing.set(b, offset)
  return backing.subarray(offset)
}

/**
 * The scanner's verdict, failing the property if it throws, reports no byte offset, or answers
 * differently for the same bytes read word-wise and byte-wise.
 */
function scanned(b: Uint8Array): boolean {
  const wordWise = scanObject(placed(b, 0))
  const byteWise = scanObject(placed(b, 1))
  if (JSON.stringify(wordWise) !== JSON.stringify(byteWise)) throw new Error(`word-wise ${JSON.stringify(wordWise)} but byte-wise ${JSON.stringify(byteWise)}`)
  if (!wordWise.ok && !/ at byte \d+$/.test(wordWise.error)) throw new Error(`message without a byte offset: ${wordWise.error}`)
  return wordWise.ok
}

const BYTES_OF_NOTE = [...'{}[],:"\\ \t\n\r0123456789-+.eEtrufalsnxu'].map((c) => c.charCodeAt(0)).concat([0x00, 0x01, 0x1f, 0x7f, 0x80, 0xbf, 0xc0, 0xc3, 0xed, 0xa0, 0xe2, 0xf4, 0xf5, 0xff])
const byteOfNote = fc.oneof(fc.constantFrom(...BYTES_OF_NOTE), fc.integer({ min: 0, max: 255 }))

/** A JSON object text: from fast-check's JSON values, with strings over all of Unicode (lone surrogates included). */
const jsonObjectText = fc
  .dictionary(fc.string({ unit: 'binary', maxLength: 6 }), fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' }), { maxKeys: 5 })
  .chain((o) => fc.constantFrom(JSON.stringify(o), JSON.stringify(o, null, 2), JSON.stringify(o, null, '\t')))
  .map((text) => Buffer.from(text, 'utf8'))

const mutation = fc.record({
  kind: fc.constantFrom('replace', 'insert', 'delete', 'truncate'),
  at: fc.nat(),
  byte: byteOfNote,
})

function mutate(b: Buffer, m: { kind: string; at: number; byte: number }): Buffer {
  const at = b.length ? m.at % (b.length + 1) : 0
  switch (m.kind) {
    case 'replace':
      return at < b.length ? Buffer.concat([b.subarray(0, at), Buffer.from([m.byte]), b.subarray(at + 1)]) : b
    case 'insert':
      return Buffer.concat([b.subarray(0, at), Buffer.from([m.byte]), b.subarray(at)])
    case 'delete':
      return Buffer.concat([b.subarray(0, at), b.subarray(at + 1)])
    default:
      return b.subarray(0, at)
  }
}

t.test('arbitrary bytes: the scan never throws and agrees with JSON.parse + UTF-8', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (b) => scanned(b) === acceptable(b)),
    { seed, numRuns: 3000 },
  )
  fc.assert(
    fc.property(fc.array(byteOfNote, { maxLength: 48 }), (bytes) => {
      const b = Uint8Array.from([0x7b, ...bytes, 0x7d])
      return scanned(b) === acceptable(b)
    }),
    { seed, numRuns: 3000 },
  )
  t.pass('3000 + 3000 runs')
})

t.test('JSON objects over all of Unicode are accepted; every mutation of them gets the same verdict as JSON.parse', async (t) => {
  fc.assert(
    fc.property(jsonObjectText, (b) => scanned(b) && acceptable(b)),
    { seed, numRuns: 1000 },
  )
  fc.assert(
    fc.property(jsonObjectText, fc.array(mutation, { minLength: 1, maxLength: 3 }), (b, ms) => {
      const mutated = ms.reduce(mutate, b)
      return scanned(mutated) === acceptable(mutated)
    }),
    { seed, numRuns: 4000 },
  )
  t.pass('1000 + 4000 runs')
})
