/**
 * Reading a request off a uWS socket. HttpRequest is only valid during the handler's synchronous part,
 * so headers are copied first; each `onData` chunk is copied before the callback returns (uWS neuters
 * it). The body lands in an ArrayBuffer of its own, so it can be transferred to a worker without a copy.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js'

/** Lower-case header names → values; a repeated header is joined with ", " (RFC 9110 §5.3). */
export function readHeaders(req: HttpRequest): Record<string, string> {
  const headers: Record<string, string> = {}
  req.forEach((name, value) => {
    const prev = headers[name]
    headers[name] = prev === undefined ? value : `${prev}, ${value}`
  })
  return headers
}

export type BodyResult = { readonly ok: true; readonly body: Buffer } | { readonly ok: false; readonly tooLarge: true }

/**
 * Collects the body up to `limit` bytes. With a content-length the buffer is allocated once; without
 * one (chunked upload) the chunks are joined at the end.
 */
export function readBody(res: HttpResponse, declaredLength: number | undefined, limit: number, done: (result: BodyResult) => void): void {
  let buffer = declaredLength !== undefined ? Buffer.allocUnsafeSlow(declaredLength) : undefined
  const chunks: Buffer[] = []
  let received = 0
  let over = false
  res.onData((ab, isLast) => {
    if (over) return
    const chunk = new Uint8Array(ab)
    if (received + chunk.byteLength > limit) {
      over = true
      return done({ ok: false, tooLarge: true })
    }
    if (buffer && received + chunk.byteLength <= buffer.byteLength) buffer.set(chunk, received)
    else {
      // No or a wrong content-length: fall back to collecting copies.
      if (buffer) {
        chunks.push(buffer.subarray(0, received))
        buffer = undefined
      }
      chunks.push(Buffer.from(chunk))
    }
    received += chunk.byteLength
    if (!isLast) return
    if (buffer) return done({ ok: true, body: received === buffer.byteLength ? buffer : own(buffer.subarray(0, received)) })
    done({ ok: true, body: own(Buffer.concat(chunks, received)) })
  })
}

/** A copy whose ArrayBuffer holds exactly these bytes (transferable, not a view into a pool). */
function own(view: Buffer): Buffer {
  const out = Buffer.allocUnsafeSlow(view.byteLength)
  out.set(view)
  return out
}
