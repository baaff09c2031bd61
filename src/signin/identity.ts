/**
 * From what the IdP vouches for to who the user is at the relay (CONTRACT §12): the email (verified,
 * in `allowed_domains`), the name, and the relay groups — each IdP group in `groups_claim` through
 * `group_map`, or to the relay group of the same name, else `default_group`; a user left with none
 * is refused. Relay groups come out in the config's order (the order their managed settings merge in).
 */
import type { SsoConfig } from '../config/types.js'
import type { SignedInUser } from './state.js'

export type Mapped = { readonly ok: true; readonly user: SignedInUser } | { readonly ok: false; readonly reason: string }

type Claims = Readonly<Record<string, unknown>>

const idpGroups = (value: unknown): string[] =>
  typeof value === 'string' ? [value] : Array.isArray(value) ? value.filter((g): g is string => typeof g === 'string' && g !== '') : []

export function mapIdentity(claims: Claims, sso: SsoConfig, relayGroups: readonly string[]): Mapped {
  const email = typeof claims['email'] === 'string' ? claims['email'].trim().toLowerCase() : ''
  const at = email.lastIndexOf('@')
  if (at <= 0 || at === email.length - 1) return { ok: false, reason: 'your identity provider sent no email address for you; the relay names users by email' }
  const verified = claims['email_verified']
  if (verified !== undefined && verified !== true && verified !== 'true') return { ok: false, reason: `your identity provider says ${email} is not verified` }
  const domain = email.slice(at + 1)
  if (sso.allowed_domains.length > 0 && !sso.allowed_domains.includes(domain)) return { ok: false, reason: `accounts in ${domain} may not sign in to this relay` }
  const sub = typeof claims['sub'] === 'string' && claims['sub'] !== '' ? claims['sub'] : email

  const wanted = new Set<string>()
  for (const group of idpGroups(claims[sso.groups_claim])) {
    const mapped = sso.group_map[group] ?? (relayGroups.includes(group) ? group : undefined)
    if (mapped !== undefined) wanted.add(mapped)
  }
  if (wanted.size === 0 && sso.default_group !== '') wanted.add(sso.default_group)
  if (wanted.size === 0) return { ok: false, reason: `${email} is in no group that may use this relay; ask your administrator for access` }
  const groups = relayGroups.filter((g) => wanted.has(g))
  // A mapped name the config does not list (a group removed by a reload) still counts, after the rest.
  for (const g of wanted) if (!groups.includes(g)) groups.push(g)

  const name = typeof claims['name'] === 'string' && claims['name'].trim() !== '' ? claims['name'].trim() : email
  return { ok: true, user: { sub, email, name, groups } }
}
