/**
 * The passthrough usage reader (`absorbWholeEvents`) against the reference: the SSE decoder with
 * `absorbEvent` on every event. Same usage and reply facts for the fixture stream cut into whole-event
 * chunks at every boundary, with CRLF line ends, without the space after the colon, and with decoys
 * (`event: message_…` inside a data line, other `message_` events).
 */
import t from 'tap'
import { SseDecoder } from '../../src/workers/framing/sse.js'
import { EventBoundary } from '../../src/workers/framing/event-boundary.js'
import { absorbEvent, absorbWholeEvents, emptyReply, emptyUsage } from '../../src/workers/usage.js'
import { STREAM_EVENTS } from '../fixtures/anthropic.js'
import { prng } from '../helpers/prng.js'

function reference(text: string) {
  const usage = emptyUsage()
  const reply = emptyReply()
  const decoder = new SseDecoder((e) => absorbEvent(usage, e, reply))
  decoder.push(Buffer.from(text))
  decoder.end()
  return { usage, reply }
}

/** The reader fed as the exchange feeds it: through EventBoundary, chunks cut at random. */
function whole(text: string, random: () => number) {
  const usage = emptyUsage()
  const reply = emptyReply()
  const input = Buffer.from(text)
  const boundary = new EventBoundary()
  for (let at = 0; at < input.length; ) {
    const size = 1 + Math.floor(random() * 300)
    absorbWholeEvents(usage, boundary.push(input.subarray(at, at + size)), reply)
    at += size
  }
  const rest = boundary.rest()
  if (rest) absorbWholeEvents(usage, rest, reply)
  return { usage, reply }
}

const frames = (sep: string, space: string) =>
  STREAM_EVENTS.map((e) => `event:${space}${e.type}${sep}data:${space}${JSON.stringify(e)}${sep}${sep}`).join('')

const decoys = [
  // A text delta that talks about SSE: the words are inside a data line, never an event field.
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"event: message_delta data: {\\"usage\\":{\\"output_tokens\\":999}}"}}\n\n',
  'event: message_stop\ndata: {"type":"message_stop","usage":{"output_tokens":777}}\n\n',
  ': a comment\n\n',
  'event: message_delta\n\n', // no data line: nothing to read, and the next event's data is not its
].join('')

for (const [name, text] of [
  ['LF, a space after the colon', frames('\n', ' ')],
  ['CRLF', frames('\r\n', ' ')],
  ['no space after the colon', frames('\n', '')],
  ['with decoys', frames('\n', ' ').replace(/(event: message_stop)/, `${decoys.replace(/\$/g, '$$$$')}$1`)],
] as const) {
  t.test(`absorbWholeEvents reads what the decoder reads: ${name}`, async (t) => {
    const expected = reference(text)
    t.ok(expected.usage.output_tokens > 0, 'the fixture carries usage')
    for (let seed = 1; seed <= 40; seed++) t.same(whole(text, prng(seed)), expected, `seed ${seed}`)
    const all = { usage: emptyUsage(), reply: emptyReply() }
    absorbWholeEvents(all.usage, Buffer.from(text), all.reply)
    t.same(all, expected, 'in one piece')
  })
}
