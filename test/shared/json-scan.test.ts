import t from 'tap'
import { findMember, findMembers, memberKey, memberValue, scanObject } from '../../src/shared/json-scan.js'
import type { MemberSpan } from '../../src/shared/json-scan.js'

const bytes = (s: string): Buffer => Buffer.from(s, 'utf8')

/** Each top-level member as the exact [key text, value text] its spans cut out of the bytes. */
function spans(text: string): [string, string][] {
  const b = bytes(text)
  const r = scanObject(b)
  if (!r.ok) throw new Error(`unexpected rejection of ${JSON.stringify(text)}: ${r.error}`)
  return r.members.map((m) => [b.toString('utf8', m.keyStart, m.keyEnd), b.toString('utf8', m.valueStart, m.valueEnd)])
}

t.test('valid objects of every shape are accepted with exact member spans', async (t) => {
  const cases: [string, [string, string][]][] = [
    ['{}', []],
    [' \t\r\n{ \n }\r\n ', []],
    ['{"a":1}', [['"a"', '1']]],
    ['{"":""}', [['""', '""']]],
    [' { "a" :\t1 ,\n"b"\r\n:\n"x" } ', [['"a"', '1'], ['"b"', '"x"']]],
    ['{"n":[1,[2,[3,{"x":[]}]],{}],"o":{"p":{"q":null}}}', [['"n"', '[1,[2,[3,{"x":[]}]],{}]'], ['"o"', '{"p":{"q":null}}']]],
    ['{"a" : [ 1 , { "b" : [ ] } ] , "c" : { } }', [['"a"', '[ 1 , { "b" : [ ] } ]'], ['"c"', '{ }']]],
    ['{"q":"say \\"hi\\"","r":1}', [['"q"', '"say \\"hi\\""'], ['"r"', '1']]],
    ['{"bs":"a\\\\","next":"b"}', [['"bs"', '"a\\\\"'], ['"next"', '"b"']]],
    ['{"bs3":"a\\\\\\"b","z":0}', [['"bs3"', '"a\\\\\\"b"'], ['"z"', '0']]],
    ['{"only\\\\":"\\\\\\\\"}', [['"only\\\\"', '"\\\\\\\\"']]],
    ['{"u":"\\u00e9\\ud83d\\ude00","raw":"é日😀 “ü”"}', [['"u"', '"\\u00e9\\ud83d\\ude00"'], ['"raw"', '"é日😀 “ü”"']]],
    ['{"日本":"語","😀":1}', [['"日本"', '"語"'], ['"😀"', '1']]],
    ['{"a":-0,"b":1e5,"c":2.5E-3,"d":-12.75e+10,"e":0.0,"f":1E05}', [['"a"', '-0'], ['"b"', '1e5'], ['"c"', '2.5E-3'], ['"d"', '-12.75e+10'], ['"e"', '0.0'], ['"f"', '1E05']]],
    ['{"t":true,"f":false,"n":null}', [['"t"', 'true'], ['"f"', 'false'], ['"n"', 'null']]],
    ['{"s":"{[,:]}","k":"\\/"}', [['"s"', '"{[,:]}"'], ['"k"', '"\\/"']]],
    ['{"dup":1,"dup":2}', [['"dup"', '1'], ['"dup"', '2']]],
  ]
  for (const [text, expected] of cases) t.same(spans(text), expected, text)
})

t.test('spans are byte offsets, also after multi-byte UTF-8', async (t) => {
  const text = '{"é":"日本","x":1}'
  const r = scanObject(bytes(text))
  t.ok(r.ok)
  if (!r.ok) return
  t.same(r.members, [
    { keyStart: 1, keyEnd: 5, valueStart: 6, valueEnd: 14 },
    { keyStart: 15, keyEnd: 18, valueStart: 19, valueEnd: 20 },
  ])
})

t.test('a Uint8Array view with a byte offset is scanned in place', async (t) => {
  const backing = bytes('xxxx{"model":"m"}yyyy')
  const view = new Uint8Array(backing.buffer, backing.byteOffset + 4, backing.byteLength - 8)
  const r = scanObject(view)
  t.ok(r.ok)
  if (!r.ok) return
  t.same(r.members, [{ keyStart: 1, keyEnd: 8, valueStart: 9, valueEnd: 12 }])
  t.equal(memberValue(view, r.members[0]!), 'm')
})

