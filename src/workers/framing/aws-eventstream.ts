/**
 * Incremental decoder for AWS's `application/vnd.amazon.eventstream` (Bedrock's
 * InvokeModelWithResponseStream): each message is a 12-byte prelude (total length, headers length, prelude
 * CRC32), headers, payload and a message CRC32, all big-endian. Framing by the length prelude is ours;
 * `@smithy/eventstream-codec` decodes one whole message and checks both CRCs (STACK.md).
 */
import { EventStreamCodec } from '@smithy/eventstream-codec'
import { fromUtf8, toUtf8 } from '@smithy/util-utf8'
import type { SseEvent } from '../../../plugins/sdk.js'

/** Bedrock chunks are small; a frame this large is a broken or hostile stream. */
export const MAX_FRAME_BYTES = 16 << 20
const PRELUDE_BYTES = 12

const codec = new EventStreamCodec(toUtf8, fromUtf8)

export class EventStreamDecoder {
  readonly #onEvent: (event: SseEvent) => void
  #buffer: Buffer = Buffer.alloc(0)

  constructor(onEvent: (event: SseEvent) => void) {
    this.#onEvent = onEvent
  }

  push(chunk: Uint8Array): void {
    const incoming = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    this.#buffer = this.#buffer.length ? Buffer.concat([this.#buffer, incoming]) : incoming
    let offset = 0
    while (this.#buffer.length - offset >= PRELUDE_BYTES) {
      const total = this.#buffer.readUInt32BE(offset)
      if (total < PRELUDE_BYTES + 4 || total > MAX_FRAME_BYTES) throw new Error(`event-stream frame of ${total} bytes is not valid`)
      if (this.#buffer.length - offset < total) break
      // decode() checks the prelude and message CRCs and throws on a mismatch.
      const message = codec.decode(this.#buffer.subarray(offset, offset + total))
      offset += total
      const headers: Record<string, string> = {}
      for (const [name, header] of Object.entries(message.headers)) if (header.type === 'string') headers[name] = header.value
      const event = headers[':message-type'] === 'exception' ? (headers[':exception-type'] ?? 'exception') : (headers[':event-type'] ?? 'message')
      this.#onEvent({ event, data: toUtf8(message.body), headers })
    }
    this.#buffer = offset === 0 ? this.#buffer : Buffer.from(this.#buffer.subarray(offset))
  }

  /** The stream ended: a partial frame left over means it was cut. */
  end(): void {
    if (this.#buffer.length > 0) throw new Error(`event stream ended inside a frame (${this.#buffer.length} bytes left)`)
  }
}
