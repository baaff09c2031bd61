/**
 * Holds back the unfinished tail of an SSE byte stream, so only whole events reach the client.
 *
 * If the upstream breaks off mid-event, the client must see a clean `event: error` rather than half a
 * JSON line glued to it (which the SDK would fail to parse). It is also where a relay `ping` can be
 * slipped in safely. Passthrough stays byte for byte: bytes are only delayed to the next boundary.
 */
const LF = 0x0a
const CR = 0x0d

/** Offset just past the last blank line (`\n\n` or `\r\n\r\n`) in `b`, or 0. */
function lastBoundary(b: Buffer): number {
  let i = b.length - 1
  while (i > 0) {
    i = b.lastIndexOf(LF, i)
    if (i <= 0) return 0
    if (b[i - 1] === LF || (b[i - 1] === CR && b[i - 2] === LF)) return i + 1
    i--
  }
  return 0
}

export class EventBoundary {
  #tail: Buffer | undefined

  /** The complete events now available (possibly empty), keeping the rest for later. */
  push(chunk: Buffer): Buffer {
    const b = this.#tail ? Buffer.concat([this.#tail, chunk]) : chunk
    const cut = lastBoundary(b)
    // The usual read ends at a boundary: handed on as it is, no view made (one per paced event).
    if (cut === b.length) {
      this.#tail = undefined
      return b
    }
    this.#tail = cut === b.length ? undefined : Buffer.from(b.subarray(cut))
    return b.subarray(0, cut)
  }

  /** True when nothing is held back: the client has seen only whole events. */
  get atBoundary(): boolean {
    return this.#tail === undefined
  }

  /** The upstream ended cleanly: whatever it left goes out as it is. */
  rest(): Buffer | undefined {
    const t = this.#tail
    this.#tail = undefined
    return t
  }
}
