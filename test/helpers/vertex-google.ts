/**
 * A local Google OAuth token endpoint for a service account, so the relay's Google credentials are
 * exercised end to end without the internet.
 *
 * google-auth-library 10 sends the service-account JWT grant to a fixed URL,
 * `https://oauth2.googleapis.com/token` (`build/src/gtoken/getToken.js` `GOOGLE_TOKEN_URL`; the key
 * file's `token_uri` is not read), through gaxios, which honours `HTTPS_PROXY`. So the relay gets
 * `HTTPS_PROXY` pointing at a local proxy that answers `CONNECT oauth2.googleapis.com:443` by terminating
 * TLS itself with a certificate for that name (trusted through `NODE_EXTRA_CA_CERTS`) and serving the
 * token endpoint. The upstream requests to the Vertex mock go through undici's own Agent, which ignores
 * proxy variables; any other CONNECT or proxied request is refused and recorded in `unexpected`.
 *
 * The token endpoint checks the grant as Google does: `grant_type` is the JWT bearer type, the assertion
 * is an RS256 JWS whose signature verifies with the service account's public key, `iss` is its
 * `client_email`, `aud` is the token URL, the scope is the requested one, and it has not expired.
 */
import { execFileSync } from 'node:child_process'
import { generateKeyPairSync, randomBytes, verify } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { Server as HttpsServer } from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token'
export const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer'

export interface ServiceAccount {
  /** Path of the key JSON. */
  readonly keyFile: string
  readonly clientEmail: string
  readonly projectId: string
  readonly publicKey: KeyObject
}

/** A fresh RSA service-account key file, in the format the Cloud console downloads. */
export function writeServiceAccount(projectId = 'relay-test-project'): ServiceAccount {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const clientEmail = `cc-relay@${projectId}.iam.gserviceaccount.com`
  const dir = mkdtempSync(join(tmpdir(), 'cc-relay-gcp-'))
  const keyFile = join(dir, 'service-account.json')
  writeFileSync(
    keyFile,
    JSON.stringify(
      {
        type: 'service_account',
        project_id: projectId,
        private_key_id: randomBytes(20).toString('hex'),
        private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        client_email: clientEmail,
        client_id: '100000000000000000001',
        auth_uri: 'https://accounts.google.com/o/oauth2/auth',
        token_uri: GOOGLE_TOKEN_URL,
        auth_provider_x509_cert_url: 'https://www.googleapis.com/oauth2/v1/certs',
        client_x509_cert_url: `https://www.googleapis.com/robot/v1/metadata/x509/${encodeURIComponent(clientEmail)}`,
        universe_domain: 'googleapis.com',
      },
      null,
      2,
    ),
  )
  return { keyFile, clientEmail, projectId, publicKey }
}

/** One grant the token endpoint received, with what it found. */
export interface Grant {
  readonly valid: boolean
  readonly why?: string
  readonly header?: Record<string, unknown>
  readonly claims?: Record<string, unknown>
  readonly issued?: string
}

export interface PlannedToken {
  readonly access_token: string
  readonly expires_in: number
}

function selfSignedFor(host: string): { key: string; cert: string; certFile: string } {
  const dir = mkdtempSync(join(tmpdir(), 'cc-relay-gtls-'))
  const keyFile = join(dir, 'key.pem')
  const certFile = join(dir, 'cert.pem')
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', `/CN=${host}`, '-addext', `subjectAltName=DNS:${host}`],
    { stdio: 'ignore' },
  )
  return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8'), certFile }
}

export class GoogleTokenServer {
  readonly grants: Grant[] = []
  /** CONNECT targets or proxied URLs other than the token endpoint. */
  readonly unexpected: string[] = []
  /** Tokens handed out next, in order; the last one is repeated when the plan runs out. */
  plan: PlannedToken[] = [{ access_token: 'tok-1', expires_in: 3600 }]
  /** Called with each issued token before the answer leaves. */
  onIssue: ((token: string) => void) | undefined
  readonly #account: ServiceAccount
  readonly #scope: string
  readonly #tls: { key: string; cert: string; certFile: string }
  readonly #proxy: Server
  readonly #endpoint: HttpsServer
  readonly #sockets = new Set<Socket>()
  proxyUrl = ''

