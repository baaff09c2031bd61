/**
 * Plugins through the running relay: a dropped-in JavaScript plugin from `plugin_dirs` with a
 * translator and an error mapper, and faults in plugins or worker threads that must fail one request
 * with an Anthropic error, never the relay.
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { MockUpstream, sse } from '../helpers/mock-upstream.js'
import { BIN, startRelay, writeConfig } from '../helpers/relay.js'

const PLUGINS = join(import.meta.dirname, '..', 'fixtures', 'plugins')
const upstream = await new MockUpstream().start()
const relay = await startRelay(`
plugin_dirs: ["${PLUGINS}"]
providers:
  - name: loud
    type: shouty
    base_url: "${upstream.url}"
    keys: [{ key: "shout-key" }]
    models: ["claude-shout"]
  - name: broken
    type: faulty
    base_url: "${upstream.url}"
    mode: "anything"
    models: ["throw-in-prepare", "throw-later", "exit-the-thread", "throw-in-translator", "throw-in-map-error"]
  - name: plain
    type: anthropic
    base_url: "${upstream.url}"
    keys: [{ key: "k" }]
    models: ["claude-plain"]
`)
t.teardown(async () => {
  await relay.stop()
  await upstream.close()
})

const post = (model: string, stream = true) =>
  fetch(`${relay.url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: `{"model":"${model}","stream":${stream},"metadata":{"user_id":"u"},"max_tokens":5}`,
  })

t.test('a plugin from plugin_dirs translates the stream, with its own path, auth and body edit', async (t) => {
  upstream.handler = (_req, res) =>
    res.writeHead(200, { 'content-type': 'text/event-stream' }).end(
      sse([
        { type: 'ping' },
        { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'quiet words' } },
        { type: 'message_stop' },
      ]),
    )
  const res = await post('claude-shout')
  t.equal(res.status, 200)
  t.equal(
    await res.text(),
    sse([{ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'QUIET WORDS' } }, { type: 'message_stop' }]),
  )
  t.equal(upstream.last.url, '/shout')
  t.equal(upstream.last.headers.authorization, 'Bearer shout-key')
  t.equal(upstream.last.headers['api-key'], 'shout-key')
  t.equal(upstream.last.body.toString(), '{"model":"claude-shout","stream":true,"max_tokens":5}', 'metadata removed by the plugin')
})

t.test("a plugin's mapError turns a foreign error into an Anthropic one, keeping retry-after", async (t) => {
  upstream.handler = (_req, res) => res.writeHead(418, { 'content-type': 'text/plain', 'retry-after': '3' }).end('short and stout')
  const res = await post('claude-shout')
  t.equal(res.status, 400)
  t.equal(res.headers.get('retry-after'), '3')
  const body = (await res.json()) as { type: string; error: { type: string; message: string }; request_id: string }
  t.same(body.error, { type: 'invalid_request_error', message: 'teapot says: short and stout' })
  t.equal(body.request_id, res.headers.get('x-cc-relay-request-id'))
})

t.test('a plugin that throws fails that request with 500 api_error', async (t) => {
  const res = await post('throw-in-prepare')
  t.equal(res.status, 500)
  const body = (await res.json()) as { error: { type: string; message: string } }
  t.equal(body.error.type, 'api_error')
  t.match(body.error.message, /provider broken could not prepare the request: prepare exploded/)
})

t.test("a plugin's stray throw in a worker is logged and counted; the thread and its stream go on", async (t) => {
  let finish: (() => void) | undefined
  const opening = sse([{ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }])
  upstream.handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.write(opening)
    finish = () => res.end(sse([{ type: 'message_stop' }]))
  }
  const res = await post('throw-later')
  const fault = await relay.waitForLog((l) => l.msg === 'internal error' && l.where === 'worker.uncaught')
  t.equal(fault.err, 'stray plugin timer')
  finish!()
  t.equal(await res.text(), opening + sse([{ type: 'message_stop' }]), 'the stream in flight on that thread completed')
  const metrics = await (await fetch(`${relay.url}/metrics`)).text()
  t.match(metrics, /cc_relay_internal_errors_total\{where="worker.uncaught"\} 1/)
})

t.test("a plugin's translator or error mapper that throws fails that request alone with api_error", async (t) => {
  upstream.handler = (_req, res) => res.writeHead(200, { 'content-type': 'text/event-stream' }).end(sse([{ type: 'ping' }, { type: 'message_stop' }]))
  const translated = await post('throw-in-translator')
  t.equal(translated.status, 502, 'before any content reached the client: an error answer (the relay holds the head until content starts)')
  t.match(await translated.text(), /^\{"type":"error","error":\{"type":"api_error","message":"provider broken sent a malformed stream/)
  upstream.handler = (_req, res) => res.writeHead(503, { 'content-type': 'text/plain' }).end('make mapError throw')
  const mapped = await post('throw-in-map-error', false)
  t.equal(mapped.status, 500)
  t.match(((await mapped.json()) as { error: { type: string } }).error.type, 'api_error')
})

t.test('a worker thread that exits fails its request; the relay keeps serving', async (t) => {
  upstream.handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.write(sse([{ type: 'ping' }]))
    // Hold the stream open: the worker exits while it is in flight.
  }
  const res = await post('exit-the-thread')
  const text = await res.text()
  if (res.status === 200) t.match(text, /event: error\ndata: \{"type":"error","error":\{"type":"api_error"/)
  else t.equal(res.status, 500)
  upstream.handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}')
  const after = await post('claude-plain', false)
  t.equal(after.status, 200)
  t.same(await after.json(), { ok: true })
})

t.test('a duplicate provider type or a plugin for another contract version stops the start', async (t) => {
  for (const [dir, wanted] of [
    ['plugins-dup', /provider type "anthropic" is defined twice/],
    ['plugins-old', /written for plugin contract 0; this relay speaks 1/],
  ] as const) {
    const file = writeConfig(`plugin_dirs: ["${join(PLUGINS, '..', dir)}"]\nproviders: [{ name: a, type: anthropic }]\n`)
    const run = spawnSync(process.execPath, [BIN, 'serve', '--config', file, '--listen', '127.0.0.1:0'], { encoding: 'utf8' })
    t.equal(run.status, 1)
    t.match(run.stderr, wanted)
  }
})
