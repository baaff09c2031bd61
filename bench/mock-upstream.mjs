#!/usr/bin/env node
// The benchmark's mock upstream: answers every POST with the deterministic response of bench/lib/shape.mjs,
// as Anthropic SSE, as Bedrock's AWS event stream, or as one JSON message, chosen by the `x-bench` header.
// It must never be the bottleneck, so everything a response needs is computed once per distinct `x-bench`
// value and a request costs a map lookup and a few writes of cached bytes.
//
//   node bench/mock-upstream.mjs [--port N] [--host 127.0.0.1]   → prints {"listening":PORT}
//   … [--tls-cert FILE --tls-key FILE]                            → serves HTTPS instead (the bench's --tls)
//   GET /stats                                                    → {"requests","bytes_in","bytes_out","active"}
//
// Plain JavaScript on purpose: it runs as its own process, outside the relay's build.

import { parseArgs } from 'node:util'
import { performance } from 'node:perf_hooks'
import uWS from 'uWebSockets.js'
import { decodeParams, eventObjects, messageJson, openaiFrames, sseFrames } from './lib/shape.mjs'
import { bedrockFrames } from './lib/eventstream.mjs'

/** Largest piece handed to uWS at once: bounds what uWS buffers for a slow reader to about this much. */
const SLICE = 64 * 1024
/** Distinct `x-bench` values (and fail specs) remembered; a misbehaving client cannot grow the maps forever. */
const CACHE_LIMIT = 1024
/** Largest response body the mock agrees to build. */
const MAX_BODY = 256 * 1024 * 1024

const stats = { requests: 0, bytes_in: 0, bytes_out: 0, active: 0 }

// ---------------------------------------------------------------------------------------------------------
// Answers with a fixed body (JSON messages and errors)

const JSON_TYPE = 'application/json'

function errorAnswer(status, type, message, extraHeaders = []) {
  const body = Buffer.from(JSON.stringify({ type: 'error', error: { type, message } }))
  return { status, headers: ['content-type', JSON_TYPE, ...extraHeaders], body }
}

/** What each injected fault answers; `reset` has no answer of its own (it cuts the normal one short). */
const FAULT_ANSWERS = {
  429: errorAnswer('429 Too Many Requests', 'rate_limit_error', 'Number of request tokens has exceeded your per-minute rate limit', ['retry-after', '1']),
  529: errorAnswer('529 Overloaded', 'overloaded_error', 'Overloaded'),
  500: errorAnswer('500 Internal Server Error', 'api_error', 'Internal server error'),
}

const NOT_FOUND = errorAnswer('404 Not Found', 'not_found_error', 'The mock upstream answers POST (any path) and GET /stats')

// ---------------------------------------------------------------------------------------------------------
// Plans: everything about one `x-bench` value that is the same for every request carrying it

const plans = new Map()

function planFor(header) {
  let plan = plans.get(header)
  if (plan === undefined) {
    if (plans.size >= CACHE_LIMIT) plans.clear()
    plan = buildPlan(header)
    plans.set(header, plan)
  }
  return plan
}

function buildPlan(header) {
  const p = decodeParams(header)
  const problem = checkParams(p)
  const faults = problem ? [] : parseFail(p.fail)
  if (problem || typeof faults === 'string') {
    const why = problem || faults
    return { bad: errorAnswer('400 Bad Request', 'invalid_request_error', `x-bench: ${why}`), faults: [] }
  }
  if (!p.stream) {
    // Bedrock's non-streaming invoke returns the plain Anthropic message, so both formats share this.
    const body = Buffer.from(messageJson(p))
    return { stream: false, faults, answer: { status: '200 OK', headers: ['content-type', JSON_TYPE], body } }
  }
  const frames = p.format === 'bedrock' ? bedrockFrames(p) : (p.format === 'openai' ? openaiFrames(p) : sseFrames(p)).map((f) => Buffer.from(f))
  // The opening (message_start, the first content_block_start and a ping right after it) leaves at once,
  // as the API sends it; `gap` spaces the events after it, like a model's tokens.
  const types = eventObjects(p).map((e) => e.type)
  let opening = types.indexOf('content_block_start') + 1
  if (types[opening] === 'ping') opening++
  const ends = new Array(frames.length) // ends[k] = byte offset just past frame k
  let at = 0
  for (let k = 0; k < frames.length; k++) ends[k] = at += frames[k].length
  return {
    stream: true,
    faults,
    contentType: p.format === 'bedrock' ? 'application/vnd.amazon.eventstream' : 'text/event-stream',
    body: Buffer.concat(frames),
    ends,
    ttfe: p.ttfe_ms,
    gap: p.gap_ms,
    opening,
  }
}

