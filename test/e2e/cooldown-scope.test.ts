/**
 * Cooldowns scoped like the upstream's limits, through the running relay (CONTRACT §6, issue 11): a 429
 * for one model cools that model on the key, and the key keeps serving the others; /status.json and
 * `cc-relay status` show the per-model cooldown.
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { MockUpstream } from '../helpers/mock-upstream.js'
import { BIN, oneProvider, startRelay } from '../helpers/relay.js'
import type { StatusSnapshot } from '../../src/admin/status.js'

const OPUS = 'claude-opus-4-8'
const HAIKU = 'claude-haiku-4-5'
const message = (model: string): string =>
  JSON.stringify({ id: 'msg_ok', type: 'message', role: 'assistant', content: [{ type: 'text', text: 'ok' }], model, stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 3, output_tokens: 1 } })

t.test("one model's 429 cools that model only; the key goes on serving the others", async (t) => {
  const upstream = await new MockUpstream().start()
  upstream.handler = (_req, res, recorded) => {
    const model = (JSON.parse(recorded.body.toString()) as { model: string }).model
    if (model === OPUS) {
      return void res
        .writeHead(429, { 'content-type': 'application/json', 'retry-after': '60', 'anthropic-ratelimit-requests-remaining': '0' })
        .end('{"type":"error","error":{"type":"rate_limit_error","message":"Number of requests has exceeded your per-minute rate limit"}}')
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(message(model))
  }
  const relay = await startRelay(oneProvider(upstream.url, '    keys: [{ key: "sk-ant-only-key" }]'))
  t.teardown(async () => {
    await relay.stop()
    await upstream.close()
  })
  const post = (model: string) =>
    fetch(`${relay.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, max_tokens: 5, messages: [] }), signal: AbortSignal.timeout(20_000) })

  const first = await post(OPUS)
  t.equal(first.status, 429, "the upstream's 429, verbatim (one key, nothing to fail over to)")
  t.match(await first.text(), /per-minute rate limit/)
  t.equal(upstream.requests.length, 1)

  const other = await post(HAIKU)
  t.equal(other.status, 200, 'another model on the same key is served')
  t.equal(((await other.json()) as { model: string }).model, HAIKU)
  t.equal(upstream.requests.length, 2, 'and it reached the upstream')

  const again = await post(OPUS)
  t.equal(again.status, 429, 'the cooled model gets the relay’s own 429')
  const body = (await again.json()) as { error: { type: string; message: string } }
  t.equal(body.error.type, 'rate_limit_error')
  const retryAfter = Number(again.headers.get('retry-after'))
  t.ok(retryAfter > 0 && retryAfter <= 60, `retry-after is what is left of the 60 s (${retryAfter})`)
  t.equal(upstream.requests.length, 2, 'nothing was sent upstream for it')

  const snapshot = (await (await fetch(`${relay.url}/status.json`)).json()) as StatusSnapshot
  const k = snapshot.providers[0]!.keys[0]!
  t.equal(k.cooldown_until, null, 'the key as a whole is not cooling')
  t.equal(k.available, true, 'and it is available')
  t.same(k.model_cooldowns.map((c) => [c.model, c.kind]), [[OPUS, 'throttle']], 'the model cooldown is listed')

  const cli = spawnSync(process.execPath, [BIN, 'status', '--url', relay.url], { encoding: 'utf8', timeout: 30_000 })
  t.equal(cli.status, 0)
  t.match(cli.stdout, new RegExp(`${OPUS} cooling until \\d\\d:\\d\\d:\\d\\d \\(throttle\\)`))
})
