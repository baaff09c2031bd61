/** src/workers/opening.ts: what holds a stream's opening, what releases it, and what fails it. */
import t from 'tap'
import { MAX_HELD_BYTES, Opening } from '../../src/workers/opening.js'
import { sse } from '../helpers/mock-upstream.js'

const head = { t: 'head' as const, status: 200, headers: ['content-type', 'text/event-stream'], ttfbMs: 1 }
const START = { type: 'message_start', message: { id: 'm' } }
const PING = { type: 'ping' }
const BLOCK = { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }
const error = (type: string) => ({ type: 'error', error: { type, message: 'x' } })
const bytes = (events: object[], eol = '\n') => Buffer.from(sse(events as { type: string }[]).replaceAll('\n', eol))

t.test('passthrough bytes: the verdict of the first event that is not part of an opening', async (t) => {
  const cases: [name: string, events: object[], verdict: object][] = [
    ['message_start and a ping hold', [START, PING], { kind: 'hold' }],
    ['content releases', [START, PING, BLOCK], { kind: 'release' }],
    ['a whole burst is judged at its second event', [START, BLOCK, error('overloaded_error')], { kind: 'release' }],
    ['an error first fails', [error('overloaded_error')], { kind: 'failed', errorType: 'overloaded_error' }],
    ['an error after the opening fails', [START, PING, error('api_error')], { kind: 'failed', errorType: 'api_error' }],
    ['nothing yet holds', [], { kind: 'hold' }],
  ]
  for (const [name, events, verdict] of cases) {
    for (const eol of ['\n', '\r\n']) t.same(new Opening(head, 0).holdBytes(bytes(events, eol)), verdict, `${name} (${JSON.stringify(eol)})`)
  }
  t.same(new Opening(head, 0).holdBytes(Buffer.from('event: error\ndata: not json\n\n')), { kind: 'failed', errorType: 'api_error' }, 'unreadable error data')
  t.same(new Opening(head, 0).holdBytes(Buffer.from(': a comment\n\nevent: ping\ndata: {}\n\n')), { kind: 'hold' }, 'comments are not events')
  t.same(new Opening(head, 0).holdBytes(Buffer.from('data: {"no":"name"}\n\n')), { kind: 'release' }, 'an unnamed event is a message: content')
})

t.test('across reads the held bytes are kept in order; past MAX_HELD_BYTES the opening is let go', async (t) => {
  const o = new Opening(head, 0)
  t.same(o.holdBytes(bytes([START])), { kind: 'hold' })
  t.same(o.holdBytes(bytes([PING])), { kind: 'hold' })
  t.same(o.holdBytes(bytes([BLOCK])), { kind: 'release' })
  t.equal(o.body().toString(), sse([START, PING, BLOCK] as { type: string }[]), 'everything held, as it came')
  const pings = new Opening(head, 0)
  const ping = bytes([PING])
  // Bounded: an opening that never let go would otherwise loop (and grow) until tap's timeout.
  const most = Math.ceil(MAX_HELD_BYTES / ping.length) + 2
  let verdict = pings.holdBytes(ping)
  for (let i = 0; verdict.kind === 'hold' && i < most; i++) verdict = pings.holdBytes(ping)
  t.same(verdict, { kind: 'release' }, `let go within ${most} pings`)
  t.ok(pings.body().length > MAX_HELD_BYTES, 'only after the limit')
})

t.test('translated events are judged one by one and kept as text', async (t) => {
  const o = new Opening(head, 0)
  t.same(o.holdEvent({ event: 'message_start', data: '{}' }, 'event: message_start\ndata: {}\n\n'), { kind: 'hold' })
  t.same(o.holdEvent({ event: 'error', data: JSON.stringify(error('overloaded_error')) }, 'x'), { kind: 'failed', errorType: 'overloaded_error' })
  t.equal(o.body().toString(), 'event: message_start\ndata: {}\n\nx')
})