function checkParams(p) {
  const counts = ['events', 'bytes', 'ttfe_ms', 'gap_ms']
  for (const key of counts) if (!Number.isInteger(p[key]) || p[key] < 0) return `${key} must be a whole number ≥ 0`
  for (const key of ['thinking', 'tool', 'stream']) if (p[key] !== 0 && p[key] !== 1) return `${key} must be 0 or 1`
  if (p.format !== 'sse' && p.format !== 'bedrock' && p.format !== 'openai') return 'format must be sse, bedrock or openai'
  if (p.events * (p.bytes + 200) > MAX_BODY) return `events × bytes is over the mock's ${MAX_BODY} byte limit`
  return ''
}

/** `429:10,reset:50` → [{ key, kind, every }]; a string describes what is wrong. */
function parseFail(spec) {
  const faults = []
  for (const part of String(spec).split(',')) {
    const key = part.trim()
    if (!key) continue
    const [kind, every, extra] = key.split(':')
    const n = Number(every)
    if (extra !== undefined || !(kind in FAULT_ANSWERS || kind === 'reset') || !Number.isInteger(n) || n < 1) {
      return `fail spec "${key}" is not one of 429:N, 529:N, 500:N, reset:N (N ≥ 1)`
    }
    faults.push({ key: `${kind}:${n}`, kind, every: n })
  }
  return faults
}

// Faults are deterministic: one request counter per fail spec (e.g. "429:10"), shared by every request that
// carries that spec whatever its other parameters, so "every Nth" holds across the load generator's mix.
const faultCounters = new Map()

/** Counts this request against each of its specs; the first spec that comes due (in listed order) wins. */
function pickFault(faults) {
  let hit = null
  for (const f of faults) {
    if (!faultCounters.has(f.key) && faultCounters.size >= CACHE_LIMIT) faultCounters.clear()
    const n = (faultCounters.get(f.key) ?? 0) + 1
    faultCounters.set(f.key, n)
    if (hit === null && n % f.every === 0) hit = f
  }
  return hit
}

// ---------------------------------------------------------------------------------------------------------
// One request in flight

class Exchange {
  constructor(res) {
    this.res = res
    this.open = true // false once ended, aborted or reset: `res` must not be touched again
    this.timer = null
    stats.active++
  }

  /** The response is over (ended, reset, or the client went away). Idempotent. */
  finish() {
    if (!this.open) return
    this.open = false
    stats.active--
    if (this.timer !== null) clearTimeout(this.timer), (this.timer = null)
  }

  /**
   * Closes the connection abruptly. Deferred by a turn so the bytes already written leave the cork buffer
   * first (closing while corked would drop them and the client would see no head at all).
   */
  resetSoon() {
    setImmediate(() => {
      if (!this.open) return
      this.finish()
      this.res.close()
    })
  }
}

function writeHead(res, status, headers) {
  res.writeStatus(status)
  for (let i = 0; i < headers.length; i += 2) res.writeHeader(headers[i], headers[i + 1])
}

/**
 * A whole fixed body with Content-Length, as the API sends JSON. `tryEnd` writes only what the socket takes
 * without buffering; the rest is resumed from the cached buffer at the offset `onWritable` reports.
 * With `cut` < body length, sends only that much and then resets the connection.
 */
