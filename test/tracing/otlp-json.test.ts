/**
 * The relay's own OTLP JSON encoding (src/tracing/otlp-json.ts, batch.ts) parses to the same object as
 * the official serializer's (@opentelemetry/otlp-transformer 0.223.1, JsonTraceSerializer) for the same
 * spans.
 */
import t from 'tap'
import fc from 'fast-check'
import { isDeepStrictEqual } from 'node:util'
import { JsonTraceSerializer } from '@opentelemetry/otlp-transformer'
import { batchMaker } from '../../src/tracing/batch.js'
import { readable, resourceArb, scopeArb, spanData } from '../helpers/span-arbitrary.js'

const parsed = (bytes: Uint8Array): unknown => JSON.parse(Buffer.from(bytes).toString('utf8'))

t.test('a batch of spans: the same JSON as the official serializer', async (t) => {
  fc.assert(
    fc.property(fc.array(spanData, { minLength: 1, maxLength: 12 }), resourceArb, scopeArb, (spans, resource, scope) => {
      const batch = batchMaker('http/json', resource, scope, 512)()
      for (const span of spans) batch.add(span)
      const ours = parsed(batch.body())
      const official = parsed(JsonTraceSerializer.serializeRequest(spans.map((s) => readable(s, resource, scope)))!)
      if (!isDeepStrictEqual(ours, official)) throw new Error(`differ:\n ours     ${JSON.stringify(ours)}\n official ${JSON.stringify(official)}`)
    }),
    { numRuns: 300 },
  )
  t.pass('300 random batches encoded alike')
})
