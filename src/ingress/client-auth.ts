/**
 * Client → relay authentication (CONTRACT §3). The relay key may come in `x-cc-relay-key` (beside the
 * client's own Anthropic login), or in `x-api-key` / `Authorization: Bearer`, in which case that header is
 * the relay key and is consumed. Keys are compared as SHA-256 digests with timingSafeEqual, so neither
 * the comparison time nor the key length tells an attacker anything.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { AuthConfig } from '../config/types.js'
import { RELAY_KEY_HEADER } from '../shared/headers.js'
import type { SignIn } from '../signin/service.js'
import { REFUSAL_HEADERS } from '../signin/service.js'

export interface AuthVerdict {
  readonly ok: boolean
  /** Credential headers that carried the relay key: never forwarded. */
  readonly consumed: ReadonlySet<string>
  /** The named client (from `server.auth.clients`), a signed-in user's email, or '' for the shared key / no auth. */
  readonly client: string
  /** Why a sign-in token was refused (expired, revoked, forged), with the headers to answer it with. */
  readonly refusal?: { readonly message: string; readonly headers: readonly string[] }
}

const digest = (value: string): Buffer => createHash('sha256').update(value).digest()
const NOTHING: ReadonlySet<string> = new Set()

export class ClientAuth {
  readonly #keys: readonly { readonly digest: Buffer; readonly client: string }[]
  readonly #signin: SignIn | undefined

  /** With `signin` (CONTRACT §12), the relay's own bearer token names a signed-in user: a client named by their email. */
  constructor(auth: AuthConfig, signin?: SignIn) {
    const keys = auth.api_key ? [{ digest: digest(auth.api_key), client: '' }] : []
    for (const c of auth.clients) keys.push({ digest: digest(c.key), client: c.name })
    this.#keys = keys
    this.#signin = signin
  }

  get required(): boolean {
    return this.#keys.length > 0 || this.#signin !== undefined
  }

  check(headers: Readonly<Record<string, string>>): AuthVerdict {
    if (!this.required) return { ok: true, consumed: NOTHING, client: '' }
    // Sign-in (issue 24): the relay's JWT is consumed whatever else the request carries; it never leaves.
    const who = this.#signin?.identify(headers)
    if (who !== undefined && who.kind !== 'none') {
      const keyed = this.#keys.length > 0 ? this.#checkKeys(headers) : undefined
      const consumed = new Set([...(keyed?.consumed ?? []), 'authorization'])
      if (keyed?.ok) return { ...keyed, consumed }
      if (who.kind === 'user') return { ok: true, consumed, client: who.user.email }
      return { ok: false, consumed, client: '', refusal: { message: who.message, headers: REFUSAL_HEADERS } }
    }
    return this.#checkKeys(headers)
  }

  #checkKeys(headers: Readonly<Record<string, string>>): AuthVerdict {
    const consumed = new Set<string>()
    let client: string | undefined
    const bearer = headers.authorization?.match(/^Bearer\s+(.+)$/i)?.[1]
    const offered: [string, string | undefined][] = [
      [RELAY_KEY_HEADER, headers[RELAY_KEY_HEADER]],
      ['x-api-key', headers['x-api-key']],
      ['authorization', bearer],
    ]
    for (const [header, value] of offered) {
      if (!value) continue
      const match = this.#match(value)
      if (match === undefined) continue
      consumed.add(header)
      client ??= match
    }
    return { ok: client !== undefined, consumed, client: client ?? '' }
  }

  #match(value: string): string | undefined {
    const d = digest(value)
    let found: string | undefined
    // Compare against every key so the time does not depend on which one matched.
    for (const k of this.#keys) if (timingSafeEqual(d, k.digest) && found === undefined) found = k.client
    return found
  }
}
