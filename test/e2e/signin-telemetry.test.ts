/**
 * A signed-in member's own telemetry (CONTRACT §12, `telemetry.client_telemetry`), through the running
 * relay: batches made by the official OpenTelemetry SDKs and serializers, as Claude Code's exporters
 * post them (protobuf and JSON, every signal), each claiming to be someone else's. With `forward` a
 * collector on loopback receives every batch stamped with the member's own email (resource and
 * records), otherwise as sent, with the configured collector headers; bad bodies are 400 and the relay
 * stays up; a dead collector costs the member nothing but counted drops. With `discard` nothing leaves.
 */
import t from 'tap'
import { gzipSync } from 'node:zlib'
import { SignJWT } from 'jose'
import { closedPort } from '../helpers/ports.js'
import { SigninClient } from '../helpers/signin-flow.js'
import { signinWorld, USERS } from '../helpers/signin-setup.js'
import type { SigninWorld } from '../helpers/signin-setup.js'
import { batch, MARKER, SIGNALS } from '../helpers/otlp-batches.js'
import type { Signal } from '../helpers/otlp-batches.js'
import { decode, OtlpSink, resourcesOf, valuesOf } from '../helpers/otlp-sink.js'
import type { SinkExport } from '../helpers/otlp-sink.js'
import { until } from '../helpers/wait.js'

// Three sign-in worlds (or a browser) on a shared 2-core machine: more than tap's default 180 s per file.
t.setTimeout(480_000)
const FORGED = 'boss@corp.example'
const ALICE = USERS.alice.email
const COLLECTOR_KEY = 'collector-key-0f1e2d3c4b5a69788796a5b4'
const TYPE = { protobuf: 'application/x-protobuf', json: 'application/json' } as const
const ENVELOPE = /^\{"type":"error","error":\{"type":"\w+","message":".+"\},"request_id":"req_ccr_\w+"\}$/

const post = (url: string, init: { token?: string; type?: string; body: Buffer | string; headers?: Record<string, string> }) =>
  fetch(url, {
    method: 'POST',
    headers: { ...(init.token ? { authorization: `Bearer ${init.token}` } : {}), ...(init.type ? { 'content-type': init.type } : {}), ...init.headers },
    body: init.body,
    signal: AbortSignal.timeout(20_000),
  }).then(async (res) => ({ status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() }))

const metricsOf = (world: SigninWorld) => fetch(`${world.relay.url}/metrics`, { signal: AbortSignal.timeout(10_000) }).then((r) => r.text())
const counter = (text: string, name: string, labels: string): number =>
  [...text.matchAll(new RegExp(`^${name}\\{${labels}\\} (\\S+)$`, 'gm'))].reduce((sum, m) => sum + Number(m[1]), 0)
/** alice signs in through the device flow (the mock IdP logs her in). */
async function signInAlice(world: SigninWorld): Promise<string> {
  world.idp.loginAs = ALICE
  return (await new SigninClient(world.relay.url).signIn()).access_token
}
const tagged = (tag: string) => (e: SinkExport) => resourcesOf(e).some((r) => r['test.case'] === tag)

/** The tree as the member sent it with every forged email replaced by theirs: what the collector must get. */
function expected(signal: Signal, type: string, body: Buffer): unknown {
  return JSON.parse(JSON.stringify(decode(signal, type, body)).replaceAll(FORGED, ALICE))
}

