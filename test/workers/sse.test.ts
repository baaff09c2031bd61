import t from 'tap'
import type { Test } from 'tap'
import type { SseEvent } from '../../plugins/sdk.js'
import { SseDecoder } from '../../src/workers/framing/sse.js'
import { USAGE_EVENTS } from '../../src/workers/usage.js'
import { STREAM_EVENTS } from '../fixtures/anthropic.js'
import { sse } from '../helpers/mock-upstream.js'

/** Decodes `bytes` pushed as consecutive chunks of `size` bytes, then ends. */
function decode(bytes: Buffer, size: number, wanted?: ReadonlySet<string>): SseEvent[] {
  const events: SseEvent[] = []
  const decoder = new SseDecoder((e) => events.push(e), wanted)
  for (let i = 0; i < bytes.length; i += size) decoder.push(bytes.subarray(i, i + size))
  decoder.end()
  return events
}

/** Decodes chunks exactly as given (strings or bytes). */
function decodeChunks(chunks: readonly (string | Buffer)[], wanted?: ReadonlySet<string>): SseEvent[] {
  const events: SseEvent[] = []
  const decoder = new SseDecoder((e) => events.push(e), wanted)
  for (const c of chunks) decoder.push(typeof c === 'string' ? Buffer.from(c, 'utf8') : c)
  decoder.end()
  return events
}

const EOLS = { LF: '\n', CRLF: '\r\n', CR: '\r' } as const
const withEol = (lf: string, eol: string): Buffer => Buffer.from(lf.replace(/\n/g, eol), 'utf8')

/** Every fixture must decode identically whole and re-split at 1, 7 and 64 bytes, for every line ending. */
function checkAllSplits(t: Test, name: string, lf: string, expected: readonly SseEvent[], wanted?: ReadonlySet<string>): void {
  for (const [eolName, eol] of Object.entries(EOLS)) {
    const bytes = withEol(lf, eol)
    for (const size of [1, 7, 64, bytes.length]) t.same(decode(bytes, size, wanted), expected, `${name}, ${eolName}, ${size}-byte chunks`)
  }
}

const ANTHROPIC = sse(STREAM_EVENTS)
const ANTHROPIC_EVENTS: SseEvent[] = STREAM_EVENTS.map((e) => ({ event: e.type, data: JSON.stringify(e) }))

/** One stream exercising every framing rule, and what it must decode to. */
const EDGES = [
  ': keepalive\n\n',
  'event: first\ndata: {"a":1}\n\n',
  ':comment between fields\nevent:nospace\ndata:x\n\n',
  'data:  two spaces keep one\n\n',
  'data: line one\ndata:\ndata: line three\n\n',
  'data: no event line\n\n',
  'event: named\n: a comment inside an event\ndata: é日😀 “ü” ✓\n\n',
  'event: no-data-is-not-dispatched\n\n',
  'id: 7\nretry: 1000\nunknown: field\ndata: other fields ignored\n\n',
  'event: reset\ndata: a\n\n',
  'data: the event name does not leak into the next event\n\n',
  '\n\n\n',
  'event: last\ndata: unterminated',
].join('')
const EDGE_EVENTS: SseEvent[] = [
  { event: 'first', data: '{"a":1}' },
  { event: 'nospace', data: 'x' },
  { event: 'message', data: ' two spaces keep one' },
  { event: 'message', data: 'line one\n\nline three' },
  { event: 'message', data: 'no event line' },
  { event: 'named', data: 'é日😀 “ü” ✓' },
  { event: 'message', data: 'other fields ignored' },
  { event: 'reset', data: 'a' },
  { event: 'message', data: 'the event name does not leak into the next event' },
  { event: 'last', data: 'unterminated' },
]

t.test('the Anthropic stream decodes to its events at every split and line ending', async (t) => {
  t.equal(ANTHROPIC_EVENTS.length, 18)
  checkAllSplits(t, 'anthropic', ANTHROPIC, ANTHROPIC_EVENTS)
})

t.test('framing rules: comments, data: without space, multi-line data, default name, end()', async (t) => {
  checkAllSplits(t, 'edges', EDGES, EDGE_EVENTS)
})