t.test('memberKey decodes escapes and UTF-8; findMember and memberValue use it', async (t) => {
  const b = bytes('{"plain":1,"mod\\u0065l":"claude","t\\"q":2,"é\\n":3,"日本":[1,{"a":null}],"models":4}')
  const r = scanObject(b)
  t.ok(r.ok)
  if (!r.ok) return
  t.same(
    r.members.map((m: MemberSpan) => memberKey(b, m)),
    ['plain', 'model', 't"q', 'é\n', '日本', 'models'],
  )
  t.equal(memberValue(b, findMember(b, r.members, 'model')!), 'claude', 'escaped key matches')
  t.same(memberValue(b, findMember(b, r.members, '日本')!), [1, { a: null }])
  t.equal(memberValue(b, findMember(b, r.members, 'models')!), 4)
  t.equal(findMember(b, r.members, 'mode'), undefined, 'a prefix of a key is not the key')
  t.equal(findMember(b, r.members, 'missing'), undefined)
})

t.test('findMember returns the first of duplicate keys, findMembers all; neither looks below the top level', async (t) => {
  const b = bytes('{"a":{"model":"inner"},"model":"first","model":"second"}')
  const r = scanObject(b)
  if (!r.ok) return t.fail(r.error)
  t.equal(memberValue(b, findMember(b, r.members, 'model')!), 'first')
  t.same(findMembers(b, r.members, 'model').map((m) => memberValue(b, m)), ['first', 'second'])
  t.same(findMembers(b, r.members, 'a').length, 1)
  const nested = bytes('{"a":{"model":"inner"}}')
  const rn = scanObject(nested)
  if (!rn.ok) return t.fail(rn.error)
  t.equal(findMember(nested, rn.members, 'model'), undefined)
})

t.test('string contents are checked: raw control characters and bad escapes are refused where JSON.parse refuses them', async (t) => {
  const cases: [string, string, number][] = [
    ['{"\tmodel_x":1,"model":"m"}', 'control character in a string', 2],
    ['{"\\qmodel_x":1,"model":"m"}', 'invalid escape in a string', 2],
    ['{"metadata":{"user_id":"{\\"s\\x69d\\":1}"}}', 'invalid escape in a string', 28],
    ['{"a":"\\u12G4"}', 'invalid escape in a string', 6],
    ['{"a":"\\u12"}', 'invalid escape in a string', 6],
    ['{"a":"x\u0000"}', 'control character in a string', 7],
    ['{"a":"\\', 'invalid escape in a string', 6],
  ]
  for (const [text, what, at] of cases) {
    const r = scanObject(bytes(text))
    t.same(r, { ok: false, error: `${what} at byte ${at}` }, JSON.stringify(text))
    t.throws(() => JSON.parse(text), `JSON.parse refuses ${JSON.stringify(text)} too`)
  }
  t.ok(scanObject(bytes('{"a":"\\ud800 lone escaped surrogate is JSON","b":"\\/\\b\\f\\n\\r\\t\\"\\\\\\u00E9"}')).ok, 'every escape RFC 8259 allows')
})

t.test('bytes that are not UTF-8 are refused with the offset of the first bad byte', async (t) => {
  const cases: [number[], number][] = [
    [[0xff], 7],
    [[0xc0, 0xaf], 7], // an overlong "/"
    [[0xed, 0xa0, 0x80], 7], // a lone surrogate (U+D800) in raw bytes
    [[0xf4, 0x90, 0x80, 0x80], 7], // above U+10FFFF
    [[0xe6, 0x97], 7], // cut short by the closing quote
    [[0x61, 0xc3, 0xa9, 0x80], 10], // "aé" then a stray continuation byte
  ]
  for (const [bad, at] of cases) {
    const b = Buffer.concat([bytes('{"a":"x'), Buffer.from(bad), bytes('"}')])
    t.same(scanObject(b), { ok: false, error: `invalid UTF-8 at byte ${at}` }, Buffer.from(bad).toString('hex'))
  }
  t.ok(scanObject(bytes('{"a":"é日😀"}')).ok, 'two-, three- and four-byte characters are fine')
})

