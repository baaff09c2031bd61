/**
 * Upstream traffic goes through HTTPS_PROXY (a CONNECT tunnel) and skips it for NO_PROXY hosts, on the
 * main-thread path and the worker-thread one, and the health check takes the same way.
 *
 * The proxied upstream is named `upstream.test`, a name only the test proxy knows (it connects every
 * tunnel to loopback): a request that bypassed the proxy could not reach it at all.
 */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import { connect } from 'node:net'
import type { AddressInfo, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MESSAGE, STREAM_EVENTS } from '../fixtures/anthropic.js'
import { MockUpstream, sse } from '../helpers/mock-upstream.js'
import { oneProvider, startRelay } from '../helpers/relay.js'

const PROXIED_HOST = 'upstream.test'

function selfSignedCert(): { key: string; cert: string; certFile: string } {
  const dir = mkdtempSync(join(tmpdir(), 'cc-relay-proxy-'))
  const keyFile = join(dir, 'key.pem')
  const certFile = join(dir, 'cert.pem')
  const san = `subjectAltName=DNS:localhost,DNS:${PROXIED_HOST},IP:127.0.0.1`
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-addext', san, '-days', '1', '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' })
  return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8'), certFile }
}

/** A CONNECT-only forward proxy that records each tunnel's target and connects it to loopback. */
class ConnectProxy {
  readonly targets: string[] = []
  readonly #server: Server = createServer((_req, res) => res.writeHead(405).end())
  readonly #sockets = new Set<Socket>()
  url = ''

  async start(): Promise<this> {
    this.#server.on('connection', (s: Socket) => {
      this.#sockets.add(s)
      s.on('close', () => this.#sockets.delete(s))
    })
    this.#server.on('connect', (req, client: Socket, head: Buffer) => {
      const target = req.url ?? ''
      this.targets.push(target)
      const port = Number(target.slice(target.lastIndexOf(':') + 1))
      const upstream = connect(port, '127.0.0.1', () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
        upstream.write(head)
        upstream.pipe(client)
        client.pipe(upstream)
      })
      this.#sockets.add(upstream)
      upstream.on('close', () => this.#sockets.delete(upstream))
      upstream.on('error', () => client.destroy())
      client.on('error', () => upstream.destroy())
    })
    await new Promise<void>((r) => this.#server.listen(0, '127.0.0.1', r))
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`
    return this
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy()
    await new Promise<void>((r) => this.#server.close(() => r()))
  }
}

const tls = selfSignedCert()
const upstream = await new MockUpstream(tls).start()
const upstreamPort = new URL(upstream.url).port
const proxy = await new ConnectProxy().start()
t.teardown(async () => {
  await proxy.close()
  await upstream.close()
})

const streamText = sse(STREAM_EVENTS as unknown as { type: string }[])
upstream.handler = (_req, res, rec) => {
  if (rec.method === 'GET') return void res.writeHead(404).end()
  const body = JSON.parse(rec.body.toString()) as { stream?: boolean }
  if (body.stream) res.writeHead(200, { 'content-type': 'text/event-stream' }).end(streamText)
  else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(MESSAGE))
}

async function post(relayUrl: string, stream: boolean): Promise<{ status: number; text: string; provider: string | null }> {
  const res = await fetch(`${relayUrl}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'sk-ant-api03-client', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: 'claude-opus-4-8', max_tokens: 16, stream, messages: [{ role: 'user', content: 'hi' }] }),
    signal: AbortSignal.timeout(20_000),
  })
  return { status: res.status, text: await res.text(), provider: res.headers.get('x-cc-relay-provider') }
}

/** Fails with `what` instead of hanging until tap's own timeout when `promise` never settles. */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(what)), ms)))
  try {
    return await Promise.race([promise, deadline])
  } finally {
    clearTimeout(timer)
  }
}

const KEYS = `    keys: [{ key: "sk-ant-pooled" }]`
const proxyEnv = { HTTPS_PROXY: proxy.url, NODE_EXTRA_CA_CERTS: tls.certFile, NO_PROXY: '', no_proxy: '', https_proxy: '' }

