/**
 * Bedrock's InvokeModelWithResponseStream → Anthropic SSE (wire-protocols §3.4, §3.5). The core decodes
 * the event-stream frames (length prelude, CRCs); this turns each frame into Anthropic events:
 *
 * - `chunk` (`:message-type` event): payload `{"bytes":"<base64>","p":"<padding>"}`; the base64 decodes
 *   to one Anthropic stream event's JSON, which goes to the client as `event: <its type>` with the
 *   decoded text unchanged, byte for byte. A decoded event without a `type` (a gateway keep-alive) is
 *   dropped, as the official SDK does (TS-BR core/streaming.ts). An Anthropic `error` event inside a
 *   chunk goes out as `event: error` like any other.
 * - exception frames (`:message-type` exception, `:exception-type` = `throttlingException`, …) and error
 *   frames (`:message-type` error, `:error-code`/`:error-message`): one `event: error` with Anthropic's
 *   envelope, then nothing more from that stream.
 *
 * Bedrock's `amazon-bedrock-invocationMetrics` member of `message_stop` is passed through as Bedrock
 * sent it: clients ignore unknown members, and rewriting the event would cost a parse and a
 * serialisation per stream for nothing the client reads.
 */
import type { EmitEvent, ResponseTranslator, SseEvent } from '../sdk.js'
import { streamErrorData } from './errors.js'

const BYTES_PREFIX = '{"bytes":"'
const TYPE_PREFIX = '{"type":"'

/** The base64 member of a chunk payload; the usual shape is read without a JSON parse. */
function chunkBytes(payload: string): string {
  if (payload.startsWith(BYTES_PREFIX)) {
    const end = payload.indexOf('"', BYTES_PREFIX.length)
    if (end > 0) return payload.slice(BYTES_PREFIX.length, end)
  }
  let json: unknown
  try {
    json = JSON.parse(payload)
  } catch {
    throw new Error(`the payload is not JSON: ${payload.slice(0, 200)}`)
  }
  const bytes = (json as { bytes?: unknown } | null)?.bytes
  if (typeof bytes !== 'string') throw new Error('the payload has no bytes member')
  return bytes
}

/** The event's `type`; Anthropic's events start with it, anything else is parsed. */
function eventType(text: string): string | undefined {
  if (text.startsWith(TYPE_PREFIX)) {
    const end = text.indexOf('"', TYPE_PREFIX.length)
    if (end > 0) {
      const type = text.slice(TYPE_PREFIX.length, end)
      if (!type.includes('\\')) return type
    }
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    throw new Error(`its bytes are not JSON: ${text.slice(0, 200)}`)
  }
  const type = (json as { type?: unknown } | null)?.type
  return typeof json === 'object' && json !== null && typeof type === 'string' ? type : undefined
}

/** SSE `data:` is one line: an event that came pretty-printed is compacted (never the usual case). */
function oneLine(text: string): string {
  return text.includes('\n') || text.includes('\r') ? JSON.stringify(JSON.parse(text)) : text
}

export class BedrockTranslator implements ResponseTranslator {
  readonly #requestId: string
  /** After an exception the stream is over for the client; Bedrock ends it there too. */
  #stopped = false

  constructor(requestId: string) {
    this.#requestId = requestId
  }

  onEvent(frame: SseEvent, emit: EmitEvent): void {
    if (this.#stopped) return
    const messageType = frame.headers?.[':message-type']
    if (messageType === 'exception') {
      this.#stopped = true
      return emit('error', streamErrorData(frame.event, frame.data, this.#requestId))
    }
    if (messageType === 'error') {
      this.#stopped = true
      const code = frame.headers?.[':error-code'] ?? 'InternalServerException'
      const message = frame.headers?.[':error-message'] ?? code
      return emit('error', streamErrorData(code, JSON.stringify({ message }), this.#requestId))
    }
    // Only `chunk` carries model output (AWS-RS ResponseStream); other event types have nothing for the client.
    if (frame.event !== 'chunk') return
    let text: string
    let type: string | undefined
    try {
      text = Buffer.from(chunkBytes(frame.data), 'base64').toString('utf8')
      type = eventType(text)
      if (type !== undefined) text = oneLine(text)
    } catch (err) {
      // Not an Anthropic event: the stream cannot be trusted past here. One error, then nothing more
      // (a translator never throws: the contract test feeds it garbage).
      this.#stopped = true
      const message = `Bedrock sent a malformed stream chunk: ${(err as Error).message}`
      return emit('error', streamErrorData('internalServerException', JSON.stringify({ message }), this.#requestId))
    }
    if (type === undefined) return
    if (type === 'message_stop') this.#ended = true
    // The model's own error event ends the stream for the client: nothing may follow it.
    if (type === 'error') this.#stopped = true
    emit(type, text)
  }

  /**
   * The event stream closed. Without the answer's `message_stop` it was cut (or never carried an answer):
   * the client gets one error event, as for any stream that fails after its head, never a silent end
   * its SDK would have to guess about.
   */
  onEnd(emit: EmitEvent): void {
    if (this.#stopped || this.#ended) return
    this.#stopped = true
    const message = 'the Bedrock event stream ended before the answer finished (no message_stop)'
    emit('error', streamErrorData('internalServerException', JSON.stringify({ message }), this.#requestId))
  }

  /** The answer's own `message_stop` came: the stream is complete. */
  #ended = false
}
