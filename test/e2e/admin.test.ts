/**
 * Admin endpoints through the running relay: who may call them (CONTRACT §4), and /metrics values that
 * move as requests flow.
 */
import t from 'tap'
import { networkInterfaces } from 'node:os'
import { MockUpstream, sse } from '../helpers/mock-upstream.js'
import { oneProvider, startRelay } from '../helpers/relay.js'

const ANSWER = sse([
  { type: 'message_start', message: { id: 'm', model: 'claude-sonnet-4-5-20250929', usage: { input_tokens: 100, output_tokens: 1, cache_read_input_tokens: 50, cache_creation_input_tokens: 10 } } },
  { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 20 } },
  { type: 'message_stop' },
])

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`

/** A non-loopback address of this machine, to be a "remote" peer. */
function externalAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (!a.internal && a.family === 'IPv4') return a.address
  return undefined
}

/** `name{labels} value` from Prometheus text; 0 when absent. */
function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue
    const labelText = /\{(.*)\}/.exec(line)?.[1] ?? ''
    const have = Object.fromEntries([...labelText.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]))
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) total += Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return total
}

t.test('with admin.api_key: Basic password or Bearer, else 401 with a Basic challenge', async (t) => {
  const upstream = await new MockUpstream().start()
  const relay = await startRelay(oneProvider(upstream.url, '    keys: [{ key: "k" }]', 'server: { admin: { api_key: "adm-secret" } }'))
  t.teardown(async () => {
    await relay.stop()
    await upstream.close()
  })
  for (const path of ['/status', '/status.json', '/metrics']) {
    const none = await fetch(relay.url + path)
    t.equal(none.status, 401, `${path}: no credentials`)
    t.match(none.headers.get('www-authenticate'), /^Basic realm=/, `${path}: a browser is asked for the key`)
    const body = (await none.json()) as { error: { type: string; message: string } }
    t.equal(body.error.type, 'authentication_error')
    t.notMatch(body.error.message, /adm-secret/)
    t.equal((await fetch(relay.url + path, { headers: { authorization: basic('anyone', 'wrong') } })).status, 401, `${path}: wrong password`)
    t.equal((await fetch(relay.url + path, { headers: { authorization: 'Bearer wrong' } })).status, 401, `${path}: wrong bearer`)
    const viaBasic = await fetch(relay.url + path, { headers: { authorization: basic('admin', 'adm-secret') } })
    t.equal(viaBasic.status, 200, `${path}: Basic password`)
    await viaBasic.arrayBuffer()
    const viaBearer = await fetch(relay.url + path, { headers: { authorization: 'Bearer adm-secret' } })
    t.equal(viaBearer.status, 200, `${path}: Bearer`)
    await viaBearer.arrayBuffer()
  }
  const page = await fetch(relay.url + '/status', { headers: { authorization: 'Bearer adm-secret' } })
  t.match(page.headers.get('content-type'), /^text\/html/)
  t.match(await page.text(), /status\.json/, 'the page reads the JSON endpoint')
  t.equal((await fetch(relay.url + '/status.json', { method: 'POST', headers: { authorization: 'Bearer adm-secret' } })).status, 405)
})

t.test('without admin.api_key: loopback peers only', async (t) => {
  const external = externalAddress()
  const upstream = await new MockUpstream().start()
  const relay = await startRelay(oneProvider(upstream.url, '    keys: [{ key: "k" }]'), { args: ['--listen', '0.0.0.0:0'] })
  t.teardown(async () => {
    await relay.stop()
    await upstream.close()
  })
  const port = new URL(relay.url).port
  const local = await fetch(`http://127.0.0.1:${port}/status.json`)
  t.equal(local.status, 200, 'loopback may')
  await local.arrayBuffer()
  if (!external) return t.fail('this machine has no non-loopback IPv4 address to test a remote peer from')
  const remote = await fetch(`http://${external}:${port}/metrics`)
  t.equal(remote.status, 403, `a peer at ${external} may not`)
  const body = (await remote.json()) as { error: { type: string } }
  t.equal(body.error.type, 'permission_error')
  const health = await fetch(`http://${external}:${port}/health`)
  t.equal(health.status, 200, '/health stays open to anyone')
  await health.arrayBuffer()
})

