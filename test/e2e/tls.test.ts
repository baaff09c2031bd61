/**
 * HTTPS ingress: with `server.tls` the relay listens with TLS only, the Anthropic SDK works against it
 * (streaming and not) once it trusts the certificate, and a TLS config that cannot work stops the relay
 * before it listens, naming the file or the field at fault.
 */
import t from 'tap'
import Anthropic from '@anthropic-ai/sdk'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { get } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Agent } from 'undici'
import { MESSAGE, STREAM_EVENTS } from '../fixtures/anthropic.js'
import { MockUpstream, sse } from '../helpers/mock-upstream.js'
import { BIN, oneProvider, startRelay, writeConfig } from '../helpers/relay.js'

function selfSignedCert(): { ca: string; certFile: string; keyFile: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'cc-relay-tls-'))
  const keyFile = join(dir, 'key.pem')
  const certFile = join(dir, 'cert.pem')
  execOpenssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-days', '1', '-keyout', keyFile, '-out', certFile])
  return { ca: readFileSync(certFile, 'utf8'), certFile, keyFile, dir }
}

function execOpenssl(args: string[]): void {
  const run = spawnSync('openssl', args, { stdio: 'ignore' })
  if (run.status !== 0) throw new Error(`openssl ${args[0]} failed`)
}

const tlsYaml = (cert: string, key: string): string => `server: { tls: { cert_file: ${JSON.stringify(cert)}, key_file: ${JSON.stringify(key)} } }`
const KEYS = `    keys: [{ key: "sk-ant-pooled" }]`

const tls = selfSignedCert()
const upstream = await new MockUpstream().start()
const streamText = sse(STREAM_EVENTS as unknown as { type: string }[])
upstream.handler = (_req, res, rec) => {
  const body = JSON.parse(rec.body.toString()) as { stream?: boolean }
  if (body.stream) res.writeHead(200, { 'content-type': 'text/event-stream' }).end(streamText)
  else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(MESSAGE))
}
const relay = await startRelay(oneProvider(upstream.url, KEYS, tlsYaml(tls.certFile, tls.keyFile)))
// Trusts the self-signed certificate for this client only; the test process itself does not.
const trusting = new Agent({ connect: { ca: tls.ca } })
t.teardown(async () => {
  await relay.stop()
  await upstream.close()
  await trusting.close()
})

const sdk = new Anthropic({ baseURL: relay.url, apiKey: 'sk-ant-api03-client', maxRetries: 0, fetchOptions: { dispatcher: trusting } })
const params = { model: 'claude-opus-4-8', max_tokens: 1024, messages: [{ role: 'user' as const, content: 'weather?' }] }

t.test('the listening url is https', async (t) => {
  t.match(relay.url, /^https:\/\/127\.0\.0\.1:\d+$/)
})

t.test('the SDK: a non-streaming message', async (t) => {
  t.same(await sdk.messages.create(params), MESSAGE)
})

t.test('the SDK: a streaming message', async (t) => {
  const message = await sdk.messages.stream(params).finalMessage()
  t.same(message.content.map((b) => b.type), ['thinking', 'text', 'tool_use'])
  t.same((message.content[2] as { input: unknown }).input, { location: 'San Francisco, CA', unit: 'celsius' })
  t.equal(message.usage.output_tokens, 89)
})

t.test('a plain https GET /health', async (t) => {
  const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    get(`${relay.url}/health`, { ca: tls.ca }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (c: string) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    }).on('error', reject)
  })
  t.equal(status, 200)
  t.same(JSON.parse(body), { status: 'ok' })
})

t.test('TLS only: plain HTTP on the port gets no answer, and an untrusting client refuses the certificate', async (t) => {
  const plainUrl = relay.url.replace(/^https:/, 'http:')
  await t.rejects(fetch(`${plainUrl}/health`), 'no HTTP answer on the TLS port')
  const refused = await fetch(`${relay.url}/health`).then(
    () => 'accepted',
    (err: Error & { cause?: { code?: string } }) => err.cause?.code ?? err.message,
  )
  t.equal(refused, 'DEPTH_ZERO_SELF_SIGNED_CERT', 'the certificate served is the configured self-signed one')
})

/** Runs the CLI on a config to completion (it must exit by itself: a relay that listened would not). */
function cli(args: string[], yaml: string): { status: number | null; output: string } {
  const file = writeConfig(yaml)
  const run = spawnSync(process.execPath, [BIN, ...args, '--config', file], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, CC_RELAY_WORKERS: '1' } })
  return { status: run.status, output: run.stdout + run.stderr }
}

const broken: { name: string; tls: string; names: string }[] = [
  { name: 'only cert_file', tls: `server: { tls: { cert_file: ${JSON.stringify(tls.certFile)} } }`, names: 'server.tls.key_file' },
  { name: 'only key_file', tls: `server: { tls: { key_file: ${JSON.stringify(tls.keyFile)} } }`, names: 'server.tls.cert_file' },
  { name: 'a missing key file', tls: tlsYaml(tls.certFile, join(tls.dir, 'no-such-key.pem')), names: join(tls.dir, 'no-such-key.pem') },
  { name: 'a missing certificate file', tls: tlsYaml(join(tls.dir, 'no-such-cert.pem'), tls.keyFile), names: join(tls.dir, 'no-such-cert.pem') },
  { name: 'the files swapped', tls: tlsYaml(tls.keyFile, tls.certFile), names: tls.keyFile },
]

for (const { name, tls: top, names } of broken) {
  t.test(`a TLS config with ${name} fails: validate and serve exit 1 naming ${names}`, async (t) => {
    const yaml = oneProvider(upstream.url, KEYS, top)
    const validate = cli(['config', 'validate'], yaml)
    t.equal(validate.status, 1, 'config validate exits 1')
    t.ok(validate.output.includes(names), `config validate names it:\n${validate.output}`)
    const serve = cli(['serve', '--listen', '127.0.0.1:0'], yaml)
    t.equal(serve.status, 1, 'serve exits 1')
    t.ok(serve.output.includes(names), `serve names it:\n${serve.output}`)
    t.notMatch(serve.output, /"msg":"listening"/, 'serve never listened')
  })
}
