/**
 * Hot reload through the running relay: on a file change and on SIGHUP; an invalid file keeps the
 * running config; a valid one applies to new requests while in-flight streams finish; what the
 * supervisor learned carries over; the log level follows; listen changes say "restart needed".
 */
import t from 'tap'
import { writeFileSync } from 'node:fs'
import type { ServerResponse } from 'node:http'
import { MockUpstream, sse } from '../helpers/mock-upstream.js'
import { startRelay } from '../helpers/relay.js'
import type { RunningRelay } from '../helpers/relay.js'
import { until } from '../helpers/wait.js'

const EVENTS = sse([
  { type: 'message_start', message: { id: 'm', usage: { input_tokens: 5, output_tokens: 1 } } },
  { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
  ...Array.from({ length: 20 }, (_, i) => ({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: `part ${i} ` } })),
  { type: 'content_block_stop', index: 0 },
  { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 20 } },
  { type: 'message_stop' },
])

interface Shape {
  readonly level?: string
  readonly primary?: string
  readonly secondary?: string
  readonly debug?: boolean
  readonly listen?: string
}

const config = (s: Shape): string => `
logging: { level: ${s.level ?? 'info'}, format: json }
${s.listen ? `server: { listen: "${s.listen}" }` : ''}
routing: { debug: ${s.debug ?? false} }
health:
  circuit_breaker: { failure_threshold: 1, open_duration_ms: 600000 }
  health_check: { enabled: false }
providers:
${s.primary ? `  - { name: primary, type: anthropic, base_url: "${s.primary}", keys: [{ key: "k-primary" }] }` : ''}
${s.secondary ? `  - { name: secondary, type: anthropic, base_url: "${s.secondary}", keys: [{ key: "k-secondary" }] }` : ''}
`

/** A lost request must fail the test, not hang it. */
const send = (relay: RunningRelay, stream = true) =>
  fetch(`${relay.url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: `{"model":"claude-x","stream":${stream},"max_tokens":8}`,
    signal: AbortSignal.timeout(20_000),
  })

const reloads = (relay: RunningRelay): number => relay.logs.filter((l) => String(l.msg).startsWith('config reload')).length

/** Writes the file (a change the watcher acts on) and waits for the reload it causes. */
async function reloadTo(relay: RunningRelay, yaml: string): Promise<void> {
  const seen = reloads(relay)
  writeFileSync(relay.configFile, yaml)
  await relay.waitForLog(() => reloads(relay) > seen)
}

/** SIGHUP reloads the file as it is (even unchanged). */
async function hangUp(relay: RunningRelay): Promise<void> {
  const seen = reloads(relay)
  relay.child.kill('SIGHUP')
  await relay.waitForLog(() => reloads(relay) > seen)
}

const status = async (relay: RunningRelay) =>
  (await (await fetch(`${relay.url}/status.json`, { signal: AbortSignal.timeout(10_000) })).json()) as {
    config: { reloads: number; last_error: string | null; restart_needed: string[] }
    providers: { name: string; breaker: { state: string } }[]
  }

for (const io of ['main', 'workers'] as const) {
  const expectedIo = io === 'workers' ? 'worker' : 'main'
  t.test(`reloads under load lose no request (${io} I/O)`, async (t) => {
    const upstream = await new MockUpstream().start()
    // Each answer comes in two parts, 20 ms apart, so reloads land in the middle of streams.
    upstream.handler = (_req, res: ServerResponse) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      const half = Math.floor(EVENTS.length / 2)
      res.write(EVENTS.slice(0, half))
      setTimeout(() => res.end(EVENTS.slice(half)), 20)
    }
    const relay = await startRelay(config({ primary: upstream.url }), { env: io === 'workers' ? { CC_RELAY_UPSTREAM_IO: 'workers' } : {} })
    t.teardown(async () => {
      await relay.stop()
      await upstream.close()
    })
    let stop = false
    const outcomes: string[] = []
    const client = async (): Promise<void> => {
      while (!stop) {
        let res: Response
        let text: string
        try {
          res = await send(relay)
          text = await res.text()
        } catch (err) {
          outcomes.push(`failed: ${(err as Error).message}`)
          continue
        }
        outcomes.push(res.status === 200 && text === EVENTS ? 'ok' : `${res.status} ${text.length} vs ${EVENTS.length}: ${text.slice(-300)}`)
      }
    }
    const clients = Array.from({ length: 4 }, client)
    // Alternate between two configs that both serve the model, by file change and by SIGHUP.
    for (let i = 0; i < 3; i++) {
      await reloadTo(relay, config({ primary: upstream.url, debug: i % 2 === 0 }))
      await hangUp(relay)
    }
    stop = true
    await Promise.all(clients)
    t.ok(outcomes.length >= 8, `${outcomes.length} requests ran across the reloads`)
    t.same(outcomes.filter((o) => o !== 'ok'), [], 'every one complete and byte-exact')
    t.equal((await status(relay)).config.reloads, 6)
    // The path under test is the one that ran: each request line names it (the env variable alone proves nothing).
    const paths = relay.logs.filter((l) => l.msg === 'request').map((l) => l.io)
    t.ok(paths.length >= 8, `${paths.length} request lines`)
    t.same([...new Set(paths)], [expectedIo], `every request's exchange ran on the ${expectedIo} path`)
  })
}

