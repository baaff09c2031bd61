/**
 * Cooldowns' untested corners (CONTRACT §6 "Rate limits and cooldowns", issue 27 corner 4), through the
 * running relay with one pooled key, so a cooled model gets the relay's own 429 and the upstream sees
 * nothing more of it:
 * - a cooldown is keyed by the upstream model name: two client models mapped to one upstream model
 *   share its cooldown; a third mapped elsewhere is served;
 * - a 200 whose `anthropic-ratelimit-…-remaining: 0` reports a spent budget cools that model until its
 *   `…-reset`, without failing the answer;
 * - a subscription's `unified-status: rejected` with the account-wide claim `five_hour` takes the whole
 *   key out; with the model-scoped `seven_day_opus` only that model.
 */
import t from 'tap'
import type { ServerResponse } from 'node:http'
import { MockUpstream } from '../helpers/mock-upstream.js'
import { startRelay } from '../helpers/relay.js'
import type { RunningRelay } from '../helpers/relay.js'
import type { StatusSnapshot } from '../../src/admin/status.js'

const relays: RunningRelay[] = []
const mocks: MockUpstream[] = []
t.teardown(async () => {
  await Promise.all(relays.map((r) => r.stop()))
  await Promise.all(mocks.map((m) => m.close()))
})

const message = (model: string): string =>
  JSON.stringify({ id: 'msg_ok', type: 'message', role: 'assistant', content: [{ type: 'text', text: 'ok' }], model, stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 3, output_tokens: 1 } })
const ok = (res: ServerResponse, model: string, headers: Record<string, string> = {}): void => void res.writeHead(200, { 'content-type': 'application/json', ...headers }).end(message(model))
const limited = (res: ServerResponse, headers: Record<string, string>): void =>
  void res.writeHead(429, { 'content-type': 'application/json', ...headers }).end('{"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed your rate limit"}}')
const modelOf = (body: Buffer): string => (JSON.parse(body.toString()) as { model: string }).model

/** One provider, one key, and `extra` provider YAML; `handler` gets the upstream model. */
async function setup(handler: (res: ServerResponse, model: string) => void, extra = ''): Promise<{ relay: RunningRelay; upstream: MockUpstream }> {
  const upstream = await new MockUpstream().start()
  upstream.handler = (_req, res, recorded) => handler(res, modelOf(recorded.body))
  mocks.push(upstream)
  const relay = await startRelay(`logging: { level: info, format: json }
health: { health_check: { enabled: false } }
providers:
  - name: main
    type: anthropic
    base_url: "${upstream.url}"
    keys: [{ key: sk-ant-only }]
${extra}`)
  relays.push(relay)
  return { relay, upstream }
}

async function post(r: RunningRelay, model: string): Promise<{ status: number; type?: string; headers: Headers }> {
  const res = await fetch(`${r.url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }),
    signal: AbortSignal.timeout(20_000),
  })
  const body = (await res.json()) as { type: string; error?: { type: string } }
  return { status: res.status, type: body.error?.type, headers: res.headers }
}
const keyStatus = async (r: RunningRelay) => ((await (await fetch(`${r.url}/status.json`, { signal: AbortSignal.timeout(10_000) })).json()) as StatusSnapshot).providers[0]!.keys[0]!

t.test('a cooldown is keyed by the upstream model: client models mapped to it share it, another mapping is served', async (t) => {
  const { relay, upstream } = await setup(
    (res, model) => (model === 'up-shared' ? limited(res, { 'retry-after': '120' }) : ok(res, model)),
    '    model_mapping: { "claude-alpha": "up-shared", "claude-beta": "up-shared", "claude-gamma": "up-other" }',
  )
  const first = await post(relay, 'claude-alpha')
  t.equal(first.status, 429, "the upstream's 429 for up-shared")
  t.equal(upstream.requests.length, 1)
  const beta = await post(relay, 'claude-beta')
  t.equal(beta.status, 429, 'claude-beta maps to the same upstream model: it is cooling too')
  t.equal(beta.type, 'rate_limit_error')
  t.ok(Number(beta.headers.get('retry-after')) > 60, `the relay's own 429 with what is left of the 120 s (${beta.headers.get('retry-after')})`)
  t.equal(upstream.requests.length, 1, 'nothing was sent upstream for claude-beta')
  const gamma = await post(relay, 'claude-gamma')
  t.equal(gamma.status, 200, 'claude-gamma maps to another upstream model: served')
  t.same(upstream.requests.map((q) => modelOf(q.body)), ['up-shared', 'up-other'])
  const k = await keyStatus(relay)
  t.same(k.model_cooldowns.map((c) => c.model), ['up-shared'], "the cooldown is listed under the upstream model's name")
  t.equal(k.cooldown_until, null, 'the key as a whole is not cooling')
})

