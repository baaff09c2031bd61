/**
 * A small OpenID Connect provider on loopback (node:http, an RSA key from crypto.generateKeyPairSync),
 * playing the company's IdP in the sign-in tests: discovery, JWKS, the authorization endpoint (it
 * "logs in" whoever `loginAs` names and redirects straight back, as an IdP session would), the token
 * endpoint (authorization code with PKCE checked, refresh), userinfo. Tests can deprovision a user
 * (their refresh tokens are refused with invalid_grant, as Okta or Entra do), refuse the next login,
 * and tamper with the next id_token to prove the relay checks it.
 */
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, SignJWT } from 'jose'

export interface IdpUser {
  readonly sub: string
  readonly email: string
  readonly name: string
  readonly groups: readonly string[]
  readonly email_verified?: boolean
}

/** What the next id_token gets wrong (each must make the relay refuse the callback). */
export type Tamper = 'nonce' | 'audience' | 'issuer' | 'signature' | 'expired'

interface Grant {
  readonly user: IdpUser
  readonly nonce: string
  readonly challenge: string
  readonly redirectUri: string
}

export class OidcIssuer {
  readonly clientId = 'cc-relay-test'
  readonly clientSecret = 'test-client-secret-0123456789'
  readonly users = new Map<string, IdpUser>()
  /** The user the next authorization request signs in. */
  loginAs = ''
  /** The next authorization answers `error=access_denied`. */
  refuseNext = false
  /** The next id_token from the code exchange is wrong in this way. */
  tamperNext: Tamper | undefined
  /** Whether refresh grants return an id_token (some IdPs do not: then userinfo is asked). */
  idTokenOnRefresh = true
  readonly deprovisioned = new Set<string>()
  /** Every request, as `METHOD /path`. */
  readonly seen: string[] = []
  url = ''

  readonly #server: Server
  readonly #codes = new Map<string, Grant>()
  readonly #refresh = new Map<string, string>()
  readonly #access = new Map<string, string>()
  readonly #key = generateKeyPairSync('rsa', { modulusLength: 2048 })
  readonly #otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 })
  readonly #kid = randomBytes(6).toString('hex')