t.test('forward: every signal, protobuf and JSON, reaches the collector stamped with the member email', async (t) => {
  const sink = await new OtlpSink().start()
  const world = await signinWorld({ top: `telemetry: { otlp: { endpoint: "${sink.url}", headers: { x-collector-key: "${COLLECTOR_KEY}" } }, client_telemetry: forward }` })
  t.teardown(async () => {
    await world.close()
    await sink.close()
  })
  const { relay } = world
  const token = await signInAlice(world)

  for (const signal of SIGNALS) {
    for (const encoding of ['protobuf', 'json'] as const) {
      const tag = `${signal}-${encoding}`
      const body = await batch(signal, encoding, FORGED, tag)
      const answer = await post(`${relay.url}/v1/${signal}`, { token, type: TYPE[encoding], body })
      t.equal(answer.status, 200, `${tag}: 200`)
      if (encoding === 'json') t.equal(answer.text, '{}', `${tag}: the empty JSON response`)
      const got = await sink.waitFor(`${tag} at the collector`, signal, tagged(tag))
      t.match(got.contentType, TYPE[encoding], `${tag}: forwarded in its own encoding`)
      t.equal(got.headers['x-collector-key'], COLLECTOR_KEY, `${tag}: with the configured collector headers`)
      t.ok(resourcesOf(got).length > 0 && resourcesOf(got).every((r) => r['user.email'] === ALICE && r['service.name'] === 'claude-code'), `${tag}: every resource says ${ALICE}`)
      const emails = valuesOf(got, 'user.email')
      t.ok(emails.length >= 2 && emails.every((e) => e === ALICE), `${tag}: the records' own user.email is the member's too (${emails.length} found)`)
      t.notOk(got.body.includes(FORGED), `${tag}: the forged email is gone`)
      t.ok(JSON.stringify(got.tree).includes(MARKER[signal]), `${tag}: the data arrived`)
      t.same(got.tree, expected(signal, TYPE[encoding], body), `${tag}: nothing else changed (timestamps, ids, values, session.id)`)
    }
  }

  t.test('JSON in the proto field names is stamped too, and gzip is read', async (t) => {
    const snake = JSON.stringify({
      resource_spans: [
        {
          resource: { attributes: [{ key: 'user.email', value: { stringValue: FORGED } }, { key: 'test.case', value: { stringValue: 'snake' } }] },
          scope_spans: [{ spans: [{ traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b174', name: 'snake-span', startTimeUnixNano: '1765000000123456789', endTimeUnixNano: '1765000000999999999', attributes: [{ key: 'user.email', value: { stringValue: FORGED } }] }] }],
        },
      ],
    })
    t.equal((await post(`${relay.url}/v1/traces`, { token, type: 'application/json', body: snake })).status, 200)
    const got = await sink.waitFor('the snake_case batch', 'traces', tagged('snake'))
    t.same(valuesOf(got, 'user.email'), [ALICE, ALICE])
    t.match(got.tree, { resourceSpans: [{ scopeSpans: [{ spans: [{ name: 'snake-span', startTimeUnixNano: '1765000000123456789' }] }] }] }, 'renamed, 64-bit times exact')

    const zipped = gzipSync(await batch('metrics', 'protobuf', FORGED, 'gzip'))
    t.equal((await post(`${relay.url}/v1/metrics`, { token, type: 'application/x-protobuf', body: zipped, headers: { 'content-encoding': 'gzip' } })).status, 200)
    const inflated = await sink.waitFor('the gzip batch', 'metrics', tagged('gzip'))
    t.ok(valuesOf(inflated, 'user.email').every((e) => e === ALICE))
  })

  t.test('no member, no forwarding: 401 without a bearer or with a forged one', async (t) => {
    const body = await batch('logs', 'protobuf', FORGED, 'anonymous')
    const none = await post(`${relay.url}/v1/logs`, { type: TYPE.protobuf, body })
    t.equal(none.status, 401)
    t.match(none.text, ENVELOPE)
    const forged = await new SignJWT({ email: FORGED, groups: ['eng'] }).setProtectedHeader({ alg: 'HS256' }).setAudience('cc-relay').setSubject('x').setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode('another-secret-another-secret-0123456789'))
    t.equal((await post(`${relay.url}/v1/logs`, { token: forged, type: TYPE.protobuf, body })).status, 401)
    // A batch queued after them arrives; they never do.
    t.equal((await post(`${relay.url}/v1/logs`, { token, type: TYPE.protobuf, body: await batch('logs', 'protobuf', FORGED, 'after-anonymous') })).status, 200)
    await sink.waitFor('the batch after the refused ones', 'logs', tagged('after-anonymous'))
    t.notOk(sink.exports.some(tagged('anonymous')), 'the refused batches never reached the collector')
  })

  t.test('bad bodies: 400 (415 for what is not OTLP/HTTP), never a 5xx; the relay stays up', async (t) => {
    const cases: [string, string, Buffer | string, number, Record<string, string>?][] = [
      ['protobuf garbage', TYPE.protobuf, Buffer.from('ffffffffffffffffffff', 'hex'), 400],
      ['a truncated protobuf batch', TYPE.protobuf, (await batch('traces', 'protobuf', FORGED, 'cut')).subarray(0, 40), 400],
      ['a wrong wire type', TYPE.protobuf, Buffer.from([0x0c, 0x01]), 400],
      ['JSON that is not JSON', TYPE.json, '{"resourceSpans": [', 400],
      ['JSON of the wrong shape', TYPE.json, '{"resourceSpans": 5}', 400],
      ['JSON naming a list twice', TYPE.json, '{"resourceSpans": [], "resource_spans": [{}]}', 400],
      ['a JSON array', TYPE.json, '[1,2,3]', 400],
      ['invalid UTF-8', TYPE.json, Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]), 400],
      ['a corrupt gzip body', TYPE.protobuf, Buffer.from('1f8b0800000000000003ffff', 'hex'), 400, { 'content-encoding': 'gzip' }],
      ['an unknown content-encoding', TYPE.protobuf, Buffer.from([]), 415, { 'content-encoding': 'br' }],
      ['text/plain', 'text/plain', 'hello', 415],
    ]
    for (const [name, type, body, status, headers] of cases) {
      const answer = await post(`${relay.url}/v1/traces`, { token, type, body, headers })
      t.equal(answer.status, status, `${name}: ${status}`)
      t.match(answer.text, ENVELOPE, `${name}: the Anthropic envelope`)
    }
    t.equal((await fetch(`${relay.url}/health`)).status, 200)
    t.equal(relay.child.exitCode, null, 'the process is alive')
    t.same(relay.logs.filter((l) => l.msg === 'internal error'), [], 'no internal error')
  })

  t.test('counted, and the collector key is nowhere the relay shows', async (t) => {
    const metrics = await metricsOf(world)
    for (const signal of SIGNALS) t.ok(counter(metrics, 'cc_relay_client_telemetry_forwarded_total', `signal="${signal}"`) >= 2, `${signal} batches counted`)
    const status = await fetch(`${relay.url}/status.json`).then((r) => r.text())
    t.notOk(`${JSON.stringify(relay.logs)}${metrics}${status}`.includes(COLLECTOR_KEY), 'not in logs, metrics or status')
  })
})

t.test('forward to a dead collector: still 200 for the member, and the drops are counted', async (t) => {
  const world = await signinWorld({ top: `telemetry: { otlp: { endpoint: "http://127.0.0.1:${await closedPort()}" }, client_telemetry: forward }` })
  t.teardown(() => world.close())
  const token = await signInAlice(world)
  for (const signal of SIGNALS) {
    const answer = await post(`${world.relay.url}/v1/${signal}`, { token, type: TYPE.protobuf, body: await batch(signal, 'protobuf', FORGED, `dead-${signal}`) })
    t.equal(answer.status, 200, `${signal}: 200`)
  }
  let metrics = ''
  await until('three drops counted', async () => counter((metrics = await metricsOf(world)), 'cc_relay_client_telemetry_dropped_total', '[^}]*reason="export_failed"[^}]*') >= 3)
  for (const signal of SIGNALS) t.equal(counter(metrics, 'cc_relay_client_telemetry_dropped_total', `signal="${signal}",reason="export_failed"`), 1, `${signal}: one batch dropped`)
  // The warning is written after the counter moves, and reaches the test's reader of the relay's stdout a moment later.
  await until('the drop logged', async () => world.relay.logs.some((l) => l.msg === "members' telemetry dropped: the collector is slow, failing or unreachable"))
  t.pass('and said so in the log')
  t.equal((await fetch(`${world.relay.url}/health`)).status, 200)
})

t.test('discard (the default): answered 200, nothing reaches the collector, nothing is parsed', async (t) => {
  const sink = await new OtlpSink().start()
  // The relay's own traces go to the same collector, quickly: the barrier that shows nothing else came.
  const world = await signinWorld({ top: `telemetry: { otlp: { endpoint: "${sink.url}" } }`, env: { OTEL_BSP_SCHEDULE_DELAY: '100' } })
  t.teardown(async () => {
    await world.close()
    await sink.close()
  })
  const { relay } = world
  const token = await signInAlice(world)
  for (const signal of SIGNALS) {
    for (const encoding of ['protobuf', 'json'] as const) {
      const answer = await post(`${relay.url}/v1/${signal}`, { token, type: TYPE[encoding], body: await batch(signal, encoding, FORGED, 'discarded') })
      t.equal(answer.status, 200, `${signal} ${encoding}: 200`)
    }
  }
  t.equal((await post(`${relay.url}/v1/traces`, { token, type: TYPE.protobuf, body: Buffer.from('ffff', 'hex') })).status, 200, 'garbage too: it is not read')
  t.equal((await post(`${relay.url}/v1/traces`, { type: TYPE.protobuf, body: 'x' })).status, 401, 'but only for a member')
  const res = await fetch(`${relay.url}/v1/messages`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }) })
  t.equal(res.status, 200)
  await res.text()
  await sink.waitFor("the relay's own trace", 'traces', (e) => resourcesOf(e).some((r) => r['service.name'] === 'cc-relay'))
  t.same(sink.exports.filter(tagged('discarded')).length, 0, 'no member batch reached the collector')
  t.same(sink.exports.filter((e) => e.signal !== 'traces').length, 0, 'no metrics or logs at all')
  t.equal(counter(await metricsOf(world), 'cc_relay_client_telemetry_forwarded_total', '[^}]*'), 0)
})
