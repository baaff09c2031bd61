/**
 * Revoked tokens and users (CONTRACT §12: `/oauth/revoke`, `cc-relay users revoke`), held in memory so
 * checking a request costs two map lookups, and kept in the state store so they survive a restart and
 * reach every relay sharing it. A revocation writes `rj:{jti}` (until that token would have expired) or
 * `ru:{email}` (the moment the user was revoked: every token issued up to then is dead) and bumps `rv`;
 * each relay reads `rv` once a second and reloads the lists when it changed.
 */
import type { KvStore } from './kv.js'
import type { TokenClaims } from './tokens.js'

const POLL_MS = 1000

export class Revocations {
  readonly #store: KvStore
  /** jti → expiry (ms): kept only while the token could still be presented. */
  #tokens = new Map<string, number>()
  /** email → revoked at (ms). */
  #users = new Map<string, number>()
  #version: string | undefined
  #timer: NodeJS.Timeout | undefined
  /** How long a user revocation must be remembered: the longest a token issued before it lives. */
  readonly #userTtlS: number

  constructor(store: KvStore, tokenTtlS: number) {
    this.#store = store
    this.#userTtlS = tokenTtlS + 3600
  }

  /**
   * Loads the lists and starts following other relays' revocations. A store that is away at start (Redis
   * down) leaves the lists empty until the first poll that reaches it: the relay starts anyway.
   */
  async start(): Promise<boolean> {
    this.#timer = setInterval(() => void this.#poll(), POLL_MS).unref()
    try {
      await this.#reload()
      return true
    } catch {
      this.#version = '(not loaded)'
      return false
    }
  }

  stop(): void {
    clearInterval(this.#timer)
  }

  isRevoked(claims: TokenClaims): boolean {
    if (this.#tokens.has(claims.jti)) return true
    const at = this.#users.get(claims.email)
    // A token issued in the same second as the revocation is refused too (iat has second precision).
    return at !== undefined && claims.iat * 1000 <= at
  }

  /** When `email` was last revoked (ms), if it was. */
  userRevokedAt(email: string): number | undefined {
    return this.#users.get(email)
  }

  async revokeToken(claims: TokenClaims): Promise<void> {
    const ttlS = Math.max(1, claims.exp - Math.floor(Date.now() / 1000))
    this.#tokens.set(claims.jti, claims.exp * 1000)
    await this.#store.set(`rj:${claims.jti}`, String(claims.exp * 1000), ttlS)
    await this.#bump()
  }

  async revokeUser(email: string): Promise<void> {
    const at = Date.now()
    this.#users.set(email, at)
    await this.#store.set(`ru:${email}`, String(at), this.#userTtlS)
    await this.#bump()
  }

  async #bump(): Promise<void> {
    const version = `${Date.now()}-${Math.random().toString(36).slice(2)}`
    await this.#store.set('rv', version, 86_400 * 400)
    this.#version = version
  }

  async #poll(): Promise<void> {
    try {
      const version = await this.#store.get('rv')
      if (version !== this.#version) await this.#reload()
    } catch {
      // The store is away: the lists stay as they are and the next poll tries again.
    }
  }

  async #reload(): Promise<void> {
    const version = await this.#store.get('rv')
    const [tokens, users] = await Promise.all([this.#store.entries('rj:'), this.#store.entries('ru:')])
    // Revocations are never undone, so the lists are merged, not replaced: one made here while this
    // read was in flight stays. Entries leave only when nothing they refuse can still be presented.
    const now = Date.now()
    const nextTokens = new Map([...this.#tokens].filter(([, exp]) => exp > now))
    for (const [k, v] of tokens) nextTokens.set(k.slice(3), Number(v))
    const nextUsers = new Map([...this.#users].filter(([, at]) => at + this.#userTtlS * 1000 > now))
    for (const [k, v] of users) nextUsers.set(k.slice(3), Math.max(Number(v), nextUsers.get(k.slice(3)) ?? 0))
    this.#tokens = nextTokens
    this.#users = nextUsers
    this.#version = version
  }
}
