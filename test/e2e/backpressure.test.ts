/**
 * A slow client pauses the upstream read (memory stays bounded), and a client that goes away closes the
 * upstream connection and frees its lease — on the main-thread path (built-in passthrough providers) and
 * on the worker-thread path (translating and dropped-in providers; `CC_RELAY_UPSTREAM_IO=workers` puts
 * the same provider there). Assertions are on what the upstream experienced, never on time.
 */
import t from 'tap'
import { request } from 'node:http'
import type { IncomingMessage } from 'node:http'
import { readFileSync } from 'node:fs'
import { CREDIT_WINDOW_BYTES } from '../../src/shared/protocol.js'
import type { StatusSnapshot } from '../../src/admin/status.js'
import { MockUpstream } from '../helpers/mock-upstream.js'
import { oneProvider, startRelay } from '../helpers/relay.js'
import type { RunningRelay } from '../helpers/relay.js'
import { until, within } from '../helpers/wait.js'

const EVENT_TEXT = 'x'.repeat(50_000)
const EVENT = `event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"${EVENT_TEXT}"}}\n\n`
const EVENTS = 1000 // ≈ 50 MB
const TOTAL = Buffer.byteLength(EVENT) * EVENTS

/**
 * Bytes the kernel holds in TCP queues on IPv4 loopback connections to or from `ports` (Linux
 * /proc/net/tcp: each socket's send and receive queue, hex). Between the mock's writes and the client's
 * reads these are the buffers that are not the relay's.
 */
function kernelQueued(ports: readonly number[]): number {
  let total = 0
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/)
    if (f.length < 5) continue
    const local = parseInt(f[1]!.split(':')[1]!, 16)
    const remote = parseInt(f[2]!.split(':')[1]!, 16)
    if (!ports.includes(local) && !ports.includes(remote)) continue
    const [tx, rx] = f[4]!.split(':').map((h) => parseInt(h, 16))
    total += tx! + rx!
  }
  return total
}

/** What the upstream experienced while writing one big stream. */
interface Flow {
  written: number
  blocked: boolean
  finished: boolean
  onBlocked: (() => void) | undefined
}