for (const upstreamIo of ['main thread', 'workers'] as const) {
  t.test(`through HTTPS_PROXY (${upstreamIo}): streaming and not, one CONNECT to the upstream`, async (t) => {
    const env = upstreamIo === 'workers' ? { ...proxyEnv, CC_RELAY_UPSTREAM_IO: 'workers' } : proxyEnv
    const relay = await startRelay(oneProvider(`https://${PROXIED_HOST}:${upstreamPort}`, KEYS), { env })
    t.teardown(() => relay.stop())
    proxy.targets.length = 0

    const plain = await post(relay.url, false)
    t.equal(plain.status, 200, 'non-streaming: 200')
    t.same(JSON.parse(plain.text), MESSAGE, 'the non-streaming answer came back whole')
    const streamed = await post(relay.url, true)
    t.equal(streamed.status, 200, 'streaming: 200')
    t.equal(streamed.text, streamText, 'the stream came back byte for byte')

    // The env variable alone proves nothing: each request line names the path its exchange ran on.
    const expectedIo = upstreamIo === 'workers' ? 'worker' : 'main'
    await relay.waitForLog(() => relay.logs.filter((l) => l.msg === 'request').length >= 2)
    t.same(relay.logs.filter((l) => l.msg === 'request').map((l) => l.io), [expectedIo, expectedIo], `both exchanges ran on the ${expectedIo} path`)
    t.ok(proxy.targets.length > 0, 'the proxy was asked for a tunnel')
    t.same([...new Set(proxy.targets)], [`${PROXIED_HOST}:${upstreamPort}`], "every tunnel went to the upstream's host:port")
  })
}

t.test('NO_PROXY covering the upstream host: the proxy sees nothing', async (t) => {
  const relay = await startRelay(oneProvider(upstream.url, KEYS), { env: { ...proxyEnv, NO_PROXY: 'localhost,127.0.0.1' } })
  t.teardown(() => relay.stop())
  proxy.targets.length = 0
  const before = upstream.requests.length

  t.equal((await post(relay.url, false)).status, 200, 'non-streaming: 200')
  t.equal((await post(relay.url, true)).status, 200, 'streaming: 200')
  t.equal(upstream.requests.length - before, 2, 'both requests reached the upstream directly')
  t.same(proxy.targets, [], 'no CONNECT')
})

t.test('the health check reaches a proxied upstream through the proxy', async (t) => {
  let healthy = false
  const sick = await new MockUpstream(tls).start()
  const backup = await new MockUpstream().start()
  t.teardown(() => Promise.all([sick.close(), backup.close()]))
  sick.handler = (req, res) => {
    if (!healthy) return void res.writeHead(500, { 'content-type': 'application/json' }).end('{"type":"error","error":{"type":"api_error","message":"down"}}')
    if (req.method === 'GET') return void res.writeHead(404).end()
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(MESSAGE))
  }
  backup.handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(MESSAGE))
  const relay = await startRelay(
    `routing: { debug: true }
health:
  circuit_breaker: { failure_threshold: 1, open_duration_ms: 600000, half_open_probes: 1 }
  health_check: { enabled: true, interval_ms: 100 }
providers:
  - { name: sick, type: anthropic, base_url: "https://${PROXIED_HOST}:${new URL(sick.url).port}", priority: 2, keys: [{ key: k1 }] }
  - { name: backup, type: anthropic, base_url: "${backup.url}", priority: 1, keys: [{ key: k2 }] }
`,
    // The backup is reached directly, so only the sick upstream's traffic crosses the proxy.
    { env: { ...proxyEnv, NO_PROXY: '127.0.0.1' } },
  )
  t.teardown(() => relay.stop())

  t.equal((await post(relay.url, false)).provider, 'backup', "the sick upstream's 500 opened its circuit")
  healthy = true
  await within(15_000, 'the health check never reached the sick upstream', relay.waitForLog((l) => l.msg === 'health check: reachable again; circuit half-open' && l.provider === 'sick'))
  t.ok(sick.requests.some((r) => r.method === 'GET'), `the probe reached ${PROXIED_HOST}, which only the proxy can`)
  t.equal((await post(relay.url, false)).provider, 'sick', 'half-open: the recovered upstream serves again')
})
