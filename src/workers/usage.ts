/**
 * Token usage as the upstream reports it, for the request log and the key's token windows.
 * Streams carry it in `message_start` (input and cache counters) and `message_delta` (cumulative
 * counters that overwrite when present, API-STREAM); a whole message carries it in `usage`.
 * The same parse gives the answer's id, model and stop reason (`ReplyFacts`, for traces), when asked.
 */
import type { SseEvent } from '../../plugins/sdk.js'
import type { ReplyFacts, Usage } from '../shared/protocol.js'

/** The SSE events that carry usage: the passthrough decoder materialises only these. */
export const USAGE_EVENTS: ReadonlySet<string> = new Set(['message_start', 'message_delta'])

const FIELDS = ['input_tokens', 'output_tokens', 'cache_creation_input_tokens', 'cache_read_input_tokens'] as const

export function emptyUsage(): Usage {
  return { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, cache_creation_1h_input_tokens: 0 }
}

function absorb(into: Usage, reported: unknown): void {
  if (!reported || typeof reported !== 'object') return
  const r = reported as Record<string, unknown>
  for (const f of FIELDS) if (typeof r[f] === 'number') into[f] = r[f]
  // Cache writes by lifetime (Claude Code writes 1-hour entries, priced at twice the input price).
  const byTtl = r.cache_creation
  if (byTtl && typeof byTtl === 'object') {
    const hour = (byTtl as Record<string, unknown>).ephemeral_1h_input_tokens
    if (typeof hour === 'number') into.cache_creation_1h_input_tokens = hour
  }
}

export function emptyReply(): ReplyFacts {
  return { id: '', model: '', stopReason: '' }
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)

/** The id and model of a message (a whole answer, or `message_start`'s), and its stop reason. */
interface MessageHead {
  id?: unknown
  model?: unknown
  stop_reason?: unknown
  usage?: unknown
}

function noteMessage(reply: ReplyFacts | undefined, message: MessageHead | undefined): void {
  if (!reply || !message) return
  reply.id = str(message.id) ?? reply.id
  reply.model = str(message.model) ?? reply.model
  reply.stopReason = str(message.stop_reason) ?? reply.stopReason
}

/** Folds one SSE event into `usage` (and `reply`); other events and unparsable data are ignored. */
export function absorbEvent(usage: Usage, event: SseEvent, reply?: ReplyFacts): void {
  if (!USAGE_EVENTS.has(event.event)) return
  try {
    const data = JSON.parse(event.data) as { message?: MessageHead; usage?: unknown; delta?: { stop_reason?: unknown } }
    const start = event.event === 'message_start'
    absorb(usage, start ? data.message?.usage : data.usage)
    if (start) noteMessage(reply, data.message)
    else if (reply) reply.stopReason = str(data.delta?.stop_reason) ?? reply.stopReason
  } catch {
    // A malformed event is the client's to see; the books just miss it.
  }
}

/** Usage (and `reply`) of a complete (non-streaming) message body. */
export function absorbMessage(usage: Usage, body: string, reply?: ReplyFacts): void {
  try {
    const message = JSON.parse(body) as MessageHead
    absorb(usage, message.usage)
    noteMessage(reply, message)
  } catch {
    // Not JSON: nothing to count.
  }
}

const LF = 0x0a
const CR = 0x0d
/** `event:` and `message_`, byte by byte: a line is compared only when its first byte is `e`. */
const EVENT_FIELD = Buffer.from('event:')
const MESSAGE_PREFIX = Buffer.from('message_')
const DATA_FIELD = Buffer.from('data:')

/** Whether the line at `at` (ending before `end`) starts with `prefix`. */
function startsWith(bytes: Buffer, at: number, end: number, prefix: Buffer): boolean {
  if (end - at < prefix.length) return false
  for (let i = 0; i < prefix.length; i++) if (bytes[at + i] !== prefix[i]) return false
  return true
}

/**
 * The passthrough path's usage reader. `bytes` holds whole events only (see EventBoundary), so it only
 * has to look at the `event:` line of each event for the two `message_…` events that carry usage: on a
 * 100-delta stream that is 2 small JSON parses and no decoding of the deltas. Lines are found with
 * `indexOf` of one byte (Node's fast path); a multi-byte needle (`indexOf(Buffer)`) cost 4× more per
 * call on a one-event chunk, which is what every paced read brings (issue 26).
 */
export function absorbWholeEvents(usage: Usage, bytes: Buffer, reply?: ReplyFacts): void {
  const length = bytes.length
  let event: string | undefined
  for (let at = 0; at < length; ) {
    let next = bytes.indexOf(LF, at)
    if (next === -1) next = length
    const end = next > at && bytes[next - 1] === CR ? next - 1 : next
    if (end === at) {
      event = undefined // a blank line ends the event
    } else if (bytes[at] === 0x65 /* e */ && startsWith(bytes, at, end, EVENT_FIELD)) {
      let name = at + EVENT_FIELD.length
      if (bytes[name] === 0x20) name++
      event = startsWith(bytes, name, end, MESSAGE_PREFIX) ? bytes.toString('latin1', name, end) : undefined
      if (event !== undefined && !USAGE_EVENTS.has(event)) event = undefined
    } else if (event !== undefined && bytes[at] === 0x64 /* d */ && startsWith(bytes, at, end, DATA_FIELD)) {
      let start = at + DATA_FIELD.length
      if (bytes[start] === 0x20) start++
      absorbEvent(usage, { event, data: bytes.toString('utf8', start, end) }, reply)
      event = undefined // (one data line: Anthropic's events are one JSON line)
    }
    at = next + 1
  }
}