  constructor() {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        this.seen.push(`${req.method} ${new URL(req.url!, 'http://x').pathname}`)
        this.#handle(req, res, Buffer.concat(chunks).toString()).catch((err: Error) => res.writeHead(500).end(err.message))
      })
    })
  }

  add(user: IdpUser): this {
    this.users.set(user.email, user)
    return this
  }

  deprovision(email: string): void {
    this.deprovisioned.add(email)
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.#server.listen(0, '127.0.0.1', r))
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`
    return this
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections()
    await new Promise<void>((r) => this.#server.close(() => r()))
  }

  /** Refresh grants the relay made for `email` (the deprovisioning hook is exercised). */
  refreshesOf(email: string): number {
    return this.#refreshLog.filter((e) => e === email).length
  }

  readonly #refreshLog: string[] = []

  async #handle(req: IncomingMessage, res: ServerResponse, body: string): Promise<void> {
    const url = new URL(req.url!, this.url)
    const send = (status: number, value: unknown, headers: Record<string, string> = {}) =>
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }).end(JSON.stringify(value))
    switch (`${req.method} ${url.pathname}`) {
      case 'GET /.well-known/openid-configuration':
        return send(200, {
          issuer: this.url,
          authorization_endpoint: `${this.url}/authorize`,
          token_endpoint: `${this.url}/token`,
          userinfo_endpoint: `${this.url}/userinfo`,
          jwks_uri: `${this.url}/jwks`,
          response_types_supported: ['code'],
          subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: ['RS256'],
          code_challenge_methods_supported: ['S256'],
          grant_types_supported: ['authorization_code', 'refresh_token'],
          token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
          scopes_supported: ['openid', 'email', 'profile', 'offline_access'],
        })
      case 'GET /jwks':
        return send(200, { keys: [{ ...(await exportJWK(this.#key.publicKey)), kid: this.#kid, alg: 'RS256', use: 'sig' }] })
      case 'GET /authorize':
        return this.#authorize(url, res)
      case 'POST /token':
        return this.#token(req, new URLSearchParams(body), send)
      case 'GET /userinfo': {
        const email = this.#access.get((req.headers.authorization ?? '').replace(/^Bearer /, ''))
        const user = email === undefined ? undefined : this.users.get(email)
        if (!user) return send(401, { error: 'invalid_token' })
        return send(200, this.#claims(user))
      }
      default:
        return send(404, { error: 'not_found' })
    }
  }

  #authorize(url: URL, res: ServerResponse): void {
    const q = url.searchParams
    const redirect = q.get('redirect_uri') ?? ''
    if (q.get('client_id') !== this.clientId || !redirect.startsWith('http')) return void res.writeHead(400).end('bad client or redirect_uri')
    const back = new URL(redirect)
    back.searchParams.set('state', q.get('state') ?? '')
    back.searchParams.set('iss', this.url)
    const user = this.users.get(this.loginAs)
    if (this.refuseNext || !user) {
      this.refuseNext = false
      back.searchParams.set('error', 'access_denied')
      back.searchParams.set('error_description', 'the user is not assigned to this application')
    } else {
      const code = randomBytes(16).toString('hex')
      this.#codes.set(code, { user, nonce: q.get('nonce') ?? '', challenge: q.get('code_challenge') ?? '', redirectUri: redirect })
      back.searchParams.set('code', code)
    }
    res.writeHead(302, { location: back.href }).end()
  }

  #clientOk(req: IncomingMessage, form: URLSearchParams): boolean {
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1]
    if (basic) {
      const [id, secret] = Buffer.from(basic, 'base64').toString().split(':').map(decodeURIComponent)
      return id === this.clientId && secret === this.clientSecret
    }
    return form.get('client_id') === this.clientId && form.get('client_secret') === this.clientSecret
  }

  async #token(req: IncomingMessage, form: URLSearchParams, send: (s: number, v: unknown) => void): Promise<void> {
    if (!this.#clientOk(req, form)) return send(401, { error: 'invalid_client' })
    if (form.get('grant_type') === 'authorization_code') {
      const grant = this.#codes.get(form.get('code') ?? '')
      this.#codes.delete(form.get('code') ?? '')
      if (!grant || grant.redirectUri !== form.get('redirect_uri')) return send(400, { error: 'invalid_grant' })
      const challenge = createHash('sha256').update(form.get('code_verifier') ?? '').digest('base64url')
      if (challenge !== grant.challenge) return send(400, { error: 'invalid_grant', error_description: 'PKCE verification failed' })
      const tamper = this.tamperNext
      this.tamperNext = undefined
      return send(200, await this.#tokens(grant.user, grant.nonce, tamper))
    }
    if (form.get('grant_type') === 'refresh_token') {
      const email = this.#refresh.get(form.get('refresh_token') ?? '')
      if (email !== undefined) this.#refreshLog.push(email)
      const user = email === undefined ? undefined : this.users.get(email)
      if (!user || this.deprovisioned.has(user.email)) return send(400, { error: 'invalid_grant', error_description: 'the user is deprovisioned' })
      this.#refresh.delete(form.get('refresh_token')!)
      const tokens = await this.#tokens(user, undefined, undefined)
      return send(200, this.idTokenOnRefresh ? tokens : { ...tokens, id_token: undefined })
    }
    return send(400, { error: 'unsupported_grant_type' })
  }

  #claims(user: IdpUser): Record<string, unknown> {
    return { sub: user.sub, email: user.email, email_verified: user.email_verified ?? true, name: user.name, groups: user.groups }
  }

  async #tokens(user: IdpUser, nonce: string | undefined, tamper: Tamper | undefined): Promise<Record<string, unknown>> {
    const now = Math.floor(Date.now() / 1000)
    const key = tamper === 'signature' ? this.#otherKey.privateKey : this.#key.privateKey
    const idToken = await new SignJWT({ ...this.#claims(user), ...(nonce !== undefined ? { nonce: tamper === 'nonce' ? 'not-the-nonce' : nonce } : {}) })
      .setProtectedHeader({ alg: 'RS256', kid: this.#kid })
      .setIssuer(tamper === 'issuer' ? 'https://evil.example' : this.url)
      .setAudience(tamper === 'audience' ? 'someone-else' : this.clientId)
      .setIssuedAt(tamper === 'expired' ? now - 7200 : now)
      .setExpirationTime(tamper === 'expired' ? now - 3600 : now + 600)
      .sign(key)
    const access = randomBytes(16).toString('hex')
    const refresh = randomBytes(16).toString('hex')
    this.#access.set(access, user.email)
    this.#refresh.set(refresh, user.email)
    return { access_token: access, token_type: 'Bearer', expires_in: 600, refresh_token: refresh, id_token: idToken, scope: 'openid email profile' }
  }
}
