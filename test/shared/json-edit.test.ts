import t from 'tap'
import { deleteField, setField, splice } from '../../src/shared/json-edit.js'
import { findMember, scanObject } from '../../src/shared/json-scan.js'
import { claudeCodeBody } from '../fixtures/anthropic.js'

const bytes = (s: string): Buffer => Buffer.from(s, 'utf8')
const text = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8')
const parse = (b: Uint8Array): Record<string, unknown> => JSON.parse(text(b)) as Record<string, unknown>

function valueSpan(body: Buffer, key: string): [number, number] {
  const scan = scanObject(body)
  if (!scan.ok) throw new Error(scan.error)
  const m = findMember(body, scan.members, key)
  if (!m) throw new Error(`no ${key}`)
  return [m.valueStart, m.valueEnd]
}

function without(obj: Record<string, unknown>, key: string): Record<string, unknown> {
  const copy = { ...obj }
  delete copy[key]
  return copy
}

t.test('splice replaces exactly the given byte range', async (t) => {
  const b = bytes('0123456789')
  t.equal(text(splice(b, 2, 5, 'ab')), '01ab56789')
  t.equal(text(splice(b, 0, 0, 'é')), 'é0123456789')
  t.equal(text(splice(b, 10, 10, '!')), '0123456789!')
  t.equal(text(splice(b, 0, 10, '')), '')
  t.equal(text(b), '0123456789', 'the input is not modified')
})

t.test('setField on an existing member changes only its value bytes', async (t) => {
  const body = bytes(claudeCodeBody('claude-sonnet-4-5[1m]', true))
  const [start, end] = valueSpan(body, 'model')
  for (const json of ['"glm-4.6"', '"a-much-longer-upstream-model-name-than-before"', '""', '"日本"']) {
    const out = Buffer.from(setField(body, 'model', json))
    t.same(out.subarray(0, start), body.subarray(0, start), `${json}: bytes before the value are identical`)
    t.same(out.subarray(start + Buffer.byteLength(json)), body.subarray(end), `${json}: bytes after the value are identical`)
    t.equal(out.toString('utf8', start, start + Buffer.byteLength(json)), json)
    t.same(parse(out), { ...parse(body), model: JSON.parse(json) })
  }
  const flipped = setField(body, 'stream', 'false')
  t.equal(parse(flipped)['stream'], false)
  t.equal(flipped.byteLength, body.byteLength + 1)
})

t.test('setField matches keys written with escapes, not nested keys or longer keys', async (t) => {
  t.equal(text(setField(bytes('{"mod\\u0065l" : "x" }'), 'model', '"y"')), '{"mod\\u0065l" : "y" }')
  t.equal(text(setField(bytes('{"a":{"model":1}}'), 'model', '2')), '{"a":{"model":1},"model":2}')
  t.equal(text(setField(bytes('{"models":["a"]}'), 'model', '"m"')), '{"models":["a"],"model":"m"}')
})

t.test('setField adds a missing field after the last member, keeping every other byte', async (t) => {
  const body = bytes(claudeCodeBody('claude-opus-4-1', false))
  const out = Buffer.from(setField(body, 'relay_hint', '{"k":[1,2]}'))
  const scan = scanObject(body)
  if (!scan.ok) return t.fail(scan.error)
  const lastEnd = scan.members[scan.members.length - 1]!.valueEnd
  const inserted = ',"relay_hint":{"k":[1,2]}'
  t.same(out.subarray(0, lastEnd), body.subarray(0, lastEnd))
  t.equal(out.toString('utf8', lastEnd, lastEnd + inserted.length), inserted)
  t.same(out.subarray(lastEnd + inserted.length), body.subarray(lastEnd))
  t.same(parse(out), { ...parse(body), relay_hint: { k: [1, 2] } })

  t.equal(text(setField(bytes('{"a":1 }'), 'b', 'true')), '{"a":1,"b":true }')
  t.equal(text(setField(bytes('{"a":1}'), 'k"ey', 'null')), '{"a":1,"k\\"ey":null}', 'the new key is JSON-escaped')
})

