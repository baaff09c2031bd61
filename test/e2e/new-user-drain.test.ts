/**
 * A config file change during a drain is logged as ignored, as SIGHUP is (docs/operations.md "Shutdown");
 * and a type without a token counter gets the estimate plugins/README.md describes (issue 27).
 */
import t from 'tap'
import { readFileSync, writeFileSync } from 'node:fs'
import type { ServerResponse } from 'node:http'
import { closedPort } from '../helpers/ports.js'
import { MockUpstream, sse } from '../helpers/mock-upstream.js'
import { startRelay } from '../helpers/relay.js'
import type { RunningRelay } from '../helpers/relay.js'
import { within } from '../helpers/wait.js'

const signal = (): AbortSignal => AbortSignal.timeout(20_000)
const BODY = JSON.stringify({ model: 'claude-x', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] })

/** Stops a relay, SIGKILL if it has not exited 20 s after SIGTERM. */
async function stopRelay(relay: RunningRelay | undefined): Promise<void> {
  if (!relay || relay.child.exitCode !== null) return
  try {
    await within('the relay exits after SIGTERM', relay.stop(), 20_000)
  } catch {
    relay.child.kill('SIGKILL')
  }
}

t.test('a config file change during a drain is logged as ignored, like SIGHUP', async (t) => {
  const upstream = await new MockUpstream().start()
  let held: ServerResponse | undefined
  upstream.handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.write(sse([{ type: 'message_start', message: { id: 'm', type: 'message', role: 'assistant', content: [], model: 'claude-x', usage: { input_tokens: 1, output_tokens: 0 } } }, { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }]))
    held = res
  }
  const relay = await startRelay(`
providers:
  - { name: upstream, type: anthropic, base_url: "${upstream.url}", keys: [{ key: k }] }
health: { health_check: { enabled: false } }
`)
  t.teardown(async () => {
    held?.destroy()
    await stopRelay(relay)
    await upstream.close()
  })
  const res = await fetch(relay.url + '/v1/messages', { method: 'POST', headers: { 'content-type': 'application/json' }, body: BODY.replace('"max_tokens"', '"stream":true,"max_tokens"'), signal: AbortSignal.timeout(60_000) })
  t.equal(res.status, 200)
  const reader = res.body!.getReader()
  await within('the first bytes of the stream', reader.read())
  relay.child.kill('SIGTERM')
  await relay.waitForLog((l) => l.msg === 'draining')
  writeFileSync(relay.configFile, readFileSync(relay.configFile, 'utf8') + '\nrouting: { max_attempts: 2 }\n')
  const ignored = await relay.waitForLog((l) => l.msg === 'config reload ignored: the relay is draining', 10_000).catch(() => undefined)
  t.ok(ignored, 'the file change is logged')
  t.equal(ignored?.trigger, 'file change')
  held!.end(sse([{ type: 'content_block_stop', index: 0 }, { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 1 } }, { type: 'message_stop' }]))
  for (;;) if ((await within('the stream ends', reader.read())).done) break
  t.equal(await within('the relay exits after its drain', relay.stop()), 0)
})

t.test('count_tokens for a type without a counter gets the estimate, as plugins/README.md says', async (t) => {
  const relay = await startRelay(`providers: [{ name: local, type: ollama, base_url: "http://127.0.0.1:${await closedPort()}", models: [claude-x] }]\nhealth: { health_check: { enabled: false } }\n`)
  t.teardown(() => stopRelay(relay))
  const res = await fetch(relay.url + '/v1/messages/count_tokens', { method: 'POST', headers: { 'content-type': 'application/json' }, body: BODY, signal: signal() })
  t.equal(res.status, 200)
  t.equal(res.headers.get('x-cc-relay-estimate'), 'true')
  t.match(await res.json(), { input_tokens: Number })
})