function sendFixed(ex, answer, cut = answer.body.length) {
  const { res } = ex
  const body = answer.body
  res.cork(() => {
    writeHead(res, answer.status, answer.headers)
    const base = res.getWriteOffset()
    const attempt = (from) => {
      const [ok, done] = res.tryEnd(body.subarray(from, cut), body.length)
      if (done) {
        stats.bytes_out += body.length - from
        ex.finish()
      } else {
        stats.bytes_out += res.getWriteOffset() - base - from
      }
      return ok
    }
    const ok = attempt(0)
    if (cut < body.length) ex.resetSoon()
    else if (!ok && ex.open) res.onWritable((offset) => attempt(offset - base))
  })
}

/**
 * A streamed body (SSE or event stream) with chunked transfer encoding, as the API streams. Frames come out
 * of the plan's cached buffer: the opening frames together after `ttfe` ms, each next `gap` ms later, on
 * deadlines measured from the request so timer lateness does not add up; frames that fall due together go
 * out in one write.
 * One timer per stream, re-armed only while frames remain and the client keeps up.
 *
 * Backpressure: when `write()` returns false uWS holds the rest of that piece; nothing more is written
 * until `onWritable`, so at most one SLICE is buffered per stream whatever the response size.
 */
class StreamOut {
  constructor(ex, plan, resetHalfway) {
    this.ex = ex
    this.plan = plan
    this.stop = resetHalfway ? Math.floor(plan.ends.length / 2) : plan.ends.length // frames to send
    this.resetAtStop = resetHalfway
    this.t0 = performance.now()
    this.due = 0 // frames the clock allows so far
    this.sent = 0 // bytes handed to uWS
    this.headSent = false
    this.blocked = false // a write reported backpressure; wait for onWritable
    this.watching = false // onWritable registered (only once a write was refused: until then uWS drains itself)
    this.tick = this.tick.bind(this)
  }

  start() {
    this.tick()
  }

  /** How many frames are due at `now`. */
  framesDue(now) {
    const since = now - this.t0 - this.plan.ttfe
    if (since < 0) return 0
    if (this.plan.gap === 0) return this.stop
    return Math.min(this.stop, Math.floor(since / this.plan.gap) + this.plan.opening)
  }

  tick() {
    this.ex.timer = null
    this.due = this.framesDue(performance.now())
    this.pump()
    this.arm()
  }

  /** Sets the one timer for the next frame's deadline, unless nothing is left or we are waiting to drain. */
  arm() {
    const { ex, plan } = this
    if (!ex.open || this.blocked || ex.timer !== null || this.due >= this.stop) return
    // Frame k is due at ttfe + (k − opening + 1) × gap, the opening frames at ttfe.
    const deadline = this.t0 + plan.ttfe + Math.max(0, this.due - plan.opening + 1) * plan.gap
    ex.timer = setTimeout(this.tick, Math.max(1, Math.ceil(deadline - performance.now())))
  }

  /** Writes every due byte not yet written, in one cork; ends or resets when the last one is out. */
  pump() {
    const { ex, plan } = this
    const { res } = ex
    const target = this.due === 0 ? 0 : plan.ends[this.due - 1]
    if (!ex.open || this.blocked || this.sent >= target) return
    res.cork(() => {
      if (!this.headSent) {
        writeHead(res, '200 OK', ['content-type', plan.contentType])
        this.headSent = true
      }
      while (this.sent < target) {
        const end = Math.min(target, this.sent + SLICE)
        const ok = res.write(plan.body.subarray(this.sent, end))
        stats.bytes_out += end - this.sent
        this.sent = end
        if (!ok) {
          this.blocked = true
          this.watch()
          break
        }
      }
      // end() is safe even when blocked: it only queues the terminating chunk and, being the end, unhooks
      // onWritable so uWS drains the rest by itself.
      if (this.sent === plan.body.length) {
        res.end()
        ex.finish()
      }
    })
    if (this.resetAtStop && this.due === this.stop && this.sent === target) ex.resetSoon()
  }

