/**
 * IP allow lists (issue 23, CONTRACT §10): a peer outside `server.auth.allow_ips` gets 403
 * `permission_error` before any body byte is read (the connection is closed; nothing goes upstream);
 * IPv4 and IPv6 CIDRs; the admin endpoints follow `server.admin.allow_ips`; a reload changes the list.
 */
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { MockUpstream } from '../helpers/mock-upstream.js'
import { startRelay } from '../helpers/relay.js'
import type { RunningRelay } from '../helpers/relay.js'
import { until, within } from '../helpers/wait.js'

const upstream = await new MockUpstream().start()
upstream.handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"id":"m","type":"message","role":"assistant","model":"m","content":[],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}')
t.teardown(() => upstream.close())

const yaml = (clients: string, admin: string): string => `
logging: { level: info, format: json }
server:
  auth: { allow_ips: [${clients}] }
  admin: { allow_ips: [${admin}] }
providers:
  - { name: main, type: anthropic, base_url: "${upstream.url}", keys: [{ key: pooled }] }
`

/**
 * Sends a request's head promising a megabyte of body, and none of it: the answer must come anyway,
 * and the connection end, since the relay never reads what follows.
 */
function headOnly(url: string): Promise<{ head: string; body: string; closed: boolean }> {
  const { hostname, port } = new URL(url)
  const host = hostname.replace(/^\[|\]$/g, '')
  return within('an answer to a head without its body', new Promise((resolve, reject) => {
    const socket = connect(Number(port), host)
    let text = ''
    socket.on('data', (d: Buffer) => (text += d.toString()))
    socket.on('error', reject)
    socket.on('close', () => {
      const [head = '', body = ''] = text.split('\r\n\r\n')
      resolve({ head, body, closed: true })
    })
    socket.write(`POST /v1/messages HTTP/1.1\r\nhost: relay\r\ncontent-type: application/json\r\ncontent-length: 1048576\r\n\r\n`)
  }))
}

const post = (relay: RunningRelay) =>
  fetch(`${relay.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":"m","max_tokens":1,"messages":[]}', signal: AbortSignal.timeout(20_000) })

t.test('IPv4: a peer outside the list is refused before its body; one inside is served', async (t) => {
  const relay = await startRelay(yaml('"10.0.0.0/8", "2001:db8::/32"', ''))
  t.teardown(() => relay.stop())
  const refused = await headOnly(relay.url)
  t.match(refused.head, /^HTTP\/1\.1 403 /, '403 without a body byte sent')
  t.match(JSON.parse(refused.body.replace(/^[0-9a-f]+\r\n|\r\n0\r\n$/g, '')), { type: 'error', error: { type: 'permission_error', message: /^127\.0\.0\.1 may not call this relay \(server\.auth\.allow_ips\)$/ } })
  t.ok(refused.closed, 'the connection is closed rather than read')
  t.equal((await post(relay)).status, 403)
  const models = await fetch(`${relay.url}/v1/models`, { signal: AbortSignal.timeout(20_000) })
  t.equal(models.status, 403, '/v1/models follows the same list')
  t.equal(upstream.requests.length, 0, 'nothing went upstream')
  const line = await relay.waitForLog((l) => l.msg === 'request' && l.refused === 'ip')
  t.match(line, { status: 403, error: 'ip_forbidden' })
  const metrics = await (await fetch(`${relay.url}/metrics`)).text()
  t.match(metrics, /^cc_relay_refused_total\{reason="ip"\} 3$/m, 'counted by reason')

  // A reload lets loopback in.
  writeFileSync(relay.configFile, yaml('"10.0.0.0/8", "127.0.0.0/8"', ''))
  await until('the reloaded list admits loopback', async () => (await post(relay)).status === 200)
  t.pass('served after the reload')
})

t.test('IPv6: a CIDR on a [::1] listener', async (t) => {
  const inside = await startRelay(yaml('"::1/128"', ''), { args: ['--listen', '[::1]:0'] })
  t.teardown(() => inside.stop())
  t.match(inside.url, /^http:\/\/\[::1\]:/)
  t.equal((await post(inside)).status, 200, '::1 is in ::1/128')
  const outside = await startRelay(yaml('"fd00::/8", "127.0.0.1"', ''), { args: ['--listen', '[::1]:0'] })
  t.teardown(() => outside.stop())
  const res = await post(outside)
  t.equal(res.status, 403, '::1 is outside fd00::/8 and is not 127.0.0.1')
  t.match(await res.json(), { error: { type: 'permission_error', message: /may not call this relay/ } })
})

t.test('admin endpoints follow server.admin.allow_ips', async (t) => {
  const closed = await startRelay(yaml('', '"10.1.0.0/16"'))
  t.teardown(() => closed.stop())
  const refused = await fetch(`${closed.url}/status.json`, { signal: AbortSignal.timeout(20_000) })
  t.equal(refused.status, 403)
  t.match(await refused.json(), { error: { type: 'permission_error', message: /^127\.0\.0\.1 may not call the admin endpoints \(server\.admin\.allow_ips\)$/ } })
  t.equal((await post(closed)).status, 200, 'an empty client list lets everyone call the client endpoints')
  const open = await startRelay(yaml('', '"127.0.0.1"'))
  t.teardown(() => open.stop())
  t.equal((await fetch(`${open.url}/status.json`, { signal: AbortSignal.timeout(20_000) })).status, 200, 'a listed peer needs no key when none is set')
})