t.test('an invalid file keeps the running config and says why; the next valid one applies', async (t) => {
  const upstream = await new MockUpstream().start()
  upstream.handler = (_req, res) => res.writeHead(200, { 'content-type': 'text/event-stream' }).end(EVENTS)
  const relay = await startRelay(config({ primary: upstream.url }))
  t.teardown(async () => {
    await relay.stop()
    await upstream.close()
  })
  await reloadTo(relay, config({ primary: upstream.url }).replace('routing: { debug: false }', 'routing: { max_attemps: 2 }'))
  const refused = relay.logs.find((l) => l.msg === 'config reload refused; the running config stays')!
  t.ok(refused, 'the refusal is logged')
  t.match(JSON.stringify(refused.problems), /routing/, 'with the problem')
  const s = await status(relay)
  t.equal(s.config.reloads, 0)
  t.match(s.config.last_error, /routing/)
  const res = await send(relay)
  t.equal(res.status, 200, 'still serving on the old config')
  await res.text()
  writeFileSync(relay.configFile, config({ primary: upstream.url, debug: true }))
  await relay.waitForLog((l) => l.msg === 'config reloaded')
  const debugged = await send(relay)
  t.equal(debugged.headers.get('x-cc-relay-provider'), 'primary', 'the new config (routing.debug) applies')
  await debugged.text()
  t.equal((await status(relay)).config.last_error, null)
})

t.test('breakers carry over; an in-flight stream finishes on a removed provider; log level and restart-needed', async (t) => {
  const good = await new MockUpstream().start()
  const bad = await new MockUpstream().start()
  let hold: ServerResponse | undefined
  good.handler = (req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    if (req.headers['x-hold']) {
      // Through the first content block's start: content has begun, so the relay has sent the head.
      res.write(EVENTS.slice(0, EVENTS.indexOf('event: content_block_delta')))
      hold = res
    } else res.end(EVENTS)
  }
  bad.handler = (_req, res) => res.writeHead(500, { 'content-type': 'application/json' }).end('{"type":"error","error":{"type":"api_error","message":"down"}}')
  // secondary (bad) first in failover order.
  const yaml = (extra: Shape = {}) => config({ secondary: bad.url, primary: good.url, ...extra }).replace(/(  - \{ name: primary.*\n)(  - \{ name: secondary.*\n)/, '$2$1')
  const relay = await startRelay(yaml())
  t.teardown(async () => {
    await relay.stop()
    await good.close()
    await bad.close()
  })
  const first = await send(relay)
  t.equal(first.status, 200, 'failed over to primary')
  await first.text()
  t.equal((await status(relay)).providers.find((p) => p.name === 'secondary')!.breaker.state, 'open')

  // A stream in flight on primary while primary is removed by a reload.
  const inflight = await fetch(`${relay.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hold': '1' }, body: '{"model":"claude-x","stream":true}', signal: AbortSignal.timeout(30_000) })
  const reader = inflight.body!.getReader()
  await reader.read()
  await reloadTo(relay, config({ secondary: bad.url, level: 'warn', listen: '127.0.0.1:1' }))
  const s = await status(relay)
  t.equal(s.providers.find((p) => p.name === 'secondary')!.breaker.state, 'open', 'the open breaker carried over')
  t.same(s.config.restart_needed, [], 'a --listen on the command line wins over the file')
  hold!.end(EVENTS.slice(EVENTS.indexOf('event: content_block_delta')))
  let rest = ''
  for (let r = await reader.read(); !r.done; r = await reader.read()) rest += Buffer.from(r.value).toString()
  t.ok(rest.endsWith('event: message_stop\ndata: {"type":"message_stop"}\n\n'), 'the in-flight stream finished on the removed provider')
  const refusedNow = await send(relay)
  t.equal(refusedNow.status, 529, 'only secondary is left, and its circuit is open')
  await refusedNow.text()

  // Log level warn: request lines (info) stop; a warn-level one (the 529) still appears.
  const before = relay.logs.filter((l) => l.msg === 'request' && l.level === 30).length
  // At level warn the reload's own (info) line is not written: watch the count instead.
  const count = (await status(relay)).config.reloads
  writeFileSync(relay.configFile, config({ secondary: bad.url, primary: good.url, level: 'warn' }))
  await until('the reload to level warn is applied', async () => (await status(relay)).config.reloads > count)
  const quiet = await send(relay)
  t.equal(quiet.status, 200)
  await quiet.text()
  const loud = await fetch(`${relay.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":"claude-x","stream":"yes"}', signal: AbortSignal.timeout(20_000) })
  t.equal(loud.status, 400)
  await loud.text()
  await relay.waitForLog((l) => l.msg === 'request' && l.level === 40 && l.status === 400)
  t.equal(relay.logs.filter((l) => l.msg === 'request' && l.level === 30).length, before, 'no info lines after the reload to warn')
})

t.test('settings bound at start say restart needed', async (t) => {
  const upstream = await new MockUpstream().start()
  const relay = await startRelay(config({ primary: upstream.url }))
  t.teardown(async () => {
    await relay.stop()
    await upstream.close()
  })
  // plugin_dirs is scanned once at start; "." is the config's own (empty of plugins) folder.
  await reloadTo(relay, `plugin_dirs: ["."]\n${config({ primary: upstream.url })}`)
  t.ok(relay.logs.find((l) => l.msg === 'config reloaded; restart needed for plugin_dirs'), 'the log says a restart is needed')
  t.same((await status(relay)).config.restart_needed, ['plugin_dirs'], 'and so does the status')
})
