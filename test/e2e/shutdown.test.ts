/**
 * SIGTERM drains: streams in flight finish, new connections are refused, and what outlives
 * `server.shutdown_timeout_ms` ends with `event: error`; the process exits 0 (CONTRACT §2).
 */
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { request } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { MockUpstream, sse } from '../helpers/mock-upstream.js'
import { oneProvider, startRelay } from '../helpers/relay.js'
import { until, within } from '../helpers/wait.js'

// The opening and the first content block: the relay holds a stream's head until content starts.
const START = sse([
  { type: 'message_start', message: { id: 'm', usage: { input_tokens: 1, output_tokens: 1 } } },
  { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
])
const STOP = sse([{ type: 'message_stop' }])

function openStream(url: string): Promise<{ res: IncomingMessage; text: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      let body = ''
      const text = new Promise<string>((done) => {
        res.on('data', (c: Buffer) => (body += c.toString()))
        res.on('end', () => done(body))
      })
      resolve({ res, text })
    })
    req.on('error', reject)
    req.end('{"model":"m","stream":true}')
  })
}

const json = { 'content-type': 'application/json' }

/** An upstream that sends START and then holds its stream open; `held()` is the response it holds. */
async function holdingUpstream(): Promise<{ upstream: MockUpstream; held: () => ServerResponse | undefined }> {
  const upstream = await new MockUpstream().start()
  let held: ServerResponse | undefined
  upstream.handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' }).write(START)
    held = res
  }
  return { upstream, held: () => held }
}

t.test('a stream in flight finishes during the drain, then the relay exits 0', async (t) => {
  const { upstream, held } = await holdingUpstream()
  t.teardown(() => upstream.close())
  const relay = await startRelay(oneProvider(upstream.url, '    keys: [{ key: "k" }]', 'server: { shutdown_timeout_ms: 60000 }'))
  // A failed check must not leave the relay (or its drain) running past the test.
  t.teardown(() => relay.stop(5_000))
  const { text } = await within('the stream opens', openStream(relay.url))
  const exit = relay.stop()
  await relay.waitForLog((l) => l.msg === 'draining')
  await t.rejects(fetch(`${relay.url}/health`, { signal: AbortSignal.timeout(10_000) }), 'no new connections while draining')
  held()!.end(STOP)
  t.equal(await within('the stream ends', text), START + STOP, 'the stream completed')
  t.equal(await within('the relay exits', exit), 0)
  await upstream.close()
})

t.test('streams that outlive shutdown_timeout_ms end with event: error, exit 0', async (t) => {
  const upstream = await new MockUpstream().start()
  t.teardown(() => upstream.close())
  upstream.handler = (_req, res) => res.writeHead(200, { 'content-type': 'text/event-stream' }).write(START)
  const relay = await startRelay(oneProvider(upstream.url, '    keys: [{ key: "k" }]', 'server: { shutdown_timeout_ms: 100 }'))
  // A failed check must not leave the relay (or its drain) running past the test.
  t.teardown(() => relay.stop(5_000))
  const { text } = await within('the stream opens', openStream(relay.url))
  const exit = relay.stop()
  const body = await within('the stream ends', text)
  t.ok(body.startsWith(START))
  t.match(body.slice(START.length), /^event: error\ndata: \{"type":"error","error":\{"type":"overloaded_error","message":"the relay is shutting down; retry"\},"request_id":"req_ccr_\w+"\}\n\n$/)
  t.equal(await within('the relay exits', exit), 0)
  await upstream.close()
})

t.test('a reload during the drain (the file rewritten, then SIGHUP) is ignored: the stream finishes, exit 0', async (t) => {
  // Issue 11 reproduction: the reload stopped the health checker a second time, its closed undici
  // agent rejected, and the unhandled rejection ended the process with the stream cut.
  const { upstream, held } = await holdingUpstream()
  t.teardown(() => upstream.close())
  const yaml = oneProvider(upstream.url, '    keys: [{ key: "k" }]', 'server: { shutdown_timeout_ms: 60000 }\nhealth: { health_check: { enabled: true, interval_ms: 1000 } }')
  const relay = await startRelay(yaml)
  // A failed check must not leave the relay (or its drain) running past the test.
  t.teardown(() => relay.stop(5_000))
  const { text } = await within('the stream opens', openStream(relay.url))
  const exit = relay.stop()
  await relay.waitForLog((l) => l.msg === 'draining')
  // The file watch ends with the drain; a SIGHUP still reaches the reloader, with the new file to read.
  writeFileSync(relay.configFile, yaml.replace('shutdown_timeout_ms: 60000', 'shutdown_timeout_ms: 60001'))
  relay.child.kill('SIGHUP')
  await relay.waitForLog((l) => l.msg === 'config reload ignored: the relay is draining' && l.trigger === 'SIGHUP')
  relay.child.kill('SIGTERM')
  await relay.waitForLog((l) => l.msg === 'already draining; the signal changes nothing')
  held()!.end(STOP)
  t.equal(await within('the stream ends', text), START + STOP, 'the stream completed')
  t.equal(await within('the relay exits', exit), 0)
  t.notOk(relay.logs.some((l) => l.msg === 'internal error'), 'no fault on the way')
  await upstream.close()
})

t.test('a request waiting for a free key at shutdown gets an error answer, not a cut connection', async (t) => {
  const { upstream, held } = await holdingUpstream()
  t.teardown(() => upstream.close())
  const relay = await startRelay(
    oneProvider(upstream.url, '    keys: [{ key: "k", rpm_limit: 1 }]', 'server: { shutdown_timeout_ms: 300 }\nrouting: { queue_timeout_ms: 60000 }'),
  )
  // A failed check must not leave the relay (or its drain) running past the test.
  t.teardown(() => relay.stop(5_000))
  const first = await within('the first stream opens', openStream(relay.url))
  const waiting = fetch(`${relay.url}/v1/messages`, { method: 'POST', headers: json, body: '{"model":"m"}', signal: AbortSignal.timeout(20_000) })
  // The second request is queued behind the key's rpm limit; the upstream saw only the first.
  await until('the second request is in the relay', async () => ((await (await fetch(`${relay.url}/status.json`, { signal: AbortSignal.timeout(5_000) })).json()) as { traffic: { active_requests: number } }).traffic.active_requests === 2)
  t.equal(upstream.requests.length, 1, 'the second request is waiting, not sent')
  const exit = relay.stop()
  const answer = await within('the waiting request is answered', waiting)
  t.equal(answer.status, 529)
  t.match(await within('its body', answer.text()), /"type":"overloaded_error","message":"the relay is shutting down; retry"/)
  t.match(await within('the first stream ends', first.text), /event: error/, 'the stream that outlived the drain ended with event: error')
  t.equal(await within('the relay exits', exit), 0)
  held()?.destroy()
  await upstream.close()
})
