// `--tls`: a fresh self-signed certificate for the mock upstream, made with openssl for this run only.
// Every real provider is HTTPS, so a proxy's figures should include what its upstream TLS costs.
// ECDSA P-256, as the big API fronts serve; names `localhost` and 127.0.0.1 (node clients connect by
// address and check the IP name; nginx checks `proxy_ssl_name localhost`).
//
// Run alone it writes cert.pem and key.pem into a directory, for a mock started by hand beside a
// `--target` relay: `node bench/lib/tls.mjs DIR`, then `node bench/mock-upstream.mjs --port 9000
// --tls-cert DIR/cert.pem --tls-key DIR/key.pem`, and start the target trusting DIR/cert.pem.
import { spawnSync } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Why `--tls` cannot run here, or undefined when it can. */
export function tlsUnavailable() {
  const probe = spawnSync('openssl', ['version'], { stdio: 'ignore' })
  return probe.error || probe.status !== 0 ? 'openssl is not installed (apt-get install openssl)' : undefined
}

/** Writes `cert.pem` and `key.pem` into `dir` (created if needed); valid for two days. */
export function makeCertificate(dir) {
  mkdirSync(dir, { recursive: true })
  const cert = join(dir, 'cert.pem')
  const key = join(dir, 'key.pem')
  const made = spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', key, '-out', cert],
    { encoding: 'utf8' },
  )
  if (made.error || made.status !== 0) throw new Error(`openssl could not make the --tls certificate: ${made.error?.message ?? made.stderr}`)
  return { cert, key }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2]
  if (!dir) {
    process.stderr.write('usage: node bench/lib/tls.mjs DIR\n')
    process.exit(2)
  }
  const { cert, key } = makeCertificate(dir)
  process.stdout.write(`${cert}\n${key}\n`)
}