/** An upstream that writes ~50 MB as fast as its socket takes it (a short stream for `x-warm-up` requests). */
async function bigStreamUpstream(): Promise<{ upstream: MockUpstream; flow: Flow }> {
  const flow: Flow = { written: 0, blocked: false, finished: false, onBlocked: undefined }
  const upstream = await new MockUpstream().start()
  upstream.handler = (req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    if (req.headers['x-warm-up']) return void res.end(EVENT)
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
  return { upstream, flow }
}

function openStream(relay: RunningRelay, headers: Record<string, string> = {}): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(`${relay.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers } }, resolve)
    req.on('error', reject)
    req.end('{"model":"claude-opus-4-8","stream":true}')
  })
}

const ended = (res: IncomingMessage): Promise<unknown> => new Promise((r) => res.on('end', r))

for (const io of ['main thread', 'worker threads'] as const) {
  const expectedIo = io === 'worker threads' ? 'worker' : 'main'
  t.test(io, async (t) => {
    const { upstream, flow } = await bigStreamUpstream()
    const relay = await startRelay(oneProvider(upstream.url, '    keys: [{ key: "k" }]'), { env: io === 'worker threads' ? { CC_RELAY_UPSTREAM_IO: 'workers' } : {} })
    t.teardown(async () => {
      await relay.stop()
      await upstream.close()
    })

    t.test('a slow client pauses the upstream and relay memory stays bounded', async (t) => {
      // Warm up first (code, JIT, connection pools), so what grows afterwards is what the stream holds.
      for (let i = 0; i < 20; i++) {
        const warm = await openStream(relay, { 'x-warm-up': '1' })
        warm.resume()
        await within('a warm-up stream ends', ended(warm))
      }
      const res = await openStream(relay)
      t.equal(res.statusCode, 200)
      // Take 1 MB, then stop reading.
      let received = 0
      await within(
        'the first MB arrives',
        new Promise<void>((resolve) => {
          res.on('data', (c: Buffer) => {
            received += c.length
            if (received > 1 << 20) {
              res.pause()
              resolve()
            }
          })
        }),
      )
      res.removeAllListeners('data')
      // Wait until the upstream cannot write any more for half a second; a relay that buffered instead
      // would keep draining it (and this wait would end with the upstream finished, failing below).
      await within(
        'the upstream stays blocked for 500 ms',
        new Promise<void>((resolve) => {
          const settle = (): void => {
            setTimeout(() => (flow.blocked || flow.finished ? resolve() : (flow.onBlocked = settle)), 500)
          }
          if (flow.blocked) settle()
          else flow.onBlocked = settle
        }),
        60_000,
      )
      flow.onBlocked = undefined
      t.notOk(flow.finished, 'the upstream has not been able to send everything')
      // What the relay itself holds: what the upstream wrote, less what the client read and what sits in
      // the kernel's socket queues on the way (measured exactly, unlike the relay's RSS, which moves by
      // ±20 MB with garbage collection). Bounded by the credit window in flight to the ingress, as much
      // again in uWS's buffer for the client, and the chunks read before the pause took hold, plus the
      // client library's own read buffer. A relay that buffered would hold most of what the upstream wrote.
      const inKernel = kernelQueued([Number(new URL(upstream.url).port), Number(new URL(relay.url).port)])
      const held = flow.written - received - inKernel
      const bound = 4 * CREDIT_WINDOW_BYTES
      t.ok(held < bound, `the relay holds ${(held / 1e6).toFixed(2)} MB (bound ${(bound / 1e6).toFixed(1)} MB): the upstream wrote ${(flow.written / 1e6).toFixed(1)} MB, the client read ${(received / 1e6).toFixed(1)} MB, the kernel queues hold ${(inKernel / 1e6).toFixed(1)} MB`)

      // Reading again resumes everything, and nothing was lost or reordered.
      let tail = ''
      res.on('data', (c: Buffer) => {
        received += c.length
        tail = (tail + c.toString('latin1')).slice(-200)
      })
      res.resume()
      await within('the rest of the stream arrives', ended(res), 60_000)
      t.equal(received, TOTAL, 'every byte arrived')
      // The 20 warm-ups and this stream: each request line names the path its exchange ran on.
      await until('21 request lines', () => relay.logs.filter((l) => l.msg === 'request').length >= 21)
      t.same([...new Set(relay.logs.filter((l) => l.msg === 'request').map((l) => l.io))], [expectedIo], `every stream ran on the ${expectedIo} path`)
      t.ok(tail.endsWith(EVENT.slice(-200)), 'the stream ends with the last event intact')
    })

    t.test('a client disconnect mid-stream closes the upstream connection and frees the lease', async (t) => {
      // This stream's own upstream connection, not any: an idle keep-alive socket closing must not count.
      const arrived = upstream.nextRequest()
      const res = await openStream(relay)
      const streaming = await within('the upstream receives the stream request', arrived)
      await within('the first bytes arrive', new Promise((r) => res.once('data', r)))
      t.notOk(streaming.socket.destroyed, 'its upstream connection is open while the client reads')
      res.destroy()
      await within("the stream's own upstream connection closes", streaming.socketClosed)
      t.ok(streaming.socket.destroyed, 'the upstream saw that connection closed')
      const line = await relay.waitForLog((l) => l.msg === 'request' && l.client_aborted === true)
      t.equal(line.client_aborted, true)
      t.equal(line.io, expectedIo, `the stream ran on the ${expectedIo} path`)
      await until('the lease is back: nothing in flight on the key or the provider', async () => {
        const snapshot = (await (await fetch(`${relay.url}/status.json`, { signal: AbortSignal.timeout(5_000) })).json()) as StatusSnapshot
        const p = snapshot.providers[0]!
        return p.inflight === 0 && p.keys[0]!.inflight === 0 && snapshot.traffic.active_requests === 0
      })
    })
  })
}
