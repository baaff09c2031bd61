/**
 * The core's AWS event-stream decoder (src/workers/framing/aws-eventstream.ts) on frames built by an
 * independent encoder (bench/lib/eventstream.mjs, checked against botocore's worked example in
 * wire-protocols §3.5): every fixture decodes identically whole and re-split at 1, 7 and 64 bytes; a
 * broken CRC, an oversized frame and a stream cut inside a frame each throw.
 */
import t from 'tap'
import type { SseEvent } from '../../plugins/sdk.js'
import { EventStreamDecoder, MAX_FRAME_BYTES } from '../../src/workers/framing/aws-eventstream.js'
import { STREAM_EVENTS } from '../fixtures/anthropic.js'
import * as eventstreamJs from '../../bench/lib/eventstream.mjs'
import * as shapeJs from '../../bench/lib/shape.mjs'

type Header = string | number | boolean | Uint8Array
const eventstream = eventstreamJs as unknown as {
  encodeEventStreamMessage(headers: Record<string, Header>, payload: Uint8Array | string): Buffer
  bedrockChunkMessage(event: unknown): Buffer
  bedrockFrames(p: Record<string, string | number>): Buffer[]
}
const shape = shapeJs as unknown as {
  DEFAULTS: Record<string, string | number>
  eventObjects(p: Record<string, string | number>): { type: string }[]
}

const CHUNK_HEADERS = { ':event-type': 'chunk', ':content-type': 'application/json', ':message-type': 'event' }

/** Decodes `bytes` pushed as consecutive chunks of `size` bytes, then ends. */
function decode(bytes: Buffer, size: number): SseEvent[] {
  const events: SseEvent[] = []
  const decoder = new EventStreamDecoder((e) => events.push(e))
  for (let i = 0; i < bytes.length; i += size) decoder.push(bytes.subarray(i, i + size))
  decoder.end()
  return events
}

function throwsAtSomeSplit(bytes: Buffer, size: number): string {
  const decoder = new EventStreamDecoder(() => {})
  try {
    for (let i = 0; i < bytes.length; i += size) decoder.push(bytes.subarray(i, i + size))
    decoder.end()
  } catch (err) {
    return (err as Error).message
  }
  return ''
}

const chunkEvent = (event: unknown): SseEvent => ({
  event: 'chunk',
  data: JSON.stringify({ bytes: Buffer.from(JSON.stringify(event)).toString('base64') }),
  headers: CHUNK_HEADERS,
})

const anthropicStream = Buffer.concat(STREAM_EVENTS.map((e) => eventstream.bedrockChunkMessage(e)))
const anthropicEvents = STREAM_EVENTS.map(chunkEvent)

const benchParams = { ...shape.DEFAULTS, events: 30, bytes: 300, thinking: 1, tool: 1 }
const benchStream = Buffer.concat(eventstream.bedrockFrames(benchParams))
const benchEvents = shape.eventObjects(benchParams).map(chunkEvent)

/** Exception frames, other header types (only string headers are reported), empty and large payloads, UTF-8. */
const big = 'é日😀'.repeat(3_000)
const mixed = Buffer.concat([
  eventstream.encodeEventStreamMessage({ ':exception-type': 'throttlingException', ':content-type': 'application/json', ':message-type': 'exception' }, '{"message":"Too many requests, please wait before trying again."}'),
  eventstream.encodeEventStreamMessage({ ':message-type': 'event', ':event-type': 'initial-response', flag: true, off: false, n: -7, raw: Buffer.from([1, 2, 3]) }, ''),
  eventstream.encodeEventStreamMessage({ ':message-type': 'event', ':event-type': 'chunk' }, big),
  eventstream.encodeEventStreamMessage({ ':message-type': 'error', ':error-code': 'InternalFailure', ':error-message': 'ünïcödé failure' }, ''),
  eventstream.encodeEventStreamMessage({}, 'no headers at all'),
])
const mixedEvents: SseEvent[] = [
  {
    event: 'throttlingException',
    data: '{"message":"Too many requests, please wait before trying again."}',
    headers: { ':exception-type': 'throttlingException', ':content-type': 'application/json', ':message-type': 'exception' },
  },
  { event: 'initial-response', data: '', headers: { ':message-type': 'event', ':event-type': 'initial-response' } },
  { event: 'chunk', data: big, headers: { ':message-type': 'event', ':event-type': 'chunk' } },
  { event: 'message', data: '', headers: { ':message-type': 'error', ':error-code': 'InternalFailure', ':error-message': 'ünïcödé failure' } },
  { event: 'message', data: 'no headers at all', headers: {} },
]