t.test('/metrics moves as requests flow; labels carry no secret', async (t) => {
  const upstream = await new MockUpstream().start()
  upstream.handler = (_req, res) => res.writeHead(200, { 'content-type': 'text/event-stream' }).end(ANSWER)
  const yaml = oneProvider(
    upstream.url,
    '    keys: [{ key: "sk-pooled-secret-1" }]',
    'server: { auth: { clients: [{ name: alice, key: "alice-secret-key" }, { name: bob, key: "bob-secret-key", rpm_limit: 1 }] } }',
  )
  const relay = await startRelay(yaml)
  t.teardown(async () => {
    await relay.stop()
    await upstream.close()
  })
  const scrape = async (): Promise<string> => (await fetch(relay.url + '/metrics')).text()
  const send = (key: string) =>
    fetch(`${relay.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-cc-relay-key': key }, body: '{"model":"claude-sonnet-4-5","stream":true,"max_tokens":10}' })

  const before = await scrape()
  t.equal(metric(before, 'cc_relay_requests_total'), 0)
  t.equal(metric(before, 'cc_relay_breaker_state', { provider: 'upstream' }), 0, 'breaker closed')
  t.equal(metric(before, 'cc_relay_keys_available', { provider: 'upstream' }), 1)
  for (let i = 0; i < 3; i++) await (await send('alice-secret-key')).text()
  await (await send('bob-secret-key')).text()
  const limited = await send('bob-secret-key')
  t.equal(limited.status, 429, "bob's own rpm limit")
  await limited.text()

  const after = await scrape()
  t.equal(metric(after, 'cc_relay_requests_total', { client: 'alice', status: '200', provider: 'upstream', route: 'messages' }), 3)
  t.equal(metric(after, 'cc_relay_requests_total', { client: 'bob', status: '200' }), 1)
  t.equal(metric(after, 'cc_relay_requests_total', { client: 'bob', status: '429' }), 1)
  t.equal(metric(after, 'cc_relay_rate_limited_total', { scope: 'client' }), 1)
  t.equal(metric(after, 'cc_relay_tokens_total', { client: 'alice', kind: 'input' }), 300)
  t.equal(metric(after, 'cc_relay_tokens_total', { client: 'alice', kind: 'output' }), 60)
  t.equal(metric(after, 'cc_relay_tokens_total', { client: 'alice', kind: 'cache_read' }), 150)
  t.equal(metric(after, 'cc_relay_tokens_total', { client: 'alice', kind: 'cache_creation' }), 30)
  t.equal(metric(after, 'cc_relay_upstream_attempts_total', { provider: 'upstream', status: '200' }), 4)
  t.equal(metric(after, 'cc_relay_time_to_first_byte_seconds_count', { provider: 'upstream' }), 4)
  t.equal(metric(after, 'cc_relay_request_duration_seconds_count', { route: 'messages' }), 5)
  // Sonnet 4.5 list prices: $3 in, $15 out, $3.75 cache write, $0.30 cache read per million tokens.
  const aliceCost = (300 * 3 + 60 * 15 + 30 * 3.75 + 150 * 0.3) / 1e6
  t.ok(Math.abs(metric(after, 'cc_relay_estimated_cost_usd_total', { client: 'alice' }) - aliceCost) < 1e-12, 'estimated cost from the price table')
  t.match(after, /^cc_relay_worker_pool_utilization \d/m, 'worker pool utilisation')
  t.equal(metric(after, 'cc_relay_active_requests'), 0, 'nothing in flight now')
  t.equal(metric(after, 'cc_relay_instances'), 1, 'one relay, memory store')
  t.equal(metric(after, 'cc_relay_shared_state_up'), 0, 'no shared store')
  t.notMatch(after, /secret/, 'no key in any label')
})
