/**
 * Token usage as the upstream reports it, for the request log and the key's token windows.
 * Streams carry it in `message_start` (input and cache counters) and `message_delta` (cumulative
 * counters that overwrite when present, API-STREAM); a whole message carries it in `usage`.
 */
import type { SseEvent } from '../../plugins/sdk.js'
import type { Usage } from '../shared/protocol.js'

/** The SSE events that carry usage: the passthrough decoder materialises only these. */
export const USAGE_EVENTS: ReadonlySet<string> = new Set(['message_start', 'message_delta'])

const FIELDS = ['input_tokens', 'output_tokens', 'cache_creation_input_tokens', 'cache_read_input_tokens'] as const

export function emptyUsage(): Usage {
  return { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 }
}

function absorb(into: Usage, reported: unknown): void {
  if (!reported || typeof reported !== 'object') return
  const r = reported as Record<string, unknown>
  for (const f of FIELDS) if (typeof r[f] === 'number') into[f] = r[f]
}

/** Folds one SSE event into `usage`; other events and unparsable data are ignored. */
export function absorbEvent(usage: Usage, event: SseEvent): void {
  if (!USAGE_EVENTS.has(event.event)) return
  try {
    const data = JSON.parse(event.data) as { message?: { usage?: unknown }; usage?: unknown }
    absorb(usage, event.event === 'message_start' ? data.message?.usage : data.usage)
  } catch {
    // A malformed event is the client's to see; the books just miss it.
  }
}

/** Usage of a complete (non-streaming) message body. */
export function absorbMessage(usage: Usage, body: string): void {
  try {
    absorb(usage, (JSON.parse(body) as { usage?: unknown }).usage)
  } catch {
    // Not JSON: nothing to count.
  }
}