t.test("the encoder matches botocore's worked example byte for byte (wire-protocols §3.5)", async (t) => {
  const frame = eventstream.encodeEventStreamMessage(CHUNK_HEADERS, '{"bytes":"eyJ0eXBlIjoibWVzc2FnZV9zdG9wIn0=","p":"abcd"}')
  t.equal(frame.length, 146)
  t.equal(frame.subarray(0, 12).toString('hex'), '000000920000004b2fea3301')
  t.equal(frame.subarray(-4).toString('hex'), '42b72480')
  t.same(decode(frame, frame.length), [{ event: 'chunk', data: '{"bytes":"eyJ0eXBlIjoibWVzc2FnZV9zdG9wIn0=","p":"abcd"}', headers: CHUNK_HEADERS }])
})

for (const [name, bytes, expected] of [
  ['the Anthropic fixture as Bedrock chunks', anthropicStream, anthropicEvents],
  ['a bench stream with thinking and a tool call', benchStream, benchEvents],
  ['exception, error and odd frames', mixed, mixedEvents],
] as const) {
  t.test(`${name}: identical whole and re-split at 1, 7 and 64 bytes`, async (t) => {
    const whole = decode(bytes, bytes.length)
    t.same(whole, expected, 'whole')
    for (const size of [1, 7, 64]) t.same(decode(bytes, size), whole, `${size}-byte chunks`)
  })
}

t.test('a broken message CRC throws, at every split', async (t) => {
  const bad = Buffer.from(anthropicStream)
  const third = eventstream.bedrockChunkMessage(STREAM_EVENTS[0]).length + eventstream.bedrockChunkMessage(STREAM_EVENTS[1]).length
  bad[third + 40] = bad[third + 40]! ^ 0x01 // a payload byte of the third frame
  for (const size of [1, 7, 64, bad.length]) t.match(throwsAtSomeSplit(bad, size), /checksum|crc/i, `${size}-byte chunks`)
  const events: SseEvent[] = []
  const decoder = new EventStreamDecoder((e) => events.push(e))
  t.throws(() => decoder.push(bad))
  t.equal(events.length, 2, 'the frames before the broken one were delivered')
})

t.test('a broken prelude CRC throws', async (t) => {
  const bad = eventstream.bedrockChunkMessage({ type: 'ping' })
  bad[9] = bad[9]! ^ 0xff
  t.match(throwsAtSomeSplit(bad, 7), /checksum|crc/i)
})

t.test('a frame larger than MAX_FRAME_BYTES throws from its prelude alone', async (t) => {
  const prelude = Buffer.alloc(12)
  prelude.writeUInt32BE(MAX_FRAME_BYTES + 1, 0)
  prelude.writeUInt32BE(0, 4)
  const decoder = new EventStreamDecoder(() => {})
  t.throws(() => decoder.push(prelude), /frame of \d+ bytes is not valid/, 'no 16 MiB buffered first')
  const tiny = Buffer.alloc(12)
  tiny.writeUInt32BE(15, 0)
  t.throws(() => new EventStreamDecoder(() => {}).push(tiny), /not valid/, 'a length below the minimum frame throws too')
  t.equal(MAX_FRAME_BYTES, 16 << 20)
})

t.test('a stream cut inside a frame throws on end(); a clean end does not', async (t) => {
  for (const cut of [1, 11, 12, 50, anthropicStream.length - 1]) {
    const decoder = new EventStreamDecoder(() => {})
    decoder.push(anthropicStream.subarray(0, cut))
    t.throws(() => decoder.end(), /ended inside a frame/, `cut after ${cut} bytes`)
  }
  const decoder = new EventStreamDecoder(() => {})
  decoder.push(anthropicStream)
  t.doesNotThrow(() => decoder.end())
  t.doesNotThrow(() => new EventStreamDecoder(() => {}).end(), 'an empty stream ends cleanly')
})
