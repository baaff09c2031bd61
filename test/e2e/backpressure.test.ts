/**
 * A slow client pauses the upstream read (memory stays bounded), and a client that goes away closes the
 * upstream connection. Assertions are on what the upstream experienced, never on time.
 */
import t from 'tap'
import { request } from 'node:http'
import type { IncomingMessage } from 'node:http'
import { readFileSync } from 'node:fs'
import { MockUpstream } from '../helpers/mock-upstream.js'
import { oneProvider, startRelay } from '../helpers/relay.js'

const EVENT_TEXT = 'x'.repeat(50_000)
const EVENT = `event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"${EVENT_TEXT}"}}\n\n`
const EVENTS = 1000 // ≈ 50 MB
const TOTAL = Buffer.byteLength(EVENT) * EVENTS

/** Upstream state the tests watch. */
const flow = { written: 0, blocked: false, finished: false, onBlocked: undefined as undefined | (() => void) }

const upstream = await new MockUpstream().start()
upstream.handler = (_req, res) => {
  res.writeHead(200, { 'content-type': 'text/event-stream' })
  let sent = 0
  const pump = (): void => {
    while (sent < EVENTS) {
      sent++
      flow.written += Buffer.byteLength(EVENT)
      if (!res.write(EVENT)) {
        flow.blocked = true
        flow.onBlocked?.()
        res.once('drain', () => {
          flow.blocked = false
          pump()
        })
        return
      }
    }
    flow.finished = true
    res.end()
  }
  pump()
}

const relay = await startRelay(oneProvider(upstream.url, '    keys: [{ key: "k" }]'))
t.teardown(async () => {
  await relay.stop()
  await upstream.close()
})

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return Number(m![1]) * 1024
}

function openStream(): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(`${relay.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' } }, resolve)
    req.on('error', reject)
    req.end('{"model":"claude-opus-4-8","stream":true}')
  })
}

t.test('a slow client pauses the upstream and relay memory stays bounded', async (t) => {
  const rssBefore = rssBytes(relay.child.pid!)
  const res = await openStream()
  t.equal(res.statusCode, 200)
  // Take 1 MB, then stop reading.
  let received = 0
  await new Promise<void>((resolve) => {
    res.on('data', (c: Buffer) => {
      received += c.length
      if (received > 1 << 20) {
        res.pause()
        resolve()
      }
    })
  })
  res.removeAllListeners('data')
  // Wait until the upstream cannot write any more; a relay that buffered instead would keep draining it.
  await new Promise<void>((resolve) => {
    const settle = (): void => {
      setTimeout(() => (flow.blocked ? resolve() : (flow.onBlocked = settle)), 500)
    }
    if (flow.blocked) settle()
    else flow.onBlocked = settle
  })
  flow.onBlocked = undefined
  t.notOk(flow.finished, 'the upstream has not been able to send everything')
  t.ok(flow.written < TOTAL / 2, `upstream paused after ${(flow.written / 1e6).toFixed(1)} MB of ${(TOTAL / 1e6).toFixed(0)} MB`)
  const growth = rssBytes(relay.child.pid!) - rssBefore
  // RSS is noisy (heap growth, allocator caches); a relay that held the stream would grow by ~50 MB more.
  t.ok(growth < 64 << 20, `relay RSS grew by ${(growth / 1e6).toFixed(1)} MB while ${(flow.written / 1e6).toFixed(1)} MB sat upstream`)

  // Reading again resumes everything, and nothing was lost or reordered.
  let tail = ''
  res.on('data', (c: Buffer) => {
    received += c.length
    tail = (tail + c.toString('latin1')).slice(-200)
  })
  res.resume()
  await new Promise((r) => res.on('end', r))
  t.equal(received, TOTAL, 'every byte arrived')
  t.ok(tail.endsWith(EVENT.slice(-200)), 'the stream ends with the last event intact')
})

t.test('a client disconnect mid-stream closes the upstream connection', async (t) => {
  const closedBefore = upstream.closedSockets
  const upstreamClosed = upstream.nextSocketClose()
  const res = await openStream()
  await new Promise((r) => res.once('data', r))
  res.destroy()
  await upstreamClosed
  t.ok(upstream.closedSockets > closedBefore, 'the upstream saw its connection closed')
  const line = await relay.waitForLog((l) => l.msg === 'request' && l.client_aborted === true)
  t.equal(line.client_aborted, true)
})
