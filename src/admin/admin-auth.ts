/**
 * Who may call the admin endpoints (CONTRACT §4, §1 `server.admin`, §10): a peer outside
 * `admin.allow_ips` (when set) is refused first. Then, with `admin.api_key` set, whoever presents it —
 * as the password of HTTP Basic auth (so a browser can open the status page; the user name is ignored)
 * or as `Authorization: Bearer`. Without a key, the peers `allow_ips` lists, or loopback peers only
 * when it lists none.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { isIPv4 } from 'node:net'
import { relayError } from '../shared/errors.js'
import type { RelayErrorData } from '../shared/errors.js'
import { AllowList } from '../shared/cidr.js'

const digest = (value: string): Buffer => createHash('sha256').update(value).digest()

/**
 * uWS spells peers as dotted IPv4 or as eight full IPv6 groups (`0000:…:0001`, an IPv4-mapped
 * `…:ffff:7f00:0001`); Node's own spellings (`::1`, `::ffff:127.0.0.1`) are accepted too.
 */
export function isLoopback(address: string): boolean {
  const a = address.toLowerCase()
  if (isIPv4(a)) return a.startsWith('127.')
  if (a === '::1') return true
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a)?.[1]
  if (mapped) return mapped.startsWith('127.')
  const groups = a.split(':')
  if (groups.length !== 8) return false
  const n = groups.map((g) => parseInt(g || '0', 16))
  if (n.slice(0, 7).every((g) => g === 0) && n[7] === 1) return true
  // IPv4-mapped addresses in 127.0.0.0/8 (::ffff:7f00:0/104) are loopback too.
  return n.slice(0, 5).every((g) => g === 0) && n[5] === 0xffff && n[6]! >> 8 === 0x7f
}

/** The secret offered in `Authorization`: a Bearer token, or the password of Basic auth. */
function offeredSecret(authorization: string): string | undefined {
  const bearer = /^Bearer\s+(.+)$/i.exec(authorization)?.[1]
  if (bearer) return bearer.trim()
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(authorization)?.[1]
  if (!basic) return undefined
  const decoded = Buffer.from(basic, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  return colon < 0 ? undefined : decoded.slice(colon + 1)
}

export class AdminAuth {
  readonly #digest: Buffer | undefined
  readonly #ips: AllowList

  constructor(apiKey: string, allowIps: readonly string[] = []) {
    this.#digest = apiKey ? digest(apiKey) : undefined
    this.#ips = new AllowList(allowIps)
  }

  /** undefined = allowed; otherwise the error to answer with. */
  check(authorization: string, peer: string): RelayErrorData | undefined {
    if (!this.#ips.allows(peer)) return relayError('ip_forbidden', `${peer} may not call the admin endpoints (server.admin.allow_ips)`)
    if (this.#digest === undefined) {
      if (!this.#ips.empty || isLoopback(peer)) return undefined
      return relayError('admin_forbidden', 'admin endpoints answer loopback clients only; set server.admin.api_key (or server.admin.allow_ips) to open them to others')
    }
    const secret = offeredSecret(authorization)
    if (secret !== undefined && timingSafeEqual(digest(secret), this.#digest)) return undefined
    return relayError('admin_unauthenticated', 'this admin endpoint needs server.admin.api_key (as the HTTP Basic password or Authorization: Bearer)')
  }
}
