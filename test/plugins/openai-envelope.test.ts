/**
 * The openai stream translator's fast path (plugins/openai/envelope.ts) against its full parse: for any
 * stream of chunks — the shapes real servers send, with any text in them, spelled with any escapes, and
 * chunks that look like an envelope but are not — both give the same Anthropic events. Seeded:
 * CC_RELAY_FUZZ_SEED replays a failing run.
 */
import t from 'tap'
import fc from 'fast-check'
import { EnvelopeMemo, pieceOf } from '../../plugins/openai/envelope.js'
import { ChatStreamTranslator } from '../../plugins/openai/stream.js'

const seed = Number(process.env.CC_RELAY_FUZZ_SEED ?? 20261201)

/** A JSON string token for `s`, escaped the way some server might: plain, every char as \uXXXX, or `\/`. */
function spell(s: string, style: number): string {
  if (style === 0) return JSON.stringify(s)
  if (style === 1) return `"${[...s].map((c) => [...c].map((u) => `\\u${u.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')).join('')}"`
  return JSON.stringify(s).replaceAll('/', '\\/')
}

interface Shape {
  readonly head: string
  readonly tail: string
  readonly roleEachChunk: boolean
  readonly reasoningKey: 'reasoning' | 'reasoning_content'
}

const shapeArb: fc.Arbitrary<Shape> = fc.record({
  head: fc.constantFrom(
    '"id":"chatcmpl-1","object":"chat.completion.chunk","created":1760000000,"model":"gpt-x",',
    '"id":"gen-9","provider":"X","model":"m","object":"chat.completion.chunk","created":1,"system_fingerprint":"fp_1",',
    '',
  ),
  tail: fc.constantFrom('', ',"usage":null', ',"usage":null,"obfuscation":"abc"', ',"usage":{"prompt_tokens":3,"completion_tokens":1}', ',"error":null'),
  roleEachChunk: fc.boolean(),
  reasoningKey: fc.constantFrom('reasoning' as const, 'reasoning_content' as const),
})

/** One piece of content, and how to write it. */
const pieceArb = fc.record({
  kind: fc.constantFrom('text', 'thinking', 'args', 'finish', 'other', 'garbage', 'done'),
  value: fc.oneof(fc.string({ unit: 'grapheme', maxLength: 12 }), fc.constantFrom('', '"', '\\', '\u2028', 'a"b', '"content":"x"', '\n\t')),
  style: fc.integer({ min: 0, max: 2 }),
  index: fc.integer({ min: 0, max: 1 }),
  ws: fc.boolean(),
})

function chunkOf(shape: Shape, p: fc.RecordValue<{ kind: string; value: string; style: number; index: number; ws: boolean }>): string {
  const role = shape.roleEachChunk ? '"role":"assistant",' : ''
  const v = spell(p.value, p.style)
  const wrap = (delta: string, finish = 'null'): string => `{${shape.head}"choices":[{"index":0,"delta":{${role}${delta}},"finish_reason":${finish}}]${shape.tail}}`
  switch (p.kind) {
    case 'text':
      return wrap(p.ws ? `"content": ${v}` : `"content":${v}`)
    case 'thinking':
      return wrap(`"${shape.reasoningKey}":${v}`)
    case 'args':
      return wrap(`"tool_calls":[{"index":${p.index},"function":{"arguments":${v}}}]`)
    case 'finish':
      return wrap('', '"tool_calls"')
    case 'other':
      // A new tool call (opens a block), or text and reasoning together.
      return p.ws ? wrap(`"tool_calls":[{"index":${p.index},"id":"call_${p.style}","type":"function","function":{"name":"f","arguments":${v}}}]`) : wrap(`"content":${v},"reasoning":"r"`)
    case 'garbage':
      // An envelope around something that is not one string token.
      return wrap(`"content":${v}${p.ws ? ',"x":"' : '+1'}`)
    default:
      return '[DONE]'
  }
}

function translate(chunks: readonly string[], fastPath: boolean): Array<[string, unknown]> {
  const out: Array<[string, unknown]> = []
  const emit = (event: string, data: string): void => {
    let parsed: unknown
    try {
      parsed = JSON.parse(data)
    } catch {
      parsed = { notJson: data }
    }
    out.push([event, parsed])
  }
  const translator = new ChatStreamTranslator('m', 'req1', [], { fastPath })
  for (const data of chunks) translator.onEvent({ event: 'message', data }, emit)
  translator.onEnd(emit)
  return out
}

t.test('the fast path and the full parse give the same events for any stream', async (t) => {
  fc.assert(
    fc.property(shapeArb, fc.array(pieceArb, { maxLength: 40 }), (shape, pieces) => {
      const chunks = pieces.map((p) => chunkOf(shape, p))
      const fast = translate(chunks, true)
      const full = translate(chunks, false)
      if (JSON.stringify(fast) !== JSON.stringify(full)) throw new Error(`differ:\n${chunks.join('\n')}\nfast ${JSON.stringify(fast)}\nfull ${JSON.stringify(full)}`)
    }),
    { seed, numRuns: 2000 },
  )
  t.pass('2000 streams agree')
})

t.test('a learnt envelope matches the same shape with another piece, and nothing else', async (t) => {
  const memo = new EnvelopeMemo()
  const chunk = (delta: string): string => `{"id":"c1","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{${delta}},"finish_reason":null}]}`
  const first = chunk('"content":"Hello"')
  memo.learn(first, pieceOf(JSON.parse(first))!)
  const hit = memo.match(chunk('"content":"wor\\"ld \\u00e9"'))
  t.equal(hit?.token, '"wor\\"ld \\u00e9"', 'the token is copied as the server spelled it')
  t.equal(hit?.envelope.kind, 'text')
  t.equal(memo.match(chunk('"content":"a","x":"b"')), undefined, 'two tokens are not one')
  t.equal(memo.match(chunk('"content":"a\u0001"')), undefined, 'a raw control character is not a string token')
  t.equal(memo.match(chunk('"content":"bad \\x escape"')), undefined, 'a bad escape is not a string token')
  t.equal(memo.match(chunk('"reasoning":"x"')), undefined, 'another shape is not matched')

  const usage = `{"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}],"usage":{"prompt_tokens":1}}`
  t.equal(pieceOf(JSON.parse(usage)), undefined, 'a chunk with usage asks more of the translator: no envelope')
  const twice = `{"choices":[{"index":0,"delta":{"content":"x","content":"y"},"finish_reason":null}]}`
  const m2 = new EnvelopeMemo()
  m2.learn(twice, pieceOf(JSON.parse(twice))!)
  t.equal(m2.match(twice)?.token, '"y"', 'of a duplicated key, the slot is the member JSON.parse keeps (the last)')
})