t.test('a 200 with anthropic-ratelimit-tokens-remaining: 0 cools that model until its reset; the answer itself is served', async (t) => {
  const reset = new Date(Date.now() + 120_000).toISOString()
  let spent = true
  const { relay, upstream } = await setup((res, model) =>
    ok(res, model, model === 'claude-spent' && spent ? { 'anthropic-ratelimit-tokens-remaining': '0', 'anthropic-ratelimit-tokens-reset': reset, 'anthropic-ratelimit-requests-remaining': '40' } : {}),
  )
  const first = await post(relay, 'claude-spent')
  t.equal(first.status, 200, 'the answer that reported the spent budget is served')
  spent = false
  const again = await post(relay, 'claude-spent')
  t.equal(again.status, 429, 'the next request for that model gets the relay’s 429: the budget is spent until its reset')
  t.equal(again.type, 'rate_limit_error')
  const retry = Number(again.headers.get('retry-after'))
  t.ok(retry > 60 && retry <= 121, `retry-after runs to the reported reset (${retry} s)`)
  t.equal(upstream.requests.length, 1, 'it never reached the upstream')
  t.equal((await post(relay, 'claude-fresh')).status, 200, 'another model on the key is served')
  const k = await keyStatus(relay)
  t.same(k.model_cooldowns.map((c) => c.model), ['claude-spent'])
  t.equal(k.cooldown_until, null, 'the whole key is not cooling')
})

t.test("a subscription window: five_hour takes the whole key out, seven_day_opus only that model", async (t) => {
  const rejected = (claim: string): Record<string, string> => ({
    'anthropic-ratelimit-unified-status': 'rejected',
    'anthropic-ratelimit-unified-representative-claim': claim,
    'anthropic-ratelimit-unified-reset': String(Math.floor(Date.now() / 1000) + 3 * 3600),
  })
  for (const [claim, wholeKey] of [['five_hour', true], ['seven_day_opus', false]] as const) {
    const { relay, upstream } = await setup((res, model) => (model === 'claude-opus-4-8' ? limited(res, rejected(claim)) : ok(res, model)))
    t.equal((await post(relay, 'claude-opus-4-8')).status, 429, `${claim}: the upstream's 429`)
    const other = await post(relay, 'claude-sonnet-4-5')
    const k = await keyStatus(relay)
    if (wholeKey) {
      t.equal(other.status, 429, `${claim}: another model is refused by the relay too, the account is spent`)
      t.equal(upstream.requests.length, 1, `${claim}: nothing more reached the upstream`)
      t.ok(Number(other.headers.get('retry-after')) > 3600, `${claim}: retry-after runs to the window's reset (${other.headers.get('retry-after')} s)`)
      t.not(k.cooldown_until, null, `${claim}: the whole key is cooling`)
      t.equal(k.available, false, `${claim}: unavailable`)
    } else {
      t.equal(other.status, 200, `${claim}: another model is served on the same key`)
      t.equal(upstream.requests.length, 2)
      t.equal((await post(relay, 'claude-opus-4-8')).status, 429, `${claim}: opus itself stays cooled`)
      t.equal(upstream.requests.length, 2, `${claim}: without reaching the upstream`)
      t.equal(k.cooldown_until, null, `${claim}: the key as a whole is not cooling`)
      t.same(k.model_cooldowns.map((c) => [c.model, c.kind]), [['claude-opus-4-8', 'quota']], `${claim}: the opus quota is listed`)
    }
  }
})
