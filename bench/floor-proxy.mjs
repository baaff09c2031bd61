#!/usr/bin/env node
// The `floor` arm: the design card's architecture with no features (STACK.md "what the fixed architecture
// can do"). A uWebSockets.js server reads each request body and runs one piscina task for it
// (bench/floor-worker.mjs) with a MessageChannel port in the transfer list; the worker sends the request
// upstream with undici and streams the answer back over the port, the chunks of one event-loop turn
// coalesced into one transferred ArrayBuffer; this thread writes head and chunks to uWS in one cork()
// and ends on the final message. What the relay does on top of this (auth, routing, books, logs,
// failover, limits) is what the relay costs over the floor.
//
// Left out on purpose: auth, any parsing, backpressure (no credits: a slow client makes uWS buffer
// without bound; the bench's clients read as fast as they can), retries. Any method and path are sent
// upstream as they came, so the floor passes every scenario's body through (Bedrock included: like the
// plain proxy, it asks the mock for the plain SSE stream).
//
// `node bench/floor-proxy.mjs --port N --upstream http(s)://127.0.0.1:M [--threads T]` → prints {"listening":N}
// (an https upstream, the bench's --tls, is trusted through NODE_EXTRA_CA_CERTS, which undici's TLS honours)
import { availableParallelism } from 'node:os'
import { MessageChannel } from 'node:worker_threads'
import { parseArgs } from 'node:util'
import { Piscina } from 'piscina'
import uWS from 'uWebSockets.js'

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, upstream: { type: 'string' }, threads: { type: 'string' } } })
const upstream = new URL(values.upstream).origin
// As the relay: the main thread owns the client sockets, the rest of the cores run workers.
const threads = Number(values.threads ?? Math.max(1, Math.min(4, availableParallelism() - 1)))

const pool = new Piscina({
  filename: new URL('./floor-worker.mjs', import.meta.url).href,
  minThreads: threads,
  maxThreads: threads,
  // Every task stays pending until its stream ends: one worker carries many streams at once.
  concurrentTasksPerWorker: 100_000,
  atomics: 'disabled',
  idleTimeout: Number.MAX_SAFE_INTEGER,
  workerData: { upstream },
})
pool.on('error', (err) => process.stderr.write(`floor-proxy: worker error: ${err.message}\n`))

/** Hop-by-hop and framing headers: uWS and undici write their own. */
const SKIP_REQUEST = new Set(['host', 'connection', 'keep-alive', 'transfer-encoding', 'content-length', 'expect', 'upgrade', 'te'])

function onRequest(res, req) {
  // Everything from `req` is read now: it is only valid during this call.
  const method = req.getMethod().toUpperCase()
  const query = req.getQuery()
  const path = query ? `${req.getUrl()}?${query}` : req.getUrl()
  const headers = []
  req.forEach((k, v) => {
    if (!SKIP_REQUEST.has(k)) headers.push(k, v)
  })
  const length = Number(req.getHeader('content-length') || 0)
  const ex = { res, open: true, port: null }
  res.onAborted(() => {
    ex.open = false
    // Tell the worker to drop the upstream request; the port closes when the task ends.
    ex.port?.postMessage(0)
  })
  if (method === 'GET' || method === 'HEAD') return start(ex, method, path, headers, null)
  // The body: one buffer of the announced size (uWS holds the request to it), or pieces joined at the end.
  let body = length > 0 ? new Uint8Array(length) : null
  let at = 0
  const pieces = []
  res.onData((chunk, isLast) => {
    if (body !== null) body.set(new Uint8Array(chunk), at)
    else pieces.push(new Uint8Array(chunk.slice(0))) // a copy: uWS reuses `chunk` after this call
    at += chunk.byteLength
    if (!isLast || !ex.open) return
    if (body === null) {
      body = new Uint8Array(at)
      let k = 0
      for (const p of pieces) body.set(p, k), (k += p.length)
    }
    start(ex, method, path, headers, body)
  })
}

function start(ex, method, path, headers, body) {
  const { port1, port2 } = new MessageChannel()
  ex.port = port1
  port1.on('message', (m) => onMessage(ex, m))
  const transferList = body ? [port2, body.buffer] : [port2]
  pool.run({ method, path, headers, body, port: port2 }, { transferList }).then(
    // The last message may still be on its way (the task's result travels on another channel): the
    // port closes when it arrives, or now if the client is gone.
    () => ex.open || port1.close(),
    (err) => {
      port1.close()
      fail(ex, err.message)
    },
  )
}

/** One message from the worker: `{ h: [status, ...headers], d: ArrayBuffer, e: 1 }`, any of the three. */
function onMessage(ex, m) {
  if (!ex.open) return
  const { res } = ex
  if (m.x !== undefined) return fail(ex, m.x)
  res.cork(() => {
    if (m.h !== undefined) {
      res.writeStatus(m.h[0])
      for (let i = 1; i < m.h.length; i += 2) res.writeHeader(m.h[i], m.h[i + 1])
    }
    if (m.e) {
      ex.open = false
      ex.port.close()
      // A whole answer in one message (a non-streaming reply, or a burst): end() adds its content-length.
      if (m.d !== undefined) res.end(m.d)
      else res.end()
    } else if (m.d !== undefined) res.write(m.d)
  })
}

/** The upstream failed: a 502 if nothing was sent yet, otherwise the connection is cut. */
function fail(ex, message) {
  if (!ex.open) return
  ex.open = false
  ex.port?.close()
  const { res } = ex
  if (res.getWriteOffset() === 0) {
    res.cork(() => res.writeStatus('502 Bad Gateway').writeHeader('content-type', 'application/json').end(JSON.stringify({ type: 'error', error: { type: 'api_error', message } })))
  } else res.close()
}

const app = uWS.App().any('/*', onRequest)
app.listen('127.0.0.1', Number(values.port), (listenSocket) => {
  if (!listenSocket) {
    process.stderr.write(`floor-proxy: cannot listen on port ${values.port}\n`)
    process.exit(1)
  }
  process.stdout.write(`${JSON.stringify({ listening: uWS.us_socket_local_port(listenSocket) })}\n`)
  const stop = () => {
    uWS.us_listen_socket_close(listenSocket)
    pool.destroy().finally(() => process.exit(0))
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
})
