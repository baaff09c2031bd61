/**
 * The relay's own OTLP protobuf encoding (src/tracing/otlp-proto.ts, batch.ts) is byte for byte what
 * the official serializer (@opentelemetry/otlp-transformer 0.223.1, ProtobufTraceSerializer) makes of
 * the same spans, for any text, any number, any time the official writer can represent.
 */
import t from 'tap'
import fc from 'fast-check'
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer'
import { batchMaker } from '../../src/tracing/batch.js'
import { readable, resourceArb, scopeArb, spanData } from '../helpers/span-arbitrary.js'

t.test('a batch of spans: the same bytes as the official serializer', async (t) => {
  fc.assert(
    fc.property(fc.array(spanData, { minLength: 1, maxLength: 12 }), resourceArb, scopeArb, fc.integer({ min: 1, max: 16 }), (spans, resource, scope, expected) => {
      const batch = batchMaker('http/protobuf', resource, scope, expected)()
      for (const span of spans) batch.add(span)
      const official = ProtobufTraceSerializer.serializeRequest(spans.map((s) => readable(s, resource, scope)))!
      const ours = batch.body()
      if (Buffer.compare(Buffer.from(ours), Buffer.from(official)) !== 0) {
        throw new Error(`differ:\n ours     ${Buffer.from(ours).toString('hex')}\n official ${Buffer.from(official).toString('hex')}`)
      }
    }),
    { numRuns: 300 },
  )
  t.pass('300 random batches encoded alike')
})

t.test('a batch larger than its first buffer grows and stays exact (nested lengths of several bytes)', async (t) => {
  fc.assert(
    fc.property(fc.array(spanData, { minLength: 150, maxLength: 200 }), resourceArb, scopeArb, (spans, resource, scope) => {
      const batch = batchMaker('http/protobuf', resource, scope, 1)()
      for (const span of spans) batch.add(span)
      const official = ProtobufTraceSerializer.serializeRequest(spans.map((s) => readable(s, resource, scope)))!
      return Buffer.compare(Buffer.from(batch.body()), Buffer.from(official)) === 0
    }),
    { numRuns: 10 },
  )
  t.pass('large batches encoded alike')
})
