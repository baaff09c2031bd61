/**
 * Sign-in (CONTRACT §12) as one object the relay holds while `server.auth.sso.issuer` is set: the
 * relay's tokens, the sign-in records and where they live, the revocation lists, the IdP client, and
 * the seam to the rest of the relay, `identify(headers)`: a request's bearer → a signed-in user, a
 * refusal, or "not ours" (then relay keys decide, as before).
 */
import type { RelayConfig, SsoConfig, GroupConfig } from '../config/types.js'
import type { UsageLedger } from '../ledger/ledger.js'
import { ledgerPath } from '../ledger/open.js'
import type { Logger } from '../shared/log.js'
import { IdentityProvider } from './idp.js'
import { MemoryKv } from './kv.js'
import type { ClientTelemetry } from './otlp/client-telemetry.js'
import type { KvStore } from './kv.js'
import { Revocations } from './revocations.js'
import { Sealer } from './seal.js'
import { SigninState } from './state.js'
import type { SignedInUser } from './state.js'
import { TokenService } from './tokens.js'

/** What a request's `Authorization: Bearer` says about its caller. */
export type BearerIdentity =
  /** No bearer, or one that is not a JWT: not a sign-in token (a relay key may still be there). */
  | { readonly kind: 'none' }
  | { readonly kind: 'user'; readonly user: SignedInUser }
  /** A sign-in token that is forged, expired or revoked: 401 `authentication_error`, `x-should-retry: false`. */
  | { readonly kind: 'refused'; readonly message: string }

const NONE: BearerIdentity = { kind: 'none' }
/** Claude Code then asks the user to sign in again at once instead of retrying for minutes. */
export const REFUSAL_HEADERS: readonly string[] = ['x-should-retry', 'false']
/** A user's "last seen" is written at most this often. */
const SEEN_EVERY_MS = 5 * 60_000

export const signingSecrets = (sso: SsoConfig): string[] => (typeof sso.signing_secret === 'string' ? [sso.signing_secret] : [...sso.signing_secret])

export interface SigninDeps {
  /** The running config (groups and their managed settings follow reloads; `sso` itself needs a restart). */
  readonly config: () => RelayConfig
  readonly log: Logger
  readonly ledger: () => UsageLedger | undefined
  /** Members' own OTLP goes here (`telemetry.client_telemetry: forward`); undefined = discarded. */
  readonly clientTelemetry?: ClientTelemetry
}

export class SignIn {
  readonly sso: SsoConfig
  readonly tokens: TokenService
  readonly state: SigninState
  readonly revocations: Revocations
  readonly idp: IdentityProvider
  readonly deps: SigninDeps
  #base: string
  readonly #seen = new Map<string, number>()

  private constructor(config: RelayConfig, store: KvStore, deps: SigninDeps) {
    this.sso = config.server.auth.sso
    this.deps = deps
    this.#base = config.server.public_url.replace(/\/$/, '')
    const secrets = signingSecrets(this.sso)
    this.tokens = new TokenService(secrets, () => this.#base)
    this.state = new SigninState(store, new Sealer(secrets))
    this.revocations = new Revocations(store, this.sso.token_ttl_s)
    this.idp = new IdentityProvider(this.sso)
  }

  /**
   * Sign-in for `config`, or undefined while sso is off. The records live where the usage ledger does:
   * Redis with `state.store: redis`, else the ledger's database file, else (usage.db: off) memory.
   */
  static async open(config: RelayConfig, configDir: string, deps: SigninDeps): Promise<SignIn | undefined> {
    if (config.server.auth.sso.issuer === '') return undefined
    let store: KvStore
    const path = ledgerPath(config, configDir)
    if (config.state.store === 'redis') store = new (await import('./kv-redis.js')).RedisKv(config.state.redis)
    else if (path === undefined) {
      deps.log.warn({}, 'sign-in: usage.db is off, so signed-in users are kept in memory only and must sign in again after a restart')
      store = new MemoryKv()
    } else {
      try {
        store = new (await import('./kv-file.js')).FileKv(path)
      } catch (err) {
        deps.log.warn({ path, err: (err as Error).message }, 'sign-in: the database file cannot be opened; signed-in users are kept in memory only')
        store = new MemoryKv()
      }
    }
    const signin = new SignIn(config, store, deps)
    if (!(await signin.revocations.start())) deps.log.warn({ store: store.kind }, 'sign-in: the state store cannot be read yet; revocations made elsewhere apply once it can')
    // Discovery now, so a wrong issuer shows in the log at start; the first sign-in retries if it failed.
    signin.idp.configuration().then(
      () => deps.log.info({ issuer: signin.sso.issuer, store: store.kind }, 'sign-in ready'),
      (err: Error) => deps.log.warn({ issuer: signin.sso.issuer, err: err.message }, 'sign-in: the identity provider cannot be discovered yet; sign-ins fail until it can'),
    )
    return signin
  }

  /** The relay's public base URL: `server.public_url`, else the address it listens on (loopback only). */
  get base(): string {
    return this.#base
  }

  /** Called once the relay listens, when `server.public_url` is empty. */
  listeningAt(url: string): void {
    if (this.#base === '') this.#base = url.replace(/\/$/, '')
  }

  get groups(): readonly GroupConfig[] {
    return this.deps.config().server.auth.groups
  }

  /** The seam: `Authorization: Bearer <the relay's JWT>` → who is calling. A cached token costs map lookups. */
  identify(headers: Readonly<Record<string, string>>): BearerIdentity {
    const authorization = headers['authorization']
    if (authorization === undefined || authorization.length < 8 || authorization.slice(0, 7).toLowerCase() !== 'bearer ') return NONE
    const bearer = authorization.slice(7).trim()
    if (!TokenService.looksLikeJwt(bearer)) return NONE
    const verified = this.tokens.verify(bearer)
    if (!verified.ok) {
      return { kind: 'refused', message: verified.reason === 'expired' ? 'your sign-in has expired; run /login again' : 'this bearer token was not issued by this relay; run /login again' }
    }
    const { claims } = verified
    if (this.revocations.isRevoked(claims)) return { kind: 'refused', message: 'your sign-in was revoked; run /login again' }
    this.#touch(claims)
    return { kind: 'user', user: claims }
  }

  /** Records when a user was last seen, at most every few minutes (never on the request's path). */
  #touch(user: SignedInUser): void {
    const now = Date.now()
    if (now - (this.#seen.get(user.email) ?? 0) < SEEN_EVERY_MS) return
    if (this.#seen.size > 10_000) this.#seen.clear()
    this.#seen.set(user.email, now)
    this.state.touchUser(user).catch((err: Error) => this.deps.log.warn({ err: err.message }, 'sign-in: could not record a user as seen'))
  }

  /** `cc-relay users revoke`: every token of `email` dies now, and their refresh sessions with them. */
  async revokeUser(email: string): Promise<number> {
    const normalized = email.trim().toLowerCase()
    await this.revocations.revokeUser(normalized)
    return this.state.dropSessionsOf(normalized)
  }

  async close(): Promise<void> {
    this.revocations.stop()
    await this.state.store.close()
  }
}
