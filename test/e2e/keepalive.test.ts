/** server.keepalive_ms: `ping` events while the upstream is silent, only between whole events. */
import t from 'tap'
import type { ServerResponse } from 'node:http'
import { MockUpstream, sse } from '../helpers/mock-upstream.js'
import { oneProvider, startRelay } from '../helpers/relay.js'
import { within } from '../helpers/wait.js'

const START = sse([{ type: 'message_start', message: { id: 'm', usage: { input_tokens: 1, output_tokens: 1 } } }])
const HALF = 'event: content_block_delta\ndata: {"type":"content_block_del'
const REST = 'ta","index":0,"delta":{"type":"text_delta","text":"hi"}}\n\n'
const STOP = sse([{ type: 'message_stop' }])
const PING = 'event: ping\ndata: {"type": "ping"}\n\n'

t.test('pings fill an upstream silence, never inside an event, and the stream arrives intact', async (t) => {
  const upstream = await new MockUpstream().start()
  let held: ServerResponse | undefined
  upstream.handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' }).write(START)
    held = res
  }
  const relay = await startRelay(oneProvider(upstream.url, '    keys: [{ key: "k" }]', 'server: { keepalive_ms: 200 }'))
  t.teardown(async () => {
    await relay.stop()
    await upstream.close()
  })
  // Every wait has a deadline: the fetch (and its body) by its signal, each read loop by `within`.
  const res = await fetch(`${relay.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":"m","stream":true}', signal: AbortSignal.timeout(30_000) })
  const reader = res.body!.getReader()
  let text = ''
  const readUntil = (what: string, done: (s: string) => boolean): Promise<void> =>
    within(what, (async () => {
      while (!done(text)) {
        const { value, done: ended } = await reader.read()
        if (ended) return
        text += Buffer.from(value!).toString()
      }
    })(), 10_000)
  await readUntil('a ping after the upstream went silent', (s) => s.includes(PING))
  t.ok(text.startsWith(START + PING), 'a ping after the silent upstream')
  // Half an event, then silence: no ping may land inside it.
  held!.write(HALF)
  const before = text.length
  await new Promise((r) => setTimeout(r, 600))
  held!.end(REST + STOP)
  await readUntil('the stream ends', (s) => s.endsWith(STOP))
  const after = text.slice(before)
  t.ok(after.startsWith(HALF + REST), 'the half event was completed before anything else')
  t.equal(text.replaceAll(PING, ''), START + HALF + REST + STOP, 'nothing but pings was added')
})

/** A 200 event-stream head, then `silenceMs` of nothing, then a whole message. */
function silentAfterHead(silenceMs: number): (req: unknown, res: ServerResponse) => void {
  return (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.flushHeaders()
    setTimeout(() => res.end(START + STOP), silenceMs)
  }
}

for (const path of ['main thread', 'worker threads'] as const) {
  t.test(`an upstream silent right after its head gets pings before its first event (${path})`, async (t) => {
    // Issue 11: a long prefill (Bedrock, Vertex, a slow local model) sends the head, then nothing for a
    // while; load balancers with idle timeouts must see bytes, so keepalive_ms commits the head and pings.
    const upstream = await new MockUpstream().start()
    upstream.handler = silentAfterHead(3500)
    const relay = await startRelay(oneProvider(upstream.url, '    keys: [{ key: "k" }]', 'server: { keepalive_ms: 1000 }'), {
      env: path === 'worker threads' ? { CC_RELAY_UPSTREAM_IO: 'workers' } : {},
    })
    t.teardown(async () => {
      await relay.stop()
      await upstream.close()
    })
    const res = await fetch(`${relay.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":"m","stream":true}', signal: AbortSignal.timeout(20_000) })
    t.equal(res.status, 200)
    const text = await within('the stream ends', res.text())
    const pings = text.split(PING).length - 1
    t.ok(pings >= 2, `at least 2 pings in 3.5 s of silence (${pings})`)
    t.equal(text, PING.repeat(pings) + START + STOP, 'pings first, then the events, nothing else')
    // The env variable alone proves nothing: the request line names the path that ran.
    const line = await relay.waitForLog((l) => l.msg === 'request')
    t.equal(line.io, path === 'worker threads' ? 'worker' : 'main', `the exchange ran on the ${path}`)
  })
}
