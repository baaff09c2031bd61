/**
 * CONTRACT §12's rules for `server.auth.sso` and `server.public_url` that span several keys. Like the
 * other semantic checks they run on the raw data (the schema may have found problems), so every read
 * is guarded.
 */
import { isIP } from 'node:net'
import type { ProblemList } from './problems.js'

type Data = Readonly<Record<string, unknown>>

const record = (value: unknown): Data | undefined =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Data) : undefined
const text = (value: unknown): string => (typeof value === 'string' ? value : '')

/** 127.0.0.0/8, ::1 and `localhost`: the only hosts Claude Code signs in to over plain HTTP. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase()
  if (h === 'localhost' || h === '::1') return true
  return isIP(h) === 4 && h.startsWith('127.')
}

/** The host part of `host:port` / `[v6]:port`. */
const listenHost = (listen: string): string => /^(?:\[([^\]]*)\]|([^:]*)):\d+$/.exec(listen)?.slice(1).find((p) => p !== undefined) ?? listen

/** `undefined` when `value` is an origin Claude Code can use as a gateway base URL; else why not. */
function originProblem(value: string): string | undefined {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return 'must be an absolute URL such as https://relay.corp.example'
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must start with https:// (or http:// for a loopback address)'
  if (url.username || url.password) return 'must not carry a user name or password'
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) return 'must be an origin only (no path, query or fragment): the sign-in paths live at its root'
  return undefined
}

export function checkSso(server: Data | undefined, problems: ProblemList): void {
  const publicUrl = text(server?.['public_url'])
  const publicProblem = publicUrl === '' ? undefined : originProblem(publicUrl)
  if (publicProblem) problems.add(['server', 'public_url'], publicProblem)

  const auth = record(server?.['auth'])
  const sso = record(auth?.['sso'])
  const issuer = text(sso?.['issuer'])
  if (issuer === '') return
  const base = ['server', 'auth', 'sso'] as const

  let issuerUrl: URL | undefined
  try {
    issuerUrl = new URL(issuer)
  } catch {
    problems.add([...base, 'issuer'], 'must be the IdP issuer URL (https://…); discovery reads {issuer}/.well-known/openid-configuration')
  }
  if (issuerUrl && issuerUrl.protocol !== 'https:' && !(issuerUrl.protocol === 'http:' && isLoopbackHost(issuerUrl.hostname))) {
    problems.add([...base, 'issuer'], 'must be https:// (http:// only for a loopback address, in tests)')
  }
  if (text(sso?.['client_id']) === '') problems.add([...base, 'client_id'], 'is required with sso (the client id the IdP gave the relay)')

  const secret = sso?.['signing_secret']
  const secrets = Array.isArray(secret) ? secret : [secret ?? '']
  if (secrets.length === 0 || secrets.every((s) => s === '')) problems.add([...base, 'signing_secret'], 'is required with sso: a random string of at least 32 characters (a list rotates: the first signs, all verify)')
  else secrets.forEach((s, i) => {
    if (typeof s === 'string' && s.length < 32) problems.add(Array.isArray(secret) ? [...base, 'signing_secret', i] : [...base, 'signing_secret'], 'must be at least 32 characters')
  })

  const scopes = sso?.['scopes']
  if (Array.isArray(scopes) && !scopes.includes('openid')) problems.add([...base, 'scopes'], "must include openid (without it the IdP sends no id_token)")

  // Claude Code signs in over HTTPS only, plain HTTP to loopback alone (CONTRACT §12).
  const listen = text(server?.['listen']) || '127.0.0.1:8787'
  if (!isLoopbackHost(listenHost(listen))) {
    if (publicUrl === '') problems.add(['server', 'public_url'], `is required with sso when server.listen (${listen}) is not a loopback address: the https:// URL clients use`)
    else if (!publicProblem && !publicUrl.startsWith('https://')) problems.add(['server', 'public_url'], 'must be https:// with sso on a non-loopback listen address (Claude Code signs in over HTTPS only)')
  }
  if (publicUrl !== '' && !publicProblem && publicUrl.startsWith('http://') && !isLoopbackHost(new URL(publicUrl).hostname)) {
    problems.add(['server', 'public_url'], 'must be https:// with sso (Claude Code accepts http:// for loopback addresses only)')
  }

  const groups = new Set((Array.isArray(auth?.['groups']) ? auth['groups'] : []).map((g) => text(record(g)?.['name'])).filter((n) => n !== ''))
  for (const [idpGroup, relayGroup] of Object.entries(record(sso?.['group_map']) ?? {})) {
    if (typeof relayGroup === 'string' && !groups.has(relayGroup)) problems.add([...base, 'group_map', idpGroup], `no group is named "${relayGroup}" (server.auth.groups)`)
  }
  const fallback = text(sso?.['default_group'])
  if (fallback !== '' && !groups.has(fallback)) problems.add([...base, 'default_group'], `no group is named "${fallback}" (server.auth.groups)`)
}
