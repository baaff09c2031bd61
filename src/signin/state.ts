/**
 * The sign-in records (CONTRACT §12) over a KvStore: device codes and their approvals, the browser
 * flows between the device page and the IdP's callback, refresh sessions (holding the IdP's refresh
 * token), and the users list. Secret-bearing records are sealed (seal.ts); every key that would be a
 * bearer secret is stored as its SHA-256, so the store never holds a usable device code, flow state
 * or refresh token.
 *
 *   dc:{sha256(device_code)}  sealed DeviceRecord                 600 s   (taken once: single use)
 *   uc:{USERCODE}             the dc: key                          600 s
 *   fl:{sha256(state)}        sealed FlowRecord                    600 s   (taken once)
 *   rt:{sha256(refresh)}      sealed Session                       30 days (taken once: rotated)
 *   rg:{sha256(refresh)}      sealed token answer of its rotation   60 s    (a late duplicate gets the same)
 *   us:{email}                UserRecord (JSON)                    400 days
 */
import { randomInt } from 'node:crypto'
import type { KvStore } from './kv.js'
import { randomToken, sha256 } from './seal.js'
import type { Sealer } from './seal.js'

/** A signed-in user as the relay sees them: relay groups, not the IdP's. */
export interface SignedInUser {
  readonly sub: string
  readonly email: string
  readonly name: string
  readonly groups: readonly string[]
}

export interface DeviceRecord {
  readonly status: 'pending' | 'approved' | 'denied'
  readonly userCode: string
  readonly createdAt: number
  readonly clientIp: string
  readonly surface: string
  readonly user?: SignedInUser
  readonly idpRefresh?: string
}

export interface FlowRecord {
  readonly deviceKey: string
  readonly verifier: string
  readonly nonce: string
  /** SHA-256 of the browser's cookie: the callback must come back to the browser that started. */
  readonly browser: string
}

export interface Session {
  readonly user: SignedInUser
  readonly idpRefresh: string
  readonly createdAt: number
}

export interface UserRecord {
  readonly email: string
  readonly name: string
  readonly groups: readonly string[]
  readonly firstSeen: number
  readonly lastSeen: number
}

export const DEVICE_TTL_S = 600
const SESSION_TTL_S = 30 * 86_400
const USER_TTL_S = 400 * 86_400
/** RFC 8628 §6.1: 20 consonants, no vowels (no words), no look-alikes. */
const USER_CODE_CHARS = 'BCDFGHJKLMNPQRSTVWXZ'

/** `wdjb mjht` → `WDJBMJHT`: what a user types is compared without case, spaces or dashes. */
export const normalizeUserCode = (code: string): string => code.toUpperCase().replace(/[^A-Z0-9]/g, '')

function newUserCode(): string {
  let code = ''
  for (let i = 0; i < 8; i++) code += (i === 4 ? '-' : '') + USER_CODE_CHARS[randomInt(USER_CODE_CHARS.length)]
  return code
}

export class SigninState {
  readonly store: KvStore
  readonly #seal: Sealer

  constructor(store: KvStore, sealer: Sealer) {
    this.store = store
    this.#seal = sealer
  }

