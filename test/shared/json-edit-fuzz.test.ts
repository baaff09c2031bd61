/**
 * Property tests of the body edits plugins use (issue 11): on any JSON object the ingress accepted,
 * `setField`, `deleteField`, `getField` and `removeCacheScope` never throw, always leave valid JSON,
 * and change exactly what they say — every other member keeps its value.
 */
import t from 'tap'
import fc from 'fast-check'
import { deleteField, getField, setField } from '../../src/shared/json-edit.js'
import { removeCacheScope } from '../../src/shared/cache-scope.js'
import { scanObject } from '../../src/shared/json-scan.js'

const seed = Number(process.env.CC_RELAY_FUZZ_SEED ?? 20261201)
const KEYS = ['model', 'stream', 'max_tokens', 'metadata', 'system', 'messages', 'tools', 'thinking', 'é', 'a"b', 'back\\slash']
const key = fc.oneof(fc.constantFrom(...KEYS), fc.string({ unit: 'binary', maxLength: 5 }))
const value = fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' })
const object = fc.dictionary(key, value, { maxKeys: 6 })
/** The same object in three spellings: compact, indented with spaces, indented with tabs. */
const text = (o: unknown): fc.Arbitrary<Buffer> => fc.constantFrom(JSON.stringify(o), JSON.stringify(o, null, 2), JSON.stringify(o, null, '\t')).map((s) => Buffer.from(s))

const parsed = (b: Uint8Array): Record<string, unknown> => JSON.parse(Buffer.from(b).toString()) as Record<string, unknown>
/** Equal as JSON objects, member order aside. */
const sameMembers = (a: object, b: object): boolean => {
  const sorted = (o: object): string => JSON.stringify(Object.entries(o).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)))
  return sorted(a) === sorted(b)
}
const asJson = <T>(o: T): T => JSON.parse(JSON.stringify(o)) as T

t.test('setField / deleteField / getField: valid JSON out, only the named member changed', async (t) => {
  fc.assert(
    fc.property(object.chain((o) => fc.tuple(fc.constant(o), text(o), key, value)), ([o, body, k, v]) => {
      if (!scanObject(body).ok) return false
      if (!sameMembers(parsed(setField(body, k, JSON.stringify(v))), asJson({ ...o, [k]: v }))) return false
      const rest = { ...o }
      delete rest[k]
      if (!sameMembers(parsed(deleteField(body, k)), asJson(rest))) return false
      return JSON.stringify(getField(body, k)) === JSON.stringify(asJson(o)[k])
    }),
    { seed, numRuns: 1500 },
  )
  t.pass('1500 runs')
})

const block = fc.record({ type: fc.constantFrom('text', 'image', 'tool_result'), text: fc.string({ maxLength: 5 }), cache_control: fc.option(fc.record({ type: fc.constant('ephemeral'), scope: fc.option(fc.constantFrom('global', 'org')), ttl: fc.option(fc.constantFrom('5m', '1h')) }), { nil: undefined }) }, { requiredKeys: ['type'] })
const request = fc.record(
  {
    model: fc.string({ maxLength: 8 }),
    system: fc.array(block, { maxLength: 3 }),
    tools: fc.array(fc.record({ name: fc.string({ maxLength: 5 }), input_schema: value, cache_control: fc.option(fc.record({ type: fc.constant('ephemeral'), scope: fc.constant('global') }), { nil: undefined }) }), { maxLength: 3 }),
    messages: fc.array(fc.record({ role: fc.constantFrom('user', 'assistant'), content: fc.oneof(fc.string({ maxLength: 5 }), fc.array(block, { maxLength: 3 })) }), { maxLength: 3 }),
    extra: value,
  },
  { requiredKeys: ['model'] },
)

/** `o` as JSON.parse sees it, with every `scope` removed from cache_control objects where the Messages API puts them. */
function withoutScopes(o: unknown): unknown {
  const copy = JSON.parse(JSON.stringify(o)) as Record<string, unknown>
  const strip = (holder: unknown): void => {
    const cc = (holder as { cache_control?: Record<string, unknown> } | null)?.cache_control
    if (cc && typeof cc === 'object') delete cc.scope
  }
  strip(copy)
  for (const list of ['system', 'tools'] as const) if (Array.isArray(copy[list])) for (const b of copy[list] as unknown[]) strip(b)
  if (Array.isArray(copy.messages)) {
    for (const m of copy.messages as { content?: unknown }[]) if (Array.isArray(m.content)) for (const b of m.content) strip(b)
  }
  return copy
}

t.test('removeCacheScope: any request, valid JSON out, exactly the scopes gone', async (t) => {
  fc.assert(
    fc.property(request.chain((o) => fc.tuple(fc.constant(o), text(o))), ([o, body]) => {
      const { body: out } = removeCacheScope(body)
      return JSON.stringify(parsed(out)) === JSON.stringify(withoutScopes(o))
    }),
    { seed, numRuns: 1500 },
  )
  t.pass('1500 runs')
})
