#!/usr/bin/env node
// The load generator, run in its own process by the bench: `node bench/load.mjs '<job JSON>'`.
// Closed loop: `concurrency` streams, each starting its next request when the last ends.
// Open loop: requests start on a fixed schedule (`rate` per second) whatever the answers do, and
// time to first event is measured from the scheduled start, so a stalled server cannot hide its
// queueing (coordinated omission).
// Every response body is compared byte for byte with the expected shape (bench/lib/shape.mjs): a
// lost, reordered or corrupted event counts as `corrupted`. Prints one JSON result line.
// `urls` may name several servers (relays sharing state): requests go to them in turn, so each gets
// an even share of the load.
// The bench measures the server's cost over exactly the counted requests: after the warm-up (whose
// requests have all ended) this prints `{"phase":"warm"}` and waits for a line on stdin before it
// starts counting; when the last counted request has ended it prints `{"phase":"done"}` and waits
// again before it closes its connections.
import { Pool } from 'undici'
import { Histogram } from './lib/histogram.mjs'
import { decodeParams, messageJson, openaiFrames, requestBody, sseFrames } from './lib/shape.mjs'

const job = JSON.parse(process.argv[2])
const params = decodeParams(job.headers['x-bench'])
const translatedFrames = job.expect === 'openai' ? await openaiTranslated(params) : undefined
const expected = Buffer.from(translatedFrames ? translatedFrames.join('') : params.stream ? sseFrames(params).join('') : messageJson(params))
const eventsPerResponse = translatedFrames ? translatedFrames.length : params.stream ? sseFrames(params).length : 1

/**
 * `expect: 'openai'` (a relay arm whose provider answers in Chat Completions chunks): the Anthropic events
 * the relay's own translator makes of the mock's chunks, so the check is that every one arrived, in
 * order and whole (the translation's correctness is the tests' business, test/plugins/openai-*.test.ts).
 */
async function openaiTranslated(p) {
  const { ChatStreamTranslator } = await import('../dist/plugins/openai/stream.js')
  const translator = new ChatStreamTranslator('claude-bench', 'bench', [])
  const frames = []
  const emit = (event, data) => frames.push(`event: ${event}\ndata: ${data}\n\n`)
  for (const frame of openaiFrames(p)) for (const line of frame.split('\n')) if (line.startsWith('data: ')) translator.onEvent({ event: 'message', data: line.slice(6) }, emit)
  translator.onEnd(emit)
  return frames
}
const body = Buffer.from(requestBody(job.requestBytes ?? 600, params.stream === 1, job.model, job.requestShape))
const headers = { 'content-type': 'application/json', ...job.headers }
const targets = job.urls.map((u) => {
  const url = new URL(u)
  const pool = new Pool(url.origin, { connections: job.concurrency, pipelining: 1, keepAliveTimeout: 60_000, bodyTimeout: 0, headersTimeout: 0 })
  return { pool, path: url.pathname + url.search }
})
let sent = 0

const ttfe = new Histogram()
const gaps = new Histogram()
const durations = new Histogram()
const result = { requests: 0, ok: 0, errors: 0, corrupted: 0, events: 0, bytes: 0, errorKinds: {} }
let measuring = false
let stopping = false

function fail(kind) {
  result.errors++
  result.errorKinds[kind] = (result.errorKinds[kind] ?? 0) + 1
}

/** One request; resolves when its answer is complete (or failed). `startedAt` may be in the past (open loop). */
function one(startedAt) {
  return new Promise((resolve) => {
    const counted = measuring
    const chunks = []
    let size = 0
    let status = 0
    let firstEventAt = 0
    let lastEventAt = 0
    let prevByte = 0
    const { pool, path } = targets[sent++ % targets.length]
    pool.dispatch(
      { path, method: 'POST', headers, body },
      {
        onRequestStart() {},
        onResponseStart(_c, code) {
          status = code
        },
        onResponseData(_c, chunk) {
          const now = performance.now()
          chunks.push(chunk)
          size += chunk.length
          if (!counted) return
          // Count the event boundaries (blank lines) this chunk completes, for first-event and gap times.
          let boundaries = prevByte === 10 && chunk[0] === 10 ? 1 : 0
          for (let i = chunk.indexOf(10); i !== -1 && i < chunk.length - 1; i = chunk.indexOf(10, i + 1)) if (chunk[i + 1] === 10) boundaries++
          prevByte = chunk[chunk.length - 1]
          if (boundaries === 0 && params.stream) return
          if (firstEventAt === 0) {
            firstEventAt = now
            ttfe.recordMs(now - startedAt)
          } else gaps.recordMs(now - lastEventAt)
          for (let k = 1; k < boundaries; k++) gaps.recordMs(0)
          lastEventAt = now
        },
        onResponseEnd() {
          if (counted) {
            result.requests++
            result.bytes += size
            if (status !== 200) fail(`status ${status}`)
            else if (!Buffer.concat(chunks, size).equals(expected)) result.corrupted++
            else {
              result.ok++
              result.events += eventsPerResponse
              durations.recordMs(performance.now() - startedAt)
            }
          }
          resolve()
        },
        onResponseError(_c, err) {
          if (counted) {
            result.requests++
            fail(err.code ?? err.message)
          }
          resolve()
        },
      },
    )
  })
}

async function closedLoop(deadline) {
  const worker = async () => {
    while (!stopping && performance.now() < deadline && (job.requests === undefined || started < job.requests)) {
      started++
      await one(performance.now())
    }
  }
  let started = 0
  await Promise.all(Array.from({ length: job.concurrency }, worker))
}

async function openLoop(deadline) {
  const interval = 1000 / job.rate
  const t0 = performance.now()
  const inflight = new Set()
  let next = 0
  while (performance.now() < deadline) {
    const now = performance.now()
    while (t0 + next * interval <= now) {
      const p = one(t0 + next * interval)
      inflight.add(p)
      p.then(() => inflight.delete(p))
      next++
    }
    await new Promise((r) => setTimeout(r, 1))
  }
  await Promise.all(inflight)
}

/** Tells the bench where we are and waits for its go-ahead (a line on stdin). */
const lines = (async function* () {
  let buffered = ''
  for await (const d of process.stdin) {
    buffered += d
    for (let nl = buffered.indexOf('\n'); nl !== -1; nl = buffered.indexOf('\n')) {
      yield buffered.slice(0, nl)
      buffered = buffered.slice(nl + 1)
    }
  }
})()
async function phase(name) {
  process.stdout.write(`${JSON.stringify({ phase: name })}\n`)
  await lines.next()
}

const warmupEnd = performance.now() + (job.warmupMs ?? 0)
const run = job.mode === 'open' ? openLoop : closedLoop
// Warm-up: connections, JIT and caches, not counted.
if (job.warmupMs) await run(warmupEnd)
await phase('warm')
measuring = true
const t0 = performance.now()
await run(job.requests !== undefined ? Infinity : t0 + job.durationMs)
const elapsed = (performance.now() - t0) / 1000
stopping = true
await phase('done')
await Promise.all(targets.map((t) => t.pool.close()))

process.stdout.write(
  JSON.stringify({
    ...result,
    elapsedS: elapsed,
    rps: result.ok / elapsed,
    eventsPerS: result.events / elapsed,
    mbPerS: result.bytes / elapsed / 1e6,
    ttfe: ttfe.toJSON(),
    gaps: gaps.toJSON(),
    durations: durations.toJSON(),
  }) + '\n',
)
