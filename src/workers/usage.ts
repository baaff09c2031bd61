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

const MESSAGE_EVENT = Buffer.from('event: message_')
const DATA_LINE = Buffer.from('\ndata:')

/**
 * The passthrough path's usage reader. `bytes` holds whole events only (see EventBoundary), so it can
 * jump straight to the few `event: message_…` frames with a native search instead of decoding every
 * line of every delta: on a 100-delta stream that is 2 small JSON parses and no per-event work.
 */
export function absorbWholeEvents(usage: Usage, bytes: Buffer, reply?: ReplyFacts): void {
  for (let at = bytes.indexOf(MESSAGE_EVENT); at !== -1; at = bytes.indexOf(MESSAGE_EVENT, at + 1)) {
    const nameStart = at + 7
    let nameEnd = nameStart
    while (nameEnd < bytes.length && bytes[nameEnd] !== 0x0a && bytes[nameEnd] !== 0x0d) nameEnd++
    const event = bytes.toString('latin1', nameStart, nameEnd)
    if (!USAGE_EVENTS.has(event)) continue
    const data = bytes.indexOf(DATA_LINE, nameEnd - 1)
    if (data === -1) continue
    let start = data + DATA_LINE.length
    if (bytes[start] === 0x20) start++
    let end = start
    while (end < bytes.length && bytes[end] !== 0x0a && bytes[end] !== 0x0d) end++
    absorbEvent(usage, { event, data: bytes.toString('utf8', start, end) }, reply)
    at = end
  }
}
