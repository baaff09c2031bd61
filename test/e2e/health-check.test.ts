/**
 * Active health checks bring an open circuit back (to half-open) as soon as the upstream answers again,
 * over HTTPS as well as plain HTTP, without waiting out `open_duration_ms`.
 */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MockUpstream } from '../helpers/mock-upstream.js'
import { startRelay } from '../helpers/relay.js'

const MESSAGE = '{"id":"m","type":"message","role":"assistant","content":[],"model":"m","stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}'

function selfSignedCert(): { key: string; cert: string; certFile: string } {
  const dir = mkdtempSync(join(tmpdir(), 'cc-relay-tls-'))
  const keyFile = join(dir, 'key.pem')
  const certFile = join(dir, 'cert.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' })
  return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8'), certFile }
}

for (const scheme of ['https', 'http'] as const) {
  t.test(`an open circuit on an ${scheme} upstream goes half-open when its health check answers`, async (t) => {
    const tls = scheme === 'https' ? selfSignedCert() : undefined
    const sick = await new MockUpstream(tls).start()
    const backup = await new MockUpstream().start()
    let healthy = false
    let probes = 0
    sick.handler = (req, res) => {
      if (req.method === 'GET') probes++
      if (!healthy) return void res.writeHead(500, { 'content-type': 'application/json' }).end('{"type":"error","error":{"type":"api_error","message":"down"}}')
      // A probe of the API root gets a 404 from a real API: still "reachable".
      if (req.method === 'GET') return void res.writeHead(404).end()
      res.writeHead(200, { 'content-type': 'application/json' }).end(MESSAGE)
    }
    backup.handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(MESSAGE)
    const relay = await startRelay(
      `routing: { debug: true }
health:
  circuit_breaker: { failure_threshold: 1, open_duration_ms: 600000, half_open_probes: 1 }
  health_check: { enabled: true, interval_ms: 100 }
providers:
  - { name: sick, type: anthropic, base_url: "${sick.url}", priority: 2, keys: [{ key: k1 }] }
  - { name: backup, type: anthropic, base_url: "${backup.url}", priority: 1, keys: [{ key: k2 }] }
`,
      { env: tls ? { NODE_EXTRA_CA_CERTS: tls.certFile } : {} },
    )
    t.teardown(async () => {
      await relay.stop()
      await Promise.all([sick.close(), backup.close()])
    })
    const post = async () => {
      const res = await fetch(`${relay.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":"claude-opus-4-8"}' })
      await res.text()
      return res
    }
    const first = await post()
    t.equal(first.headers.get('x-cc-relay-provider'), 'backup', 'the 500 opened the circuit and the request failed over')
    t.equal((await post()).headers.get('x-cc-relay-provider'), 'backup', 'the open circuit is skipped')
    healthy = true
    await relay.waitForLog((l) => l.msg === 'health check: reachable again; circuit half-open' && l.provider === 'sick')
    t.ok(probes > 0, `the health check reached the ${scheme} upstream`)
    t.equal((await post()).headers.get('x-cc-relay-provider'), 'sick', 'half-open: the next request probes the recovered provider')
    t.equal((await post()).headers.get('x-cc-relay-provider'), 'sick', 'its success closed the circuit')
  })
}
