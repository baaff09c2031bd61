// The floor arm's worker (bench/floor-proxy.mjs): one task per request. Sends the request upstream with
// undici (one keep-alive Agent per worker thread) and streams the answer back over the task's port. The
// chunks that arrive within one event-loop turn leave as one message: copied into one ArrayBuffer that is
// transferred, not cloned; the head travels with the first batch and the end with the last, so a whole
// fast answer is one message. The task resolves when the answer has ended (or failed, or the client
// went away: any message from the main thread on the port means that).
import { workerData } from 'node:worker_threads'
import { Agent } from 'undici'

const agent = new Agent({ keepAliveTimeout: 60_000, bodyTimeout: 0, headersTimeout: 0, pipelining: 1 })
const origin = workerData.upstream

/** Hop-by-hop and framing headers of the answer: uWS writes its own. */
const SKIP_RESPONSE = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'date', 'uwebsockets'])

export default function relay({ method, path, headers, body, port }) {
  return new Promise((resolve) => {
    let head // [status line, name, value, …] until it is sent
    let pending = []
    let pendingBytes = 0
    let scheduled = false
    let done = false
    let controller = null

    const flush = (end) => {
      scheduled = false
      if (done) return
      const m = {}
      const transfer = []
      if (head !== undefined) (m.h = head), (head = undefined)
      if (pendingBytes > 0) {
        const out = new Uint8Array(pendingBytes)
        let at = 0
        for (const c of pending) out.set(c, at), (at += c.length)
        m.d = out.buffer
        transfer.push(out.buffer)
        pending = []
        pendingBytes = 0
      }
      if (end) (m.e = 1), (done = true)
      if (m.h !== undefined || m.d !== undefined || end) port.postMessage(m, transfer)
      if (end) finish()
    }
    const schedule = () => {
      if (!scheduled) (scheduled = true), setImmediate(flush, false)
    }
    const finish = () => {
      done = true
      port.off('message', onAbort)
      resolve()
    }
    const onAbort = () => {
      if (done) return
      controller?.abort(new Error('the client went away'))
      finish()
    }
    port.on('message', onAbort)

    agent.dispatch(
      { origin, path, method, headers, body: body ? Buffer.from(body.buffer, body.byteOffset, body.byteLength) : null },
      {
        onRequestStart(c) {
          controller = c
        },
        onResponseStart(_c, status, resHeaders, statusText) {
          const h = [`${status} ${statusText || 'OK'}`]
          for (const [k, v] of Object.entries(resHeaders)) {
            if (SKIP_RESPONSE.has(k)) continue
            if (Array.isArray(v)) for (const one of v) h.push(k, one)
            else h.push(k, v)
          }
          head = h
          schedule()
        },
        onResponseData(_c, chunk) {
          pending.push(chunk)
          pendingBytes += chunk.length
          schedule()
        },
        onResponseEnd() {
          flush(true)
        },
        onResponseError(_c, err) {
          if (done) return
          done = true
          port.postMessage({ x: err.message })
          finish()
        },
      },
    )
  })
}