t.test('invalid inputs are rejected with ok:false and the offending byte', async (t) => {
  const cases: [string, string, number | undefined][] = [
    // [input, message fragment, exact byte (undefined = only the "at byte N" form is checked)]
    ['', 'expected a JSON object', 0],
    ['   ', 'expected a JSON object', 3],
    ['[]', 'expected a JSON object', 0],
    ['"x"', 'expected a JSON object', 0],
    ['1', 'expected a JSON object', 0],
    ['null', 'expected a JSON object', 0],
    ['{} x', 'unexpected data after the object', undefined],
    ['{}{}', 'unexpected data after the object', 2],
    ['{"a":1}]', 'unexpected data after the object', 7],
    ['{"a":1,}', 'expected a key', 7],
    ['{,}', 'expected a key', 1],
    ['{a:1}', 'expected a key', 1],
    ['{"a" 1}', 'expected ":"', 5],
    ['{"a"}', 'expected ":"', 4],
    ['{"a":}', 'unexpected character', 5],
    ['{"a":', 'unexpected end', 5],
    ['{"a":1', 'expected "," or "}"', 6],
    ['{"a":1 "b":2}', 'expected "," or "}"', 7],
    ['{"a":"x}', 'unterminated string', 5],
    ['{"a":"x\\"}', 'unterminated string', 5],
    ['{"a', 'unterminated string', 1],
    ['{"a":tru}', 'invalid literal', 5],
    ['{"a":nul', 'invalid literal', 5],
    ['{"a":True}', 'unexpected character', 5],
    ['{"a":01}', 'expected "," or "}"', 6],
    ['{"a":-01}', 'expected "," or "}"', 7],
    ['{"a":1.}', 'invalid number', 5],
    ['{"a":-}', 'invalid number', 5],
    ['{"a":.5}', 'unexpected character', 5],
    ['{"a":+1}', 'unexpected character', 5],
    ['{"a":1e}', 'invalid number', 5],
    ['{"a":1e+}', 'invalid number', 5],
    ['{"a":[1,]}', 'unexpected character', 8],
    ['{"a":[1 2]}', 'expected "," or a closing bracket', 8],
    ['{"a":[1}', 'expected "," or a closing bracket', 7],
    ['{"a":{"b":1]}', 'expected "," or a closing bracket', 11],
    ['{"a":[[1]}', 'expected "," or a closing bracket', 9],
    ['{"a":{"b"}}', 'expected ":"', 9],
    ['{"a":1}}', 'unexpected data after the object', 7],
    ['{"a":NaN}', 'unexpected character', 5],
    ['\u00a0{}', 'expected a JSON object', 0],
  ]
  for (const [input, what, at] of cases) {
    const r = scanObject(bytes(input))
    t.equal(r.ok, false, `${JSON.stringify(input)} is rejected`)
    if (r.ok) continue
    t.match(r.error, /at byte \d+$/, `${JSON.stringify(input)}: message names the byte`)
    t.ok(r.error.startsWith(what), `${JSON.stringify(input)}: "${r.error}" says ${what}`)
    if (at !== undefined) t.equal(r.error, `${what} at byte ${at}`, `${JSON.stringify(input)}: exact byte`)
  }
})

t.test('nesting: 512 levels (the object included) pass, deeper is rejected without throwing', async (t) => {
  const nested = (arrays: number): string => `{"a":${'['.repeat(arrays)}${']'.repeat(arrays)}}`
  t.ok(scanObject(bytes(nested(511))).ok, 'object + 511 arrays')
  const tooDeep = scanObject(bytes(nested(512)))
  t.equal(tooDeep.ok, false, 'object + 512 arrays')
  if (!tooDeep.ok) t.match(tooDeep.error, /^nesting too deep at byte \d+$/)

  const objects = (n: number): string => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`
  t.ok(scanObject(bytes(objects(512))).ok, '512 nested objects')
  t.equal(scanObject(bytes(objects(513))).ok, false, '513 nested objects')

  let huge: ReturnType<typeof scanObject> | undefined
  t.doesNotThrow(() => {
    huge = scanObject(bytes(`{"a":${'['.repeat(200_000)}`))
  }, '200 000 open brackets do not overflow the stack')
  t.equal(huge?.ok, false)
  if (huge && !huge.ok) t.match(huge.error, /^nesting too deep at byte \d+$/)
})