t.test('setField adds a field to an empty object', async (t) => {
  for (const empty of ['{}', '{ }', '  {\n}\n', '\t{}']) {
    const out = setField(bytes(empty), 'model', '"m"')
    t.ok(scanObject(out).ok, `${JSON.stringify(empty)} stays valid`)
    t.same(parse(out), { model: 'm' }, JSON.stringify(empty))
  }
  t.equal(text(setField(bytes(' { } '), 'a', '1')), ' {"a":1 } ')
})

t.test('setField and deleteField reject a body that is not one JSON object', async (t) => {
  t.throws(() => setField(bytes('[1]'), 'a', '1'), /body is not a JSON object: expected a JSON object at byte 0/)
  t.throws(() => deleteField(bytes('{"a":1,}'), 'a'), /body is not a JSON object: .* at byte 7/)
})

t.test('deleteField removes the first, a middle, the last or the only member', async (t) => {
  const bodies = ['{"a":1,"b":[2],"c":{"d":3}}', '{ "a" : 1 ,\n "b" : [2] ,\n "c" : {"d":3} }', '\n{\t"a":1,\t"b":[2],\t"c":{"d":3}\n}\n']
  for (const original of bodies) {
    for (const key of ['a', 'b', 'c']) {
      const out = deleteField(bytes(original), key)
      t.ok(scanObject(out).ok, `${JSON.stringify(original)} minus ${key} is valid`)
      t.same(parse(out), without(JSON.parse(original) as Record<string, unknown>, key), `${JSON.stringify(original)} minus ${key}`)
    }
  }
  t.equal(text(deleteField(bytes('{"a":1, "b":2, "c":3}'), 'b')), '{"a":1, "c":3}', 'middle: takes the comma before it')
  t.equal(text(deleteField(bytes('{"a":1, "b":2}'), 'a')), '{"b":2}', 'first: takes the comma after it')
  t.equal(text(deleteField(bytes('{"a":1, "b":2 }'), 'b')), '{"a":1 }', 'last')
  for (const only of ['{"a":1}', '{ "a" : [1, {"x":2}] }']) {
    const out = deleteField(bytes(only), 'a')
    t.ok(scanObject(out).ok)
    t.same(parse(out), {}, `only member of ${only}`)
  }
})

t.test('deleteField on the Claude Code body keeps every other member byte for byte', async (t) => {
  const body = bytes(claudeCodeBody('claude-sonnet-4-5', true))
  for (const key of ['model', 'metadata', 'future_field', 'tools']) {
    const out = deleteField(body, key)
    t.same(parse(out), without(parse(body), key), key)
  }
  const [start] = valueSpan(body, 'metadata')
  const out = Buffer.from(deleteField(body, 'metadata'))
  const cut = body.lastIndexOf(',', start)
  t.same(out.subarray(0, cut), body.subarray(0, cut), 'bytes before the removed member')
  t.same(out.subarray(cut), body.subarray(valueSpan(body, 'metadata')[1]), 'bytes after the removed member')
})

t.test('deleteField leaves the body untouched when the key is missing or only nested', async (t) => {
  for (const [original, key] of [
    ['{"a":1}', 'model'],
    ['{"a":{"model":1}}', 'model'],
    ['{"models":1}', 'model'],
    ['{}', 'model'],
  ] as const) {
    const body = bytes(original)
    const out = deleteField(body, key)
    t.equal(text(out), original, `${original} minus ${key}`)
    t.equal(out, body, 'the same buffer is returned')
  }
})

t.test('deleteField removes only the first of duplicate keys', async (t) => {
  t.equal(text(deleteField(bytes('{"m":1,"x":0,"m":2}'), 'm')), '{"x":0,"m":2}')
})

t.test('edits work on a Uint8Array view with a byte offset', async (t) => {
  const backing = bytes('##{ }##{"a":1,"b":2}##')
  const empty = new Uint8Array(backing.buffer, backing.byteOffset + 2, 3)
  t.equal(text(setField(empty, 'k', '1')), '{"k":1 }')
  const full = new Uint8Array(backing.buffer, backing.byteOffset + 7, 13)
  t.equal(text(setField(full, 'b', '3')), '{"a":1,"b":3}')
  t.equal(text(deleteField(full, 'a')), '{"b":2}')
  t.equal(backing.toString(), '##{ }##{"a":1,"b":2}##', 'the backing buffer is not modified')
})
