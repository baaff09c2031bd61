/**
 * Cross-checks scanObject against JSON.parse on generated objects and single-byte mutations of them.
 * The scanner checks the grammar outside string contents only (no control-character or escape checks
 * inside strings), so equality is asserted only where a mutation leaves every string token untouched;
 * elsewhere the documented direction holds: whatever JSON.parse accepts as an object, the scanner accepts.
 */
import t from 'tap'
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

const REPLACEMENTS = [...'{}[],:"\\ \t\n\r0123456789-+.eEtrufalsnx'].map((c) => c.charCodeAt(0)).concat([0x00, 0x01, 0x1f, 0x7f, 0x80, 0xc3, 0xe2, 0xff])

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

t.test('single-byte mutations: scanner equals JSON.parse outside strings, never stricter inside', async (t) => {
  const m = prng(0xbadbeef)
  const mismatches: string[] = []
  let compared = 0
  let directionOnly = 0
  let rejected = 0
  for (let n = 0; n < 1200; n++) {
    const original = Buffer.from(pick(m, docs).text, 'utf8')
    if (original.length === 0) continue
    const at = int(m, 0, original.length - 1)
    const was = original[at]!
    let to = pick(m, REPLACEMENTS)
    if (to === was) to = was === 0x20 ? 0x78 : 0x20
    const mutated = Buffer.from(original)
    mutated[at] = to
    const scanned = scanObject(mutated)
    const parsed = parsesToObject(mutated)
    if (!scanned.ok) {
      rejected++
      if (!/ at byte \d+$/.test(scanned.error)) mismatches.push(`message without byte: ${scanned.error}`)
    }
    const touchesStrings = stringContents(original)[at] || was === 0x22 || to === 0x22 || to === 0x5c
    const describe = `${JSON.stringify(mutated.toString('latin1'))} (byte ${at}: ${was} -> ${to}) scanner ${scanned.ok} JSON.parse ${parsed}`
    if (touchesStrings) {
      directionOnly++
      if (parsed && !scanned.ok) mismatches.push(`stricter than JSON.parse: ${describe}`)
    } else {
      compared++
      if (parsed !== scanned.ok) mismatches.push(describe)
    }
  }
  t.ok(compared > 300, `${compared} mutations outside strings compared for equality`)
  t.ok(directionOnly > 100, `${directionOnly} mutations touching strings checked one way`)
  t.ok(rejected > 300, `${rejected} mutations rejected`)
  t.same(mismatches, [])
})
