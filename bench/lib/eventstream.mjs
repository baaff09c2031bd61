// AWS event-stream framing (application/vnd.amazon.eventstream), as Bedrock's InvokeModelWithResponseStream
// sends it. Plain JavaScript with no dependency, so the mock upstream and the load generator can both use it.
//
// One message (all integers big-endian, wire-protocols.md §3.5):
//   total_len u32 | headers_len u32 | prelude_crc u32 | headers | payload | message_crc u32
// prelude_crc = CRC32(bytes 0..7); message_crc = CRC32(bytes 0..total_len-5).

import { eventObjects } from './shape.mjs'

const PRELUDE = 12 // total_len + headers_len + prelude_crc
const TRAILER = 4 // message_crc

// ---- CRC32 (zlib / IEEE 802.3, reflected polynomial 0xEDB88320). Node has zlib.crc32 only from 22. ----

const CRC_TABLE = (() => {
  const table = new Int32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    table[n] = c
  }
  return table
})()

/** CRC32 of `bytes[start, end)`, optionally continuing from a previous `crc` (as zlib's crc32(data, crc)). */
export function crc32(bytes, start = 0, end = bytes.length, crc = 0) {
  let c = ~crc
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8)
  return ~c >>> 0
}

// ---- Headers: name_len u8 | name | value_type u8 | value ----

const TYPE_TRUE = 0
const TYPE_FALSE = 1
const TYPE_INT32 = 4
const TYPE_BYTES = 6
const TYPE_STRING = 7

/** Encodes one header value; strings (type 7) are all Bedrock uses, the others are there for tests and errors. */
function encodeHeader(name, value) {
  const nameBytes = Buffer.from(name, 'utf8')
  if (nameBytes.length > 255) throw new RangeError(`event-stream header name too long: ${name}`)
  let typeAndValue
  if (value === true || value === false) {
    typeAndValue = Buffer.of(value ? TYPE_TRUE : TYPE_FALSE)
  } else if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff) throw new RangeError(`event-stream header ${name}: not an int32`)
    typeAndValue = Buffer.alloc(5)
    typeAndValue[0] = TYPE_INT32
    typeAndValue.writeInt32BE(value, 1)
  } else {
    const isBytes = value instanceof Uint8Array
    const data = isBytes ? value : Buffer.from(String(value), 'utf8')
    if (data.length > 0xffff) throw new RangeError(`event-stream header ${name}: value too long`)
    typeAndValue = Buffer.alloc(3 + data.length)
    typeAndValue[0] = isBytes ? TYPE_BYTES : TYPE_STRING
    typeAndValue.writeUInt16BE(data.length, 1)
    typeAndValue.set(data, 3)
  }
  return Buffer.concat([Buffer.of(nameBytes.length), nameBytes, typeAndValue])
}

/**
 * One whole event-stream message.
 * @param {Record<string, string | number | boolean | Uint8Array>} headers in wire order
 * @param {Uint8Array | string} payload
 * @returns {Buffer}
 */
export function encodeEventStreamMessage(headers, payload) {
  const headerBytes = Buffer.concat(Object.entries(headers).map(([name, value]) => encodeHeader(name, value)))
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload
  const total = PRELUDE + headerBytes.length + body.length + TRAILER
  const out = Buffer.alloc(total)
  out.writeUInt32BE(total, 0)
  out.writeUInt32BE(headerBytes.length, 4)
  out.writeUInt32BE(crc32(out, 0, 8), 8)
  out.set(headerBytes, PRELUDE)
  out.set(body, PRELUDE + headerBytes.length)
  out.writeUInt32BE(crc32(out, 0, total - TRAILER), total - TRAILER)
  return out
}

/**
 * Decodes one whole message (checks both CRCs). Returns `{ headers, payload }` with string, number, boolean
 * or Buffer header values. Small and dependency-free, for the load generator's checks.
 */
export function decodeEventStreamMessage(frame) {
  const buf = Buffer.isBuffer(frame) ? frame : Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength)
  if (buf.length < PRELUDE + TRAILER) throw new Error('event-stream message shorter than its prelude')
  const total = buf.readUInt32BE(0)
  const headersLength = buf.readUInt32BE(4)
  if (total !== buf.length) throw new Error(`event-stream message length ${buf.length}, prelude says ${total}`)
  if (crc32(buf, 0, 8) !== buf.readUInt32BE(8)) throw new Error('event-stream prelude CRC mismatch')
  if (crc32(buf, 0, total - TRAILER) !== buf.readUInt32BE(total - TRAILER)) throw new Error('event-stream message CRC mismatch')
  const headers = {}
  let i = PRELUDE
  const headersEnd = PRELUDE + headersLength
  while (i < headersEnd) {
    const nameLength = buf[i++]
    const name = buf.toString('utf8', i, i + nameLength)
    i += nameLength
    const type = buf[i++]
    if (type === TYPE_TRUE || type === TYPE_FALSE) headers[name] = type === TYPE_TRUE
    else if (type === TYPE_INT32) (headers[name] = buf.readInt32BE(i)), (i += 4)
    else if (type === TYPE_BYTES || type === TYPE_STRING) {
      const length = buf.readUInt16BE(i)
      i += 2
      headers[name] = type === TYPE_STRING ? buf.toString('utf8', i, i + length) : Buffer.from(buf.subarray(i, i + length))
      i += length
    } else throw new Error(`event-stream header type ${type} not supported here`)
  }
  return { headers, payload: buf.subarray(headersEnd, total - TRAILER) }
}

/**
 * Cuts a byte stream into whole messages by the 4-byte total-length prelude. Feed it chunks as they arrive;
 * it returns the messages completed so far and keeps the remainder.
 */
export function eventStreamSplitter() {
  let pending = Buffer.alloc(0)
  return (chunk) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : Buffer.from(chunk)
    const frames = []
    while (pending.length >= 4) {
      const total = pending.readUInt32BE(0)
      if (total < PRELUDE + TRAILER) throw new Error(`event-stream prelude says ${total} bytes`)
      if (pending.length < total) break
      frames.push(pending.subarray(0, total))
      pending = pending.subarray(total)
    }
    return frames
  }
}

// ---- Bedrock's streaming shape ----

const BEDROCK_CHUNK_HEADERS = Object.freeze({
  ':event-type': 'chunk',
  ':content-type': 'application/json',
  ':message-type': 'event',
})

/** One Anthropic event as Bedrock sends it: a `chunk` message whose payload is `{"bytes":"<base64 event JSON>"}`. */
export function bedrockChunkMessage(event) {
  const bytes = Buffer.from(JSON.stringify(event), 'utf8').toString('base64')
  return encodeEventStreamMessage(BEDROCK_CHUNK_HEADERS, JSON.stringify({ bytes }))
}

/** The event-stream messages of one benchmark response (one Buffer per event), the Bedrock twin of `sseFrames`. */
export function bedrockFrames(p) {
  return eventObjects(p).map(bedrockChunkMessage)
}
