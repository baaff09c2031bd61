/**
 * Property tests of the two stream decoders (issue 11): for any bytes an upstream might send, split
 * anywhere, a decoder either delivers events or throws its FramingError — never another exception —
 * and what it delivers does not depend on where the chunks were cut. Seeded: CC_RELAY_FUZZ_SEED
 * replays a failing run (fast-check prints the seed and the counterexample).
 */
import t from 'tap'
import fc from 'fast-check'
import type { SseEvent } from '../../plugins/sdk.js'
import { EventStreamDecoder } from '../../src/workers/framing/aws-eventstream.js'
import { FramingError } from '../../src/workers/framing/framing-error.js'
import { SseDecoder } from '../../src/workers/framing/sse.js'
import * as eventstreamJs from '../../bench/lib/eventstream.mjs'

const eventstream = eventstreamJs as unknown as {
  encodeEventStreamMessage(headers: Record<string, string | number | boolean | Uint8Array>, payload: Uint8Array | string): Buffer
}
const seed = Number(process.env.CC_RELAY_FUZZ_SEED ?? 20261201)

type Decoder = { push(chunk: Uint8Array): void; end(): void }
type Outcome = { events: SseEvent[]; error?: string }

/** Runs `bytes` through a fresh decoder in pieces cut at `cuts`; any exception but FramingError escapes. */
function run(make: (onEvent: (e: SseEvent) => void) => Decoder, bytes: Uint8Array, cuts: readonly number[]): Outcome {
  const events: SseEvent[] = []
  const decoder = make((e) => events.push(e))
  const points = [...new Set(cuts.map((c) => (bytes.length ? c % bytes.length : 0)))].sort((a, b) => a - b)
  let from = 0
  try {
    for (const at of [...points, bytes.length]) {
      decoder.push(bytes.subarray(from, at))
      from = at
    }
    decoder.end()
    return { events }
  } catch (err) {
    if (!(err instanceof FramingError)) throw err
    return { events, error: err.message }
  }
}

const sse = (onEvent: (e: SseEvent) => void): Decoder => new SseDecoder(onEvent)
const awsEvents = (onEvent: (e: SseEvent) => void): Decoder => new EventStreamDecoder(onEvent)

const SSE_PIECES = ['event: ', 'data: ', 'data:', 'id: 1', ': comment', 'message_start', '{"type":"ping"}', '\n', '\r\n', '\r', '\n\n', 'é', '日', ' ', ':']
const sseText = fc.array(fc.oneof(fc.constantFrom(...SSE_PIECES), fc.string({ maxLength: 8 })), { maxLength: 40 }).map((parts) => Buffer.from(parts.join(''), 'utf8'))
const cuts = fc.array(fc.nat(), { maxLength: 6 })

t.test('SSE: any bytes, cut anywhere, decode to the same events as whole, and never throw', async (t) => {
  fc.assert(
    fc.property(fc.oneof(sseText, fc.uint8Array({ maxLength: 200 })), cuts, (bytes, at) => {
      const whole = run(sse, bytes, [])
      const split = run(sse, bytes, at)
      return whole.error === undefined && split.error === undefined && JSON.stringify(split.events) === JSON.stringify(whole.events)
    }),
    { seed, numRuns: 3000 },
  )
  t.pass('3000 runs')
})

const header = fc.oneof(fc.string({ maxLength: 12 }), fc.boolean(), fc.integer({ min: -1000, max: 1000 }), fc.uint8Array({ maxLength: 8 }))
const frame = fc
  .tuple(fc.dictionary(fc.string({ minLength: 1, maxLength: 10 }), header, { maxKeys: 4 }), fc.string({ maxLength: 60 }))
  .map(([headers, payload]) => eventstream.encodeEventStreamMessage(headers, payload))
const frames = fc.array(frame, { maxLength: 5 }).map((f) => Buffer.concat(f))

t.test('event stream: valid frames decode the same at any cut; any mutation or random bytes give events or a FramingError, nothing else', async (t) => {
  fc.assert(
    fc.property(frames, cuts, (bytes, at) => {
      const whole = run(awsEvents, bytes, [])
      const split = run(awsEvents, bytes, at)
      return whole.error === undefined && JSON.stringify(split) === JSON.stringify(whole)
    }),
    { seed, numRuns: 1000 },
  )
  fc.assert(
    fc.property(frames, fc.nat(), fc.integer({ min: 0, max: 255 }), cuts, (bytes, where, value, at) => {
      const mutated = Buffer.from(bytes)
      if (mutated.length) mutated[where % mutated.length] = value
      // Whole or split, the verdict is the same: run() itself fails the property on a foreign exception.
      const whole = run(awsEvents, mutated, [])
      const split = run(awsEvents, mutated, at)
      return (whole.error === undefined) === (split.error === undefined)
    }),
    { seed, numRuns: 3000 },
  )
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), cuts, (bytes, at) => {
      run(awsEvents, bytes, at)
      return true
    }),
    { seed, numRuns: 3000 },
  )
  t.pass('1000 + 3000 + 3000 runs')
})

t.test('event stream: a frame whose header lengths lie (CRCs recomputed to match) is a FramingError, not a RangeError', async (t) => {
  const good = eventstream.encodeEventStreamMessage({ ':event-type': 'chunk' }, '{}')
  const { crc32 } = await import('node:zlib')
  const lying = Buffer.from(good)
  lying[12] = 200 // the first header's name length, far past the headers' end
  lying.writeUInt32BE(crc32(lying.subarray(0, lying.length - 4)), lying.length - 4)
  const result = run(awsEvents, lying, [])
  t.match(result.error, /overrun/)
})
