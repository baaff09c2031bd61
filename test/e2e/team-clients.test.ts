/**
 * A team's relay (server.auth.clients): each named key has its own limits, its own books, and can be
 * revoked by a reload without touching the others.
 */
import t from 'tap'
import { drain, until, within } from '../helpers/wait.js'
import { writeFileSync } from 'node:fs'
import type { ServerResponse } from 'node:http'
import { MockUpstream, sse } from '../helpers/mock-upstream.js'
import { startRelay } from '../helpers/relay.js'

const ANSWER = sse([
  { type: 'message_start', message: { id: 'm', usage: { input_tokens: 7, output_tokens: 1 } } },
  { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
  { type: 'content_block_stop', index: 0 },
  { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 3 } },
  { type: 'message_stop' },
])

const config = (baseUrl: string, clients: string): string => `
logging: { level: info, format: json }
server:
  auth:
    clients:
${clients}
providers:
  - name: upstream
    type: anthropic
    base_url: "${baseUrl}"
    keys: [{ key: "pooled" }]
`
const ALICE = '      - { name: alice, key: "alice-key", rpm_limit: 3 }'
const BOB = '      - { name: bob, key: "bob-key", max_concurrent: 1 }'

interface ClientRow {
  name: string
  requests: number
  errors: number
  input_tokens: number
  output_tokens: number
  inflight: number
  rpm: { used: number; limit: number }
}

t.test('two client keys: limited and counted separately; a revoked one is refused after a reload', async (t) => {
  const upstream = await new MockUpstream().start()
  const held: ServerResponse[] = []
  upstream.handler = (req, res) => {
    // Bob's requests are held open, to fill his one concurrency slot.
    if (req.headers['x-hold'] === '1') {
      res.writeHead(200, { 'content-type': 'text/event-stream' }).write(ANSWER.slice(0, ANSWER.indexOf('event: message_delta')))
      held.push(res)
      return
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' }).end(ANSWER)
  }
  const relay = await startRelay(config(upstream.url, `${ALICE}\n${BOB}`))
  t.teardown(async () => {
    await relay.stop()
    await upstream.close()
  })
  const send = (key: string, hold = false) =>
    fetch(`${relay.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-cc-relay-key': key, ...(hold ? { 'x-hold': '1' } : {}) },
      body: '{"model":"claude-x","stream":true,"max_tokens":8}',
    })
  const clients = async (): Promise<Map<string, ClientRow>> => {
    const status = (await (await fetch(`${relay.url}/status.json`)).json()) as { clients: ClientRow[] }
    return new Map(status.clients.map((c) => [c.name, c]))
  }

  // Alice: 3 per minute, then 429 with retry-after; Bob is not affected by her limit.
  const aliceStatuses: number[] = []
  for (let i = 0; i < 4; i++) {
    const res = await send('alice-key')
    aliceStatuses.push(res.status)
    if (res.status === 429) {
      t.ok(Number(res.headers.get('retry-after')) >= 1, 'retry-after on the limited one')
      const body = (await res.json()) as { error: { type: string; message: string } }
      t.equal(body.error.type, 'rate_limit_error')
      t.match(body.error.message, /client alice .*3 requests per minute/)
    } else await res.text()
  }
  t.same(aliceStatuses, [200, 200, 200, 429])

  // Bob: one at a time. His first request is held open; a second is refused while it runs.
  const first = await send('bob-key', true)
  t.equal(first.status, 200)
  const reader = first.body!.getReader()
  await reader.read()
  const second = await send('bob-key')
  t.equal(second.status, 429, "bob's max_concurrent")
  t.match(((await second.json()) as { error: { message: string } }).error.message, /client bob already has 1 requests in flight/)
  t.equal((await clients()).get('bob')!.inflight, 1)
  held.shift()!.end(ANSWER.slice(ANSWER.indexOf('event: message_delta')))
  await within("bob's first stream ends", drain(reader))
  // The slot frees when the request ends.
  await until("bob's slot is freed", async () => (await clients()).get('bob')!.inflight === 0)
  const third = await send('bob-key')
  t.equal(third.status, 200, 'bob again once his first request ended')
  await third.text()

  // A client that hangs up mid-stream frees its slot too (and the key's lease).
  const abort = new AbortController()
  const gone = await fetch(`${relay.url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-cc-relay-key': 'bob-key', 'x-hold': '1' },
    body: '{"model":"claude-x","stream":true,"max_tokens":8}',
    signal: abort.signal,
  })
  t.equal(gone.status, 200)
  await gone.body!.getReader().read()
  t.equal((await clients()).get('bob')!.inflight, 1, 'the held request fills the slot')
  abort.abort()
  await until("bob's slot is freed after he hung up", async () => (await clients()).get('bob')!.inflight === 0)
  const afterHangUp = await send('bob-key')
  t.equal(afterHangUp.status, 200, 'bob is admitted again')
  await afterHangUp.text()
  held.shift()?.destroy()

  const books = await clients()
  const alice = books.get('alice')!
  const bob = books.get('bob')!
  t.equal(alice.requests, 4)
  t.equal(alice.errors, 1, 'the 429 counts against alice')
  t.equal(alice.input_tokens, 21)
  t.equal(alice.output_tokens, 9)
  t.same(alice.rpm, { used: 3, limit: 3 })
  t.equal(bob.requests, 5)
  t.equal(bob.input_tokens, 7 * 4, "bob's four answered requests (the hung-up one too: its message_start arrived)")
  t.equal(bob.rpm.limit, 0, 'bob has no rpm limit')

  // Log lines are written in batches: wait for the last of bob's.
  await relay.waitForLog((l) => l.msg === 'request' && l.client === 'bob' && relay.logs.filter((x) => x.msg === 'request' && x.client === 'bob').length === 5)
  const lines = relay.logs.filter((l) => l.msg === 'request')
  t.equal(lines.filter((l) => l.client === 'alice').length, 4, 'every request line names its client')

  // Revoke bob by a reload: his key is refused at once, alice goes on with her window intact.
  writeFileSync(relay.configFile, config(upstream.url, ALICE))
  await relay.waitForLog((l) => String(l.msg).startsWith('config reloaded'))
  const revoked = await send('bob-key')
  t.equal(revoked.status, 401, 'the revoked key is refused')
  await revoked.text()
  const stillLimited = await send('alice-key')
  t.equal(stillLimited.status, 429, "alice's minute carried over the reload")
  await stillLimited.text()
  t.equal((await clients()).get('bob')?.requests, 5, "bob's history stays on the books; the refused request is nobody's")
})