  constructor(account: ServiceAccount, scope: string) {
    this.#account = account
    this.#scope = scope
    this.#tls = selfSignedFor('oauth2.googleapis.com')
    this.#endpoint = createHttpsServer({ key: this.#tls.key, cert: this.#tls.cert }, (req, res) => this.#token(req, res))
    this.#proxy = createServer((req, res) => {
      // A plain-HTTP proxied request (e.g. the GCE metadata server): not part of these tests.
      this.unexpected.push(`${req.method} ${req.url}`)
      res.writeHead(502).end()
    })
    this.#proxy.on('connection', (s: Socket) => this.#track(s))
    this.#proxy.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      if (req.url !== 'oauth2.googleapis.com:443') {
        this.unexpected.push(`CONNECT ${req.url}`)
        return void socket.end('HTTP/1.1 403 Forbidden\r\n\r\n')
      }
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      if (head.length > 0) socket.unshift(head)
      this.#endpoint.emit('connection', socket)
    })
  }

  #track(s: Socket): void {
    this.#sockets.add(s)
    s.on('close', () => this.#sockets.delete(s))
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.#proxy.listen(0, '127.0.0.1', r))
    this.proxyUrl = `http://127.0.0.1:${(this.#proxy.address() as AddressInfo).port}`
    return this
  }

  /** The environment the relay needs to reach this endpoint in place of Google's. */
  env(): NodeJS.ProcessEnv {
    return { HTTPS_PROXY: this.proxyUrl, https_proxy: this.proxyUrl, NODE_EXTRA_CA_CERTS: this.#tls.certFile, NO_PROXY: '', no_proxy: '' }
  }

  /** Grants that were valid and got a token. */
  get issued(): string[] {
    return this.grants.flatMap((g) => (g.issued ? [g.issued] : []))
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy()
    await new Promise<void>((r) => this.#proxy.close(() => r()))
  }

  #token(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const refuse = (why: string, extra: Partial<Grant> = {}): void => {
        this.grants.push({ valid: false, why, ...extra })
        res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'invalid_grant', error_description: why }))
      }
      if (req.method !== 'POST' || req.url !== '/token') return refuse(`unexpected ${req.method} ${req.url}`)
      if (!String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded')) return refuse('not a form')
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'))
      if (form.get('grant_type') !== JWT_BEARER) return refuse(`grant_type ${form.get('grant_type')}`)
      const parts = (form.get('assertion') ?? '').split('.')
      if (parts.length !== 3) return refuse('assertion is not a JWS')
      const [h, p, s] = parts as [string, string, string]
      let header: Record<string, unknown>
      let claims: Record<string, unknown>
      try {
        header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as Record<string, unknown>
        claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>
      } catch {
        return refuse('assertion is not JSON')
      }
      const seen = { header, claims }
      if (header.alg !== 'RS256') return refuse(`alg ${String(header.alg)}`, seen)
      if (!verify('RSA-SHA256', Buffer.from(`${h}.${p}`), this.#account.publicKey, Buffer.from(s, 'base64url'))) {
        return refuse('Invalid JWT Signature.', seen)
      }
      const now = Math.floor(Date.now() / 1000)
      if (claims.iss !== this.#account.clientEmail) return refuse(`iss ${String(claims.iss)}`, seen)
      if (claims.aud !== GOOGLE_TOKEN_URL) return refuse(`aud ${String(claims.aud)}`, seen)
      if (claims.scope !== this.#scope) return refuse(`scope ${String(claims.scope)}`, seen)
      if (typeof claims.exp !== 'number' || claims.exp <= now || typeof claims.iat !== 'number' || claims.iat > now + 60) {
        return refuse('Invalid JWT: Token must be a short-lived token and in a reasonable timeframe.', seen)
      }
      const next = this.plan.length > 1 ? this.plan.shift()! : this.plan[0]!
      this.grants.push({ valid: true, ...seen, issued: next.access_token })
      this.onIssue?.(next.access_token)
      res
        .writeHead(200, { 'content-type': 'application/json; charset=utf-8' })
        .end(JSON.stringify({ access_token: next.access_token, expires_in: next.expires_in, token_type: 'Bearer' }))
    })
  }
}
