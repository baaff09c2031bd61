/**
 * What routing rules read from a body (src/ingress/body-facts.ts: thinking, tool names and types,
 * image blocks), checked against JSON.parse of the same body for arbitrary Messages-shaped requests —
 * with "image" appearing as text, as a tool input's field and as a key, so the byte search's hits must
 * be confirmed block by block. Seeded: CC_RELAY_FUZZ_SEED replays a failing run.
 */
import t from 'tap'
import fc from 'fast-check'
import { sniffBody } from '../../src/ingress/sniff.js'

const seed = Number(process.env.CC_RELAY_FUZZ_SEED ?? 20261201)

const IMAGE = { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } }
const word = fc.constantFrom('image', '"image"', 'web_search', 'Read', 'x', '', 'é "quoted" \\ back', 'type')

const block = fc.oneof(
  word.map((text) => ({ type: 'text', text })),
  fc.constant(IMAGE),
  word.map((v) => ({ type: 'tool_use', id: 't1', name: 'Read', input: { type: 'image', image: v } })),
  fc.array(fc.oneof(fc.constant(IMAGE), word.map((text) => ({ type: 'text', text }))), { maxLength: 3 }).map((content) => ({ type: 'tool_result', tool_use_id: 't1', content })),
  word.map((content) => ({ type: 'tool_result', tool_use_id: 't1', content })),
)
const message = fc.record({ role: fc.constantFrom('user', 'assistant'), content: fc.oneof(word, fc.array(block, { maxLength: 4 })) })
const tool = fc.oneof(
  word.map((name) => ({ name, description: 'image', input_schema: { type: 'object', properties: { type: { type: 'string' } } } })),
  fc.constantFrom({ type: 'web_search_20250305', name: 'web_search' }, { type: 'bash_20250124', name: 'bash' }),
)
const body = fc.record(
  {
    model: fc.constant('claude-x'),
    max_tokens: fc.constant(10),
    messages: fc.array(message, { maxLength: 4 }),
    tools: fc.array(tool, { maxLength: 4 }),
    thinking: fc.oneof(fc.constantFrom({ type: 'enabled', budget_tokens: 1024 }, { type: 'adaptive' }, { type: 'disabled' }), word),
  },
  { requiredKeys: ['model', 'messages'] },
)

type Msg = { content: unknown }
const truth = (b: { messages: Msg[]; tools?: { name?: string; type?: string }[]; thinking?: unknown }) => ({
  thinking: typeof b.thinking === 'object' && b.thinking !== null && ['enabled', 'adaptive'].includes((b.thinking as { type: string }).type),
  tools: (b.tools ?? []).flatMap((x) => [x.name, x.type].filter((v): v is string => typeof v === 'string')),
  images: b.messages.some(
    (m) =>
      Array.isArray(m.content) &&
      (m.content as { type: string; content?: unknown }[]).some((c) => c.type === 'image' || (c.type === 'tool_result' && Array.isArray(c.content) && (c.content as { type: string }[]).some((d) => d.type === 'image'))),
  ),
})

t.test('body facts agree with JSON.parse for any Messages-shaped body, in any spacing', async (t) => {
  fc.assert(
    fc.property(body, fc.integer({ min: 0, max: 2 }), (b, spacing) => {
      const text = JSON.stringify(b, null, spacing)
      const sniffed = sniffBody(Buffer.from(text))
      if (!sniffed.ok) throw new Error(`not sniffed: ${text}`)
      const want = truth(b as never)
      const got = { thinking: sniffed.facts.thinking(), tools: [...sniffed.facts.tools()], images: sniffed.facts.images() }
      if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`differ on ${text}\ngot ${JSON.stringify(got)}\nwant ${JSON.stringify(want)}`)
    }),
    { seed, numRuns: 2000 },
  )
  t.pass('2000 bodies agree')
})

t.test('tool names as JSON.parse reads them: escaped keys, repeated keys, odd shapes', async (t) => {
  const tools = (json: string) => {
    const sniffed = sniffBody(Buffer.from(`{"model":"m","messages":[],${json}}`))
    if (!sniffed.ok) throw new Error(sniffed.error.message)
    return [...sniffed.facts.tools()]
  }
  t.same(tools('"tools":[{"n\\u0061me":"web_search_x"}]'), ['web_search_x'], 'an escaped key is the key')
  t.same(tools('"tools":[{"name":"a","name":"b","type":"t"}]'), ['b', 't'], 'the last of a repeated key')
  t.same(tools('"tools":[{"name":"a","name":7}]'), [], 'a repeated key whose last value is not a string')
  t.same(tools('"tools":{"name":"x"}'), [], 'tools that are not an array')
  t.same(tools('"tools":[1,"x",null,{"name":"\\u0077eb"}]'), ['web'], 'an escaped value is decoded')
  t.same(tools('"tools":[{"name":"a"}],"tools":[{"name":"b"}]'), ['b'], 'a repeated tools member: the last')
})