  watch() {
    if (this.watching) return
    this.watching = true
    this.ex.res.onWritable(() => {
      if (!this.ex.open) return true
      this.blocked = false
      // Frames that fell due while blocked go out now, coalesced; then the clock takes over again.
      this.due = this.framesDue(performance.now())
      this.pump()
      this.arm()
      return !this.blocked
    })
  }
}

// ---------------------------------------------------------------------------------------------------------
// Routes

function onPost(res, req) {
  // Everything from `req` must be read now: it is only valid during this call.
  // A path prefix `/bench/<params>/…` adds to the header: how the bench gives one of several providers
  // that point at this mock its own faults (the relay forwards one x-bench header to all of them).
  const prefix = /^\/bench\/([^/]+)\//.exec(req.getUrl())
  const header = req.getHeader('x-bench')
  const plan = planFor(prefix ? `${header};${decodeURIComponent(prefix[1])}` : header)
  const fault = plan.faults.length ? pickFault(plan.faults) : null
  stats.requests++
  const ex = new Exchange(res)
  // Registered before anything asynchronous, as uWS requires; also stops a delayed stream's timer.
  res.onAborted(() => ex.finish())
  res.onData((chunk, isLast) => {
    stats.bytes_in += chunk.byteLength // counted, never parsed or copied
    if (isLast && ex.open) answer(ex, plan, fault)
  })
}

function answer(ex, plan, fault) {
  if (plan.bad) return sendFixed(ex, plan.bad)
  if (fault !== null && fault.kind !== 'reset') return sendFixed(ex, FAULT_ANSWERS[fault.kind])
  const reset = fault !== null // the only fault left is reset
  if (!plan.stream) return sendFixed(ex, plan.answer, reset ? Math.floor(plan.answer.body.length / 2) : undefined)
  new StreamOut(ex, plan, reset).start()
}

function onStats(res) {
  res.cork(() => res.writeHeader('content-type', JSON_TYPE).end(JSON.stringify(stats)))
}

function onOther(res) {
  res.cork(() => {
    writeHead(res, NOT_FOUND.status, NOT_FOUND.headers)
    res.end(NOT_FOUND.body)
  })
}

// ---------------------------------------------------------------------------------------------------------
// Start

function main() {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
    },
  })
  const port = Number(values.port)
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port must be 0..65535, got ${values.port}`)

  // The repackaged uWS silently falls back to a JS shim on an unsupported Node; measuring that would be
  // measuring the shim (STACK.md).
  if (!/\[native code\]/.test(Function.prototype.toString.call(uWS.App))) {
    fail(`uWebSockets.js has no native binary for Node ${process.version}; the mock upstream needs Node 20`)
  }

  const tls = values['tls-cert'] !== undefined || values['tls-key'] !== undefined
  if (tls && !(values['tls-cert'] && values['tls-key'])) fail('--tls-cert and --tls-key go together')
  // uWS terminates TLS itself (its own BoringSSL), so the mock stays cheap beside what it serves.
  const app = (tls ? uWS.SSLApp({ cert_file_name: values['tls-cert'], key_file_name: values['tls-key'] }) : uWS.App())
    .post('/*', onPost)
    .get('/stats', onStats)
    .any('/*', onOther)
  app.listen(values.host, port, (listenSocket) => {
    if (!listenSocket) fail(`cannot listen on ${values.host}:${port}`)
    process.stdout.write(`${JSON.stringify({ listening: uWS.us_socket_local_port(listenSocket) })}\n`)
    const stop = () => {
      uWS.us_listen_socket_close(listenSocket)
      process.exit(0)
    }
    process.once('SIGTERM', stop)
    process.once('SIGINT', stop)
  })
}

function fail(message) {
  process.stderr.write(`mock-upstream: ${message}\n`)
  process.exit(1)
}

main()