t.test('a final event is delivered on end() with or without its last line ending', async (t) => {
  t.same(decodeChunks(['data: a']), [{ event: 'message', data: 'a' }])
  t.same(decodeChunks(['data: a\n']), [{ event: 'message', data: 'a' }])
  t.same(decodeChunks(['data: a\r']), [{ event: 'message', data: 'a' }])
  t.same(decodeChunks(['event: e\ndata: a\r\n']), [{ event: 'e', data: 'a' }])
  const events: SseEvent[] = []
  const decoder = new SseDecoder((e) => events.push(e))
  decoder.push(Buffer.from('data: held'))
  t.same(events, [], 'nothing is dispatched before the blank line')
  decoder.end()
  t.same(events, [{ event: 'message', data: 'held' }])
  decoder.end()
  t.equal(events.length, 1, 'a second end() delivers nothing more')
})

t.test('an empty or comment-only stream yields no events', async (t) => {
  t.same(decodeChunks([]), [])
  t.same(decodeChunks(['\n\n\r\n\r\r']), [])
  t.same(decodeChunks([': ping\n\n:\n\n']), [])
})

t.test('splits inside a CRLF pair and inside UTF-8 characters', async (t) => {
  const crlf = 'event: a\r\ndata: 1\r\n\r\nevent: b\r\ndata: 2\r\n\r\n'
  const cuts: string[][] = [
    ['event: a\r', '\ndata: 1\r', '\n\r', '\nevent: b\r\ndata: 2\r\n\r', '\n'],
    ['event: a\r', '\n', 'data: 1\r', '\n', '\r', '\n', 'event: b\r\ndata: 2\r\n\r\n'],
  ]
  const expected = [
    { event: 'a', data: '1' },
    { event: 'b', data: '2' },
  ]
  for (const chunks of cuts) {
    t.equal(chunks.join(''), crlf)
    t.same(decodeChunks(chunks), expected, JSON.stringify(chunks))
  }
  const text = Buffer.from('data: 😀é✓\n\n', 'utf8')
  const emoji = text.indexOf(0xf0)
  for (const at of [emoji + 1, emoji + 2, emoji + 3, emoji + 5, emoji + 6, emoji + 8]) {
    t.same(decodeChunks([text.subarray(0, at), text.subarray(at)]), [{ event: 'message', data: '😀é✓' }], `split at byte ${at}`)
  }
})

t.test('a CR then an LF in the next chunk is one line ending, not two', async (t) => {
  t.same(decodeChunks(['data: a\r', '\ndata: b\r\n\r\n']), [{ event: 'message', data: 'a\nb' }])
  t.same(decodeChunks(['data: a\r', '\r', '\n']), [{ event: 'message', data: 'a' }], 'CR, then CRLF: one blank line')
})

t.test('an empty chunk between the CR and LF of a CRLF changes nothing', async (t) => {
  t.same(decodeChunks(['data: a\r', '', '\ndata: b\r\n\r\n']), [{ event: 'message', data: 'a\nb' }], 'one event with two data lines')
  t.same(decodeChunks(['data: a\r\n', '', 'data: b\n\n']), [{ event: 'message', data: 'a\nb' }], 'an empty chunk elsewhere is harmless')
})

t.test('wanted: only the named events are delivered, with their data', async (t) => {
  const usageOnly = ANTHROPIC_EVENTS.filter((e) => USAGE_EVENTS.has(e.event))
  t.same(
    usageOnly.map((e) => e.event),
    ['message_start', 'message_delta'],
  )
  checkAllSplits(t, 'anthropic, usage events only', ANTHROPIC, usageOnly, USAGE_EVENTS)
  checkAllSplits(t, 'edges, "named" and "message"', EDGES, EDGE_EVENTS.filter((e) => e.event === 'named' || e.event === 'message'), new Set(['named', 'message']))
  t.same(decode(Buffer.from(ANTHROPIC), 7, new Set()), [], 'an empty set delivers nothing')
})

t.test('wanted: a data line before the event line still delivers the data', async (t) => {
  const stream = 'data: {"usage":1}\nevent: message_delta\n\n'
  t.same(decodeChunks([stream]), [{ event: 'message_delta', data: '{"usage":1}' }], 'without a filter')
  t.same(decodeChunks([stream], USAGE_EVENTS), [{ event: 'message_delta', data: '{"usage":1}' }], 'with a filter')
})
