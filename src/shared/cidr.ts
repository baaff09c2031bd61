/**
 * IP allow lists (CONTRACT §10 `server.auth.allow_ips`, `server.admin.allow_ips`): CIDRs or bare addresses,
 * IPv4 and IPv6, matched against the socket's peer (never a forwarded-for header). Node's own BlockList
 * does the matching; this file only parses the config's strings and normalises what uWS reports, which
 * spells IPv6 as eight full groups and IPv4 clients of a dual-stack socket as IPv4-mapped IPv6
 * (`0000:…:ffff:7f00:0001`), so an IPv4 rule still matches them.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net'

/** A config entry's problem, or undefined when it parses. */
export function cidrProblem(entry: string): string | undefined {
  const [address, prefix, extra] = entry.split('/')
  if (extra !== undefined || address === undefined) return `"${entry}" is not an address or CIDR (10.0.0.0/8, 2001:db8::/32)`
  const family = isIPv4(address) ? 4 : isIPv6(address) ? 6 : 0
  if (family === 0) return `"${address}" is not an IPv4 or IPv6 address`
  if (prefix === undefined) return undefined
  const bits = Number(prefix)
  const max = family === 4 ? 32 : 128
  if (!/^\d{1,3}$/.test(prefix) || bits > max) return `"/${prefix}" is not a prefix length of 0–${max}`
  return undefined
}

/** An IPv4-mapped IPv6 peer (either spelling) as dotted IPv4; anything else as it came. */
export function plainPeer(peer: string): string {
  const a = peer.toLowerCase()
  const short = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a)?.[1]
  if (short) return short
  const groups = a.split(':')
  if (groups.length === 8 && groups.slice(0, 5).every((g) => /^0+$/.test(g)) && /^0*ffff$/.test(groups[5]!)) {
    const hi = parseInt(groups[6]!, 16)
    const lo = parseInt(groups[7]!, 16)
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`
  }
  return a
}

/** A compiled allow list; `empty` lists allow every peer. */
export class AllowList {
  readonly empty: boolean
  readonly #list = new BlockList()

  /** `entries` must have passed `cidrProblem` (the config loader checks them). */
  constructor(entries: readonly string[]) {
    this.empty = entries.length === 0
    for (const entry of entries) {
      const [address, prefix] = entry.split('/') as [string, string | undefined]
      const type = isIPv4(address) ? 'ipv4' : 'ipv6'
      if (prefix === undefined) this.#list.addAddress(address, type)
      else this.#list.addSubnet(address, Number(prefix), type)
    }
  }

  allows(peer: string): boolean {
    if (this.empty) return true
    const address = plainPeer(peer)
    if (isIPv4(address)) return this.#list.check(address, 'ipv4')
    return isIPv6(address) && this.#list.check(address, 'ipv6')
  }
}