  async createDevice(clientIp: string, surface: string): Promise<{ deviceCode: string; userCode: string }> {
    const deviceCode = randomToken(32)
    const userCode = newUserCode()
    const key = `dc:${sha256(deviceCode)}`
    const record: DeviceRecord = { status: 'pending', userCode, createdAt: Date.now(), clientIp, surface }
    await this.store.set(key, this.#seal.seal(record), DEVICE_TTL_S)
    await this.store.set(`uc:${normalizeUserCode(userCode)}`, key, DEVICE_TTL_S)
    return { deviceCode, userCode }
  }

  /** The pending device record a user code names, with what `settle` needs to change it. */
  async findPending(userCode: string): Promise<{ key: string; raw: string; record: DeviceRecord } | undefined> {
    const normalized = normalizeUserCode(userCode)
    if (normalized.length !== 8) return undefined
    const key = await this.store.get(`uc:${normalized}`)
    if (key === undefined) return undefined
    return this.pendingAt(key)
  }

  async pendingAt(key: string): Promise<{ key: string; raw: string; record: DeviceRecord } | undefined> {
    const raw = await this.store.get(key)
    const record = this.#seal.open<DeviceRecord>(raw)
    return raw !== undefined && record?.status === 'pending' ? { key, raw, record } : undefined
  }

  /** Approves or denies a pending code; false when it changed meanwhile (used, denied, expired). */
  async settle(found: { key: string; raw: string; record: DeviceRecord }, outcome: { user: SignedInUser; idpRefresh: string | undefined } | 'denied'): Promise<boolean> {
    const { record } = found
    const next: DeviceRecord =
      outcome === 'denied' ? { ...record, status: 'denied' } : { ...record, status: 'approved', user: outcome.user, ...(outcome.idpRefresh ? { idpRefresh: outcome.idpRefresh } : {}) }
    const left = Math.max(1, DEVICE_TTL_S - (Date.now() - record.createdAt) / 1000)
    const done = await this.store.swap(found.key, found.raw, this.#seal.seal(next), left)
    if (done) await this.store.delete(`uc:${normalizeUserCode(record.userCode)}`)
    return done
  }

  /** A device record by its code; a settled one is taken (single use), a pending one stays. */
  async poll(deviceCode: string): Promise<DeviceRecord | undefined> {
    const key = `dc:${sha256(deviceCode)}`
    const record = this.#seal.open<DeviceRecord>(await this.store.get(key))
    if (record === undefined || record.status === 'pending') return record
    // Two polls racing for one approval: exactly one takes it.
    return this.#seal.open<DeviceRecord>(await this.store.take(key))
  }

  async startFlow(flow: FlowRecord): Promise<string> {
    const state = randomToken(32)
    await this.store.set(`fl:${sha256(state)}`, this.#seal.seal(flow), DEVICE_TTL_S)
    return state
  }

  async takeFlow(state: string): Promise<FlowRecord | undefined> {
    return this.#seal.open<FlowRecord>(await this.store.take(`fl:${sha256(state)}`))
  }

  async createSession(session: Session): Promise<string> {
    const refreshToken = randomToken(32)
    await this.store.set(`rt:${sha256(refreshToken)}`, this.#seal.seal(session), SESSION_TTL_S)
    return refreshToken
  }

  /** The session a refresh token names, removed: refresh tokens rotate, each works once. */
  async takeSession(refreshToken: string): Promise<Session | undefined> {
    return this.#seal.open<Session>(await this.store.take(`rt:${sha256(refreshToken)}`))
  }

  /** Puts a taken session back (the IdP could not be asked; the client will retry). */
  async restoreSession(refreshToken: string, session: Session): Promise<void> {
    await this.store.set(`rt:${sha256(refreshToken)}`, this.#seal.seal(session), SESSION_TTL_S)
  }

  /**
   * What a refresh token's rotation answered, kept a minute: Claude Code may refresh twice with one
   * token (two code paths, or two sessions sharing a credentials file) and the second must not fail.
   */
  async rememberRotation(refreshToken: string, answer: unknown, ttlS: number): Promise<void> {
    await this.store.set(`rg:${sha256(refreshToken)}`, this.#seal.seal(answer), ttlS)
  }

  async rotationOf(refreshToken: string): Promise<unknown> {
    return this.#seal.open<unknown>(await this.store.get(`rg:${sha256(refreshToken)}`))
  }

  async dropSession(refreshToken: string): Promise<boolean> {
    await this.store.delete(`rg:${sha256(refreshToken)}`)
    return (await this.store.take(`rt:${sha256(refreshToken)}`)) !== undefined
  }

  /** Ends every refresh session of `email` (revocation), and the answers kept for their late duplicates. */
  async dropSessionsOf(email: string): Promise<number> {
    let dropped = 0
    for (const [key, value] of await this.store.entries('rt:')) {
      if (this.#seal.open<Session>(value)?.user.email !== email) continue
      await this.store.delete(key)
      dropped++
    }
    for (const [key, value] of await this.store.entries('rg:')) {
      if (this.#seal.open<{ email?: string }>(value)?.email === email) await this.store.delete(key)
    }
    return dropped
  }

  async touchUser(user: SignedInUser): Promise<void> {
    const key = `us:${user.email}`
    const now = Date.now()
    const before = parseUser(await this.store.get(key))
    const record: UserRecord = { email: user.email, name: user.name, groups: user.groups, firstSeen: before?.firstSeen ?? now, lastSeen: now }
    await this.store.set(key, JSON.stringify(record), USER_TTL_S)
  }

  async users(): Promise<UserRecord[]> {
    return (await this.store.entries('us:')).flatMap(([, v]) => parseUser(v) ?? []).sort((a, b) => a.email.localeCompare(b.email))
  }
}

function parseUser(text: string | undefined): UserRecord | undefined {
  if (text === undefined) return undefined
  try {
    return JSON.parse(text) as UserRecord
  } catch {
    return undefined
  }
}
