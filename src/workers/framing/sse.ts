/**
 * Incremental Server-Sent Events decoder over bytes (WHATWG HTML §9.2.6 line rules: LF, CRLF or CR end
 * a line; a blank line dispatches; `:` starts a comment; one space after the colon is dropped).
 *
 * It sits on the hot path of every stream, so it only materialises what is wanted: with a `wanted`
 * set, events of other names are framed but their data is never decoded (the passthrough path only
 * needs `message_start` and `message_delta` for usage). Chunks may split anywhere, even inside a CRLF.
 */
import type { SseEvent } from '../../../plugins/sdk.js'
import { FramingError } from './framing-error.js'

const LF = 0x0a
const CR = 0x0d
const COLON = 0x3a
const SPACE = 0x20
/** A single event larger than this is a broken or hostile upstream, not a message. */
export const MAX_EVENT_BYTES = 16 << 20

function isField(b: Buffer, s: number, e: number, name: string): number {
  // Returns the offset of the value, or -1 when the line is not `name`, `name:` or `name: `.
  const n = name.length
  if (e - s < n || (e - s > n && b[s + n] !== COLON)) return -1
  for (let k = 0; k < n; k++) if (b[s + k] !== name.charCodeAt(k)) return -1
  if (e - s === n) return e // A field name alone has an empty value (WHATWG).
  const v = s + n + 1
  return b[v] === SPACE ? v + 1 : v
}

export class SseDecoder {
  readonly #onEvent: (event: SseEvent) => void
  readonly #wanted: ReadonlySet<string> | undefined
  #carry: Buffer | undefined
  #skipLeadingLf = false
  #event = ''
  #data: string | undefined
  #pendingBytes = 0

  constructor(onEvent: (event: SseEvent) => void, wanted?: ReadonlySet<string>) {
    this.#onEvent = onEvent
    this.#wanted = wanted
  }

  push(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return
    let b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    if (this.#carry) {
      b = Buffer.concat([this.#carry, b])
      this.#carry = undefined
    }
    let pos = 0
    if (this.#skipLeadingLf && b[0] === LF) pos = 1
    this.#skipLeadingLf = false
    let lf = b.indexOf(LF, pos)
    let cr = b.indexOf(CR, pos)
    for (;;) {
      if (lf !== -1 && lf < pos) lf = b.indexOf(LF, pos)
      if (cr !== -1 && cr < pos) cr = b.indexOf(CR, pos)
      const end = lf === -1 ? cr : cr === -1 ? lf : Math.min(lf, cr)
      if (end === -1) break
      this.#line(b, pos, end)
      if (b[end] === CR) {
        if (end + 1 === b.length) this.#skipLeadingLf = true
        pos = b[end + 1] === LF ? end + 2 : end + 1
      } else pos = end + 1
    }
    if (pos < b.length) {
      if (b.length - pos + this.#pendingBytes > MAX_EVENT_BYTES) throw new FramingError('upstream SSE event exceeds 16 MiB')
      this.#carry = Buffer.from(b.subarray(pos))
    }
  }

  /** The upstream ended: an event without its closing blank line is still delivered. */
  end(): void {
    if (this.#carry) {
      const rest = this.#carry
      this.#carry = undefined
      this.#line(rest, 0, rest.length)
    }
    this.#dispatch()
  }

  #line(b: Buffer, s: number, e: number): void {
    if (s === e) return this.#dispatch()
    if (b[s] === COLON) return
    this.#pendingBytes += e - s
    let v = isField(b, s, e, 'data')
    if (v !== -1) {
      // Skip decoding only when the event is already named and unwanted; data before an `event:` line
      // (legal, never seen from Anthropic) is kept until the name is known at dispatch.
      if (this.#wanted && this.#event !== '' && !this.#wanted.has(this.#event)) {
        this.#data ??= ''
        return
      }
      const text = b.toString('utf8', v, e)
      this.#data = this.#data === undefined ? text : `${this.#data}\n${text}`
      return
    }
    v = isField(b, s, e, 'event')
    if (v !== -1) this.#event = b.toString('latin1', v, e)
  }

  #dispatch(): void {
    const data = this.#data
    const event = this.#event || 'message'
    this.#data = undefined
    this.#event = ''
    this.#pendingBytes = 0
    if (data === undefined) return
    if (this.#wanted && !this.#wanted.has(event)) return
    this.#onEvent({ event, data })
  }
}
