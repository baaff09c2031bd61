/**
 * The opening of a streamed answer, held back until its content starts (CONTRACT §6, issue 12).
 *
 * Anthropic (and backends like it) can answer 200 and then send `event: error` (`overloaded_error`,
 * `api_error`) before any content block: as the very first event, or after `message_start` and a
 * `ping`. If the relay had already passed the head and those events on, the client would get the error
 * while a backup provider sat idle. So the head, `message_start` and pings wait here until the first
 * other event (a `content_block_start`, usually in the same read as `message_start`, so holding costs
 * no visible time). An error before that fails the attempt like a 529, and the ingress can fail over.
 * The hold also ends when the keepalive rule commits the head (`server.keepalive_ms` of holding: the
 * client must see bytes during a long prefill), when the stream ends, or when more than MAX_HELD_BYTES
 * wait (an upstream that only pings).
 */
import type { SseEvent } from '../../plugins/sdk.js'
import type { WorkerMessage } from '../shared/protocol.js'

export const MAX_HELD_BYTES = 64 * 1024

/** What one opening event means: keep holding, let everything go, or the attempt failed with this error type. */
export type OpeningVerdict = { readonly kind: 'hold' } | { readonly kind: 'release' } | { readonly kind: 'failed'; readonly errorType: string }

const HOLD: OpeningVerdict = { kind: 'hold' }
const RELEASE: OpeningVerdict = { kind: 'release' }

/** The Anthropic error type in an `event: error` data line (`api_error` when it cannot be read). */
export function errorTypeOf(data: string): string {
  try {
    const type = (JSON.parse(data) as { error?: { type?: unknown } }).error?.type
    return typeof type === 'string' && type !== '' ? type : 'api_error'
  } catch {
    return 'api_error'
  }
}

function openingVerdict(e: SseEvent): OpeningVerdict {
  if (e.event === 'message_start' || e.event === 'ping') return HOLD
  if (e.event === 'error') return { kind: 'failed', errorType: errorTypeOf(e.data) }
  return RELEASE
}

type HeadMessage = Extract<WorkerMessage, { t: 'head' }>

const LF = 0x0a
const CR = 0x0d
const EVENT_FIELD = Buffer.from('event:')
const DATA_FIELD = Buffer.from('data:')

/** The value of field `name` if the line [start, end) is that field (one space after the colon dropped). */
function fieldValue(b: Buffer, start: number, end: number, name: Buffer): string | undefined {
  if (end - start < name.length || b.compare(name, 0, name.length, start, start + name.length) !== 0) return undefined
  const at = start + name.length
  return b.toString('utf8', b[at] === 0x20 ? at + 1 : at, end)
}

/**
 * The verdict of the first event in `whole` (whole SSE events) that is not part of an opening, reading
 * only `event:` lines (and the `data:` of an `error`): a burst that brings a whole answer in one read is
 * judged at its second event, not decoded to its end.
 */
function judgeEvents(whole: Buffer): OpeningVerdict {
  let name = ''
  let data = ''
  let fields = false
  for (let start = 0; start < whole.length; ) {
    let end = whole.indexOf(LF, start)
    if (end === -1) end = whole.length
    const lineEnd = end > start && whole[end - 1] === CR ? end - 1 : end
    if (lineEnd === start) {
      // A blank line ends the event.
      if (fields) {
        const verdict = openingVerdict({ event: name || 'message', data })
        if (verdict.kind !== 'hold') return verdict
      }
      name = ''
      data = ''
      fields = false
    } else if (whole[start] !== 0x3a) {
      // (A line starting with ':' is a comment, not a field.)
      fields = true
      const event = fieldValue(whole, start, lineEnd, EVENT_FIELD)
      if (event !== undefined) name = event
      else if (name === 'error') data += fieldValue(whole, start, lineEnd, DATA_FIELD) ?? ''
    }
    start = end + 1
  }
  return HOLD
}

const ERROR_EVENTS = [Buffer.from('event: error'), Buffer.from('event:error')]

/**
 * The error type when the last event in `tail` (a stream's last whole events) is `event: error`: the
 * stream ended in an error after its content had started (CONTRACT §11 marks its span as failed).
 * Read once, at the stream's end; a raw line break never occurs inside JSON data, so a match is a line.
 */
export function endingError(tail: Buffer | undefined): string | undefined {
  if (!tail) return undefined
  const at = Math.max(...ERROR_EVENTS.map((e) => tail.lastIndexOf(e)))
  if (at === -1 || (at > 0 && tail[at - 1] !== LF && tail[at - 1] !== CR)) return undefined
  // The last event may lack its blank line when the upstream closed right after it.
  const verdict = judgeEvents(Buffer.concat([tail.subarray(at), Buffer.from('\n\n')]))
  return verdict.kind === 'failed' ? verdict.errorType : undefined
}

export class Opening {
  readonly head: HeadMessage
  /** performance.now() when the head arrived. */
  readonly since: number
  /** Held upstream bytes (passthrough), whole events only. */
  readonly chunks: Uint8Array[] = []
  /** Held translated events (a translating plugin's output). */
  text = ''
  #bytes = 0

  constructor(head: HeadMessage, since: number) {
    this.head = head
    this.since = since
  }

  /** Holds passthrough bytes (whole events) and judges the events in them. */
  holdBytes(whole: Buffer): OpeningVerdict {
    if (whole.byteLength === 0) return HOLD
    this.chunks.push(whole)
    this.#bytes += whole.byteLength
    const verdict = judgeEvents(whole)
    return verdict.kind === 'hold' && this.#bytes > MAX_HELD_BYTES ? RELEASE : verdict
  }

  /** Holds one translated event and judges it. */
  holdEvent(e: SseEvent, text: string): OpeningVerdict {
    this.text += text
    this.#bytes += text.length
    const verdict = openingVerdict(e)
    return verdict.kind === 'hold' && this.#bytes > MAX_HELD_BYTES ? RELEASE : verdict
  }

  /** Everything held, as the upstream (or the translator) sent it. */
  body(): Buffer {
    return this.text ? Buffer.from(this.text) : Buffer.concat(this.chunks)
  }
}
