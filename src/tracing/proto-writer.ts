/**
 * The protobuf wire format, as much of it as an OTLP trace export needs, written into one growing
 * Buffer. A length-delimited field reserves one byte for its length and moves its content when the
 * length turns out to need more (most nested messages are under 128 bytes), so nothing is measured
 * twice: the official serializer (@opentelemetry/otlp-transformer) runs a sizing pass over every span
 * first, which is half of why it cost several µs per span here.
 *
 * Every number is encoded as the official ProtobufWriter encodes it (its varint of a negative or
 * 64-bit integer, its fixed64 of an HrTime), so the bytes are the same (test/tracing/otlp-proto.test.ts).
 */
import type { HrTime } from '@opentelemetry/api'

export const VARINT = 0
export const FIXED64 = 1
export const LENGTH = 2
export const FIXED32 = 5

export class ProtoWriter {
  buf: Buffer
  pos = 0

  constructor(size = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(size)
  }

  /** Room for `n` more bytes (doubling: a batch's buffer grows a few times, then keeps its size). */
  room(n: number): void {
    if (this.pos + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.pos + n) size *= 2
    const grown = Buffer.allocUnsafe(size)
    this.buf.copy(grown, 0, 0, this.pos)
    this.buf = grown
  }

  tag(field: number, wire: number): void {
    this.uint32((field << 3) | wire)
  }

  /** A non-negative integer below 2^32. */
  uint32(value: number): void {
    this.room(5)
    let v = value >>> 0
    const buf = this.buf
    while (v > 0x7f) {
      buf[this.pos++] = (v & 0x7f) | 0x80
      v >>>= 7
    }
    buf[this.pos++] = v
  }

  /** An int64 varint of any integral number (negative ones as 64-bit two's complement, 10 bytes). */
  int64(value: number): void {
    if (value >= 0 && value <= 0xffffffff) return this.uint32(value)
    const abs = Math.abs(value)
    let low = abs >>> 0
    let high = (abs / 0x100000000) >>> 0
    if (value < 0) {
      low = ~low >>> 0
      high = ~high >>> 0
      low = (low + 1) >>> 0
      if (low === 0) high = (high + 1) >>> 0
    }
    this.room(10)
    const buf = this.buf
    while (high > 0 || low > 0x7f) {
      buf[this.pos++] = (low & 0x7f) | 0x80
      low = ((low >>> 7) | (high << 25)) >>> 0
      high >>>= 7
    }
    buf[this.pos++] = low & 0x7f
  }

  fixed32(value: number): void {
    this.room(4)
    this.buf.writeUInt32LE(value >>> 0, this.pos)
    this.pos += 4
  }

  fixed64(low: number, high: number): void {
    this.room(8)
    this.buf.writeUInt32LE(low >>> 0, this.pos)
    this.buf.writeUInt32LE(high >>> 0, this.pos + 4)
    this.pos += 8
  }

  double(value: number): void {
    this.room(8)
    this.buf.writeDoubleLE(value, this.pos)
    this.pos += 8
  }

  /**
   * An HrTime as fixed64 nanoseconds, split as the official writeHrTimeAsFixed64 splits it so that no
   * product leaves the safe-integer range (seconds × 1e9 does for any date after 1970 + 104 days).
   */
  hrTime(time: HrTime): void {
    const [seconds, nanos] = time
    const lowerNanos = (seconds & 0xffff) * 1e9
    const upperNanos = ((seconds / 0x10000) >>> 0) * 1e9
    const low = (lowerNanos >>> 0) + (((upperNanos & 0xffff) * 0x10000) >>> 0) + nanos
    const high = Math.floor(lowerNanos / 0x100000000) + ((upperNanos / 0x10000) >>> 0) + Math.floor(low / 0x100000000)
    this.fixed64(low >>> 0, high >>> 0)
  }

  /** A string as UTF-8 (lone surrogates as U+FFFD, as TextEncoder writes them). */
  string(value: string): void {
    const length = value.length
    // Short ASCII, the usual attribute: written as it is scanned, its length known in advance.
    if (length < 128) {
      this.room(length + 1)
      const buf = this.buf
      const at = this.pos
      let i = 0
      for (; i < length; i++) {
        const c = value.charCodeAt(i)
        if (c > 0x7f) break
        buf[at + 1 + i] = c
      }
      if (i === length) {
        buf[at] = length
        this.pos = at + 1 + length
        return
      }
    }
    const bytes = Buffer.byteLength(value, 'utf8')
    this.uint32(bytes)
    this.room(bytes)
    this.pos += this.buf.write(value, this.pos, bytes, 'utf8')
  }

  /** Bytes given as an even number of hex digits (trace and span ids). */
  hex(value: string): void {
    const bytes = value.length >>> 1
    this.uint32(bytes)
    this.room(bytes)
    this.pos += this.buf.write(value, this.pos, bytes, 'hex')
  }

  raw(bytes: Uint8Array): void {
    this.room(bytes.length)
    this.buf.set(bytes, this.pos)
    this.pos += bytes.length
  }

  /** Opens a length-delimited field's content; `end(start)` closes it. */
  begin(): number {
    this.room(1)
    return this.pos++
  }

  end(start: number): void {
    const length = this.pos - start - 1
    if (length < 0x80) {
      this.buf[start] = length
      return
    }
    let size = 1
    for (let v = length >>> 7; v > 0; v >>>= 7) size++
    this.room(size - 1)
    this.buf.copy(this.buf, start + size, start + 1, this.pos)
    this.pos += size - 1
    let v = length
    let at = start
    while (v > 0x7f) {
      this.buf[at++] = (v & 0x7f) | 0x80
      v >>>= 7
    }
    this.buf[at] = v
  }
}
