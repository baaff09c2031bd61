/**
 * The relay's own bearer tokens (CONTRACT §12): HS256 JWTs signed with `signing_secret` by jose —
 * `aud: cc-relay`, `iss` = the relay's public URL, `sub`, `email`, `name`, `groups` (relay groups),
 * `jti`, `iat`, `exp` — and a kid naming which secret of a rotation list signed it.
 *
 * Verification is synchronous, so the one door every request passes stays synchronous: the signature is
 * node:crypto's HMAC compared in constant time, the header and claims are read by jose's decoders and
 * checked strictly (only HS256, only our kids, our audience and issuer, an expiry in the future). A
 * verified token is cached until it expires, so a signed-in caller's next request costs a map lookup
 * (the property test holds this path to jose's own jwtVerify).
 */
import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto'
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose'

export const AUDIENCE = 'cc-relay'

/** Who a verified token names. */
export interface TokenClaims {
  readonly sub: string
  readonly email: string
  readonly name: string
  /** Relay groups (after `group_map` / `default_group`). */
  readonly groups: readonly string[]
  readonly jti: string
  /** Seconds since the epoch. */
  readonly iat: number
  readonly exp: number
}

export type Verified = { readonly ok: true; readonly claims: TokenClaims } | { readonly ok: false; readonly reason: string }

interface SigningKey {
  readonly kid: string
  readonly key: Buffer
}

/** Far beyond any token this relay signs; anything longer is refused before it is decoded. */
const MAX_TOKEN_CHARS = 8192
/** The cache is cleared when it reaches this many tokens (at most a few verifications per user follow). */
const CACHE_LIMIT = 10_000
const SEGMENT = /^[A-Za-z0-9_-]+$/

const isStringArray = (value: unknown): value is string[] => Array.isArray(value) && value.every((v) => typeof v === 'string')

export class TokenService {
  readonly #keys: readonly SigningKey[]
  readonly #issuer: () => string
  readonly #cache = new Map<string, TokenClaims>()

  /** `issuer` is read when needed: the relay's base URL is known only once it listens. */
  constructor(secrets: readonly string[], issuer: () => string) {
    this.#keys = secrets.map((secret) => ({ kid: createHash('sha256').update(secret).digest('hex').slice(0, 16), key: Buffer.from(secret, 'utf8') }))
    this.#issuer = issuer
  }

  async mint(user: { sub: string; email: string; name: string; groups: readonly string[] }, ttlS: number): Promise<{ token: string; claims: TokenClaims }> {
    const { kid, key } = this.#keys[0]!
    const iat = Math.floor(Date.now() / 1000)
    const claims: TokenClaims = { sub: user.sub, email: user.email, name: user.name, groups: [...user.groups], jti: randomUUID(), iat, exp: iat + ttlS }
    const token = await new SignJWT({ email: claims.email, name: claims.name, groups: claims.groups })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid })
      .setSubject(claims.sub)
      .setAudience(AUDIENCE)
      .setIssuer(this.#issuer())
      .setJti(claims.jti)
      .setIssuedAt(iat)
      .setExpirationTime(claims.exp)
      .sign(new Uint8Array(key))
    this.#remember(token, claims)
    return { token, claims }
  }

  /**
   * Whether `value` has a JWT's shape at all (three base64url segments, the last possibly empty, as an
   * `alg: none` token has): such a bearer is taken to be ours, and refused if it is not.
   */
  static looksLikeJwt(value: string): boolean {
    const parts = value.split('.')
    return parts.length === 3 && SEGMENT.test(parts[0]!) && SEGMENT.test(parts[1]!) && (parts[2] === '' || SEGMENT.test(parts[2]!))
  }

  verify(token: string, now = Date.now()): Verified {
    const cached = this.#cache.get(token)
    if (cached !== undefined) {
      if (cached.exp * 1000 > now) return { ok: true, claims: cached }
      this.#cache.delete(token)
      return { ok: false, reason: 'expired' }
    }
    const checked = this.#check(token, now)
    if (checked.ok) this.#remember(token, checked.claims)
    return checked
  }

  /** The claims of a token whose signature is ours, expired or not (for revocation, RFC 7009). */
  signedClaims(token: string): TokenClaims | undefined {
    const checked = this.#check(token, 0)
    return checked.ok ? checked.claims : undefined
  }

  #remember(token: string, claims: TokenClaims): void {
    if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear()
    this.#cache.set(token, claims)
  }

  #check(token: string, now: number): Verified {
    if (token.length > MAX_TOKEN_CHARS || !TokenService.looksLikeJwt(token)) return { ok: false, reason: 'not a JWT' }
    const [head, body, signature] = token.split('.') as [string, string, string]
    if (signature === '') return { ok: false, reason: 'unsigned' }
    let header: Record<string, unknown>
    let payload: Record<string, unknown>
    try {
      header = decodeProtectedHeader(token) as Record<string, unknown>
      payload = decodeJwt(token) as Record<string, unknown>
    } catch {
      return { ok: false, reason: 'malformed' }
    }
    // Only the algorithm we sign with: `none`, RS256-with-our-secret-as-a-public-key and the like never pass.
    if (header['alg'] !== 'HS256' || (header['typ'] !== undefined && header['typ'] !== 'JWT') || header['crit'] !== undefined) return { ok: false, reason: 'algorithm' }
    const key = this.#keys.find((k) => k.kid === header['kid'])
    if (!key) return { ok: false, reason: 'unknown key' }
    const expected = createHmac('sha256', key.key).update(`${head}.${body}`).digest()
    const given = Buffer.from(signature, 'base64url')
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'signature' }
    const aud = payload['aud']
    if (aud !== AUDIENCE && !(Array.isArray(aud) && aud.includes(AUDIENCE))) return { ok: false, reason: 'audience' }
    if (payload['iss'] !== this.#issuer()) return { ok: false, reason: 'issuer' }
    const { sub, email, name, groups, jti, iat, exp } = payload
    if (typeof exp !== 'number' || typeof iat !== 'number' || typeof sub !== 'string' || typeof email !== 'string' || email === '' || typeof jti !== 'string' || !isStringArray(groups)) {
      return { ok: false, reason: 'claims' }
    }
    if (exp * 1000 <= now) return { ok: false, reason: 'expired' }
    return { ok: true, claims: { sub, email, name: typeof name === 'string' ? name : email, groups, jti, iat, exp } }
  }
}
