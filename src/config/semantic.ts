/**
 * Checks that span several keys or read a string's meaning. They run on the raw data even when
 * the schema found problems (so one run reports everything), hence every read is guarded.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { isIPv6 } from 'node:net'
import { cidrProblem } from '../shared/cidr.js'
import { formatPath, type Segments } from './paths.js'
import type { ProblemList } from './problems.js'
import { checkSso } from './sso-checks.js'

type Data = Readonly<Record<string, unknown>>

const record = (value: unknown): Data | undefined =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Data) : undefined
const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined)
const list = (value: unknown): readonly unknown[] => (Array.isArray(value) ? value : [])

const LISTEN = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d+)$/
const HOSTNAME = /^[A-Za-z0-9.-]+$/

function listenProblem(listen: string): string | undefined {
  const match = LISTEN.exec(listen)
  if (match === null) return 'must be host:port, with an IPv6 host in brackets ([::1]:8787)'
  const [, ipv6, host, port] = match
  if (ipv6 !== undefined && !isIPv6(ipv6)) return `"${ipv6}" is not an IPv6 address`
  if (host !== undefined && !HOSTNAME.test(host)) return 'must name a host (0.0.0.0 for every interface)'
  if (Number(port) > 65535) return 'port must be 0–65535'
  return undefined
}

/** Reports the second and later uses of each name at `[...base, index, 'name']`. */
function checkUnique(entries: readonly unknown[], base: Segments, what: string, problems: ProblemList): void {
  const firstIndex = new Map<string, number>()
  entries.forEach((entry, index) => {
    const name = text(record(entry)?.['name'])
    if (name === undefined || name === '') return
    const first = firstIndex.get(name)
    if (first === undefined) firstIndex.set(name, index)
    else problems.add([...base, index, 'name'], `duplicate ${what} name "${name}" (also ${formatPath([...base, first])})`)
  })
}

/** Model mapping keys are exact names or prefixes ending in one `*`. */
function checkWildcards(mapping: Data | undefined, base: Segments, problems: ProblemList): void {
  for (const key of Object.keys(mapping ?? {})) {
    const star = key.indexOf('*')
    if (star !== -1 && star !== key.length - 1) problems.add([...base, key], 'a "*" wildcard may only appear once, at the end')
  }
}

function checkRouting(routing: Data | undefined, providerNames: ReadonlySet<string>, clientNames: ReadonlySet<string>, problems: ProblemList): void {
  const mapping = record(routing?.['model_mapping'])
  if (routing?.['strategy'] === 'model_based' && Object.keys(mapping ?? {}).length === 0) {
    problems.add(['routing', 'model_mapping'], 'must map at least one model prefix to a provider when strategy is model_based')
  }
  for (const [prefix, target] of Object.entries(mapping ?? {})) {
    if (typeof target === 'string' && !providerNames.has(target)) {
      problems.add(['routing', 'model_mapping', prefix], `no provider is named "${target}"`)
    }
  }
  checkWildcards(mapping, ['routing', 'model_mapping'], problems)
  const fallback = text(routing?.['default_provider'])
  if (fallback !== undefined && fallback !== '' && !providerNames.has(fallback)) {
    problems.add(['routing', 'default_provider'], `no provider is named "${fallback}"`)
  }
  checkRules(list(routing?.['rules']), providerNames, clientNames, problems)
}

/** A glob is an exact value or a prefix with one `*`, at the end. */
function checkGlob(value: unknown, path: Segments, problems: ProblemList): void {
  const glob = text(value)
  if (glob === undefined) return
  const star = glob.indexOf('*')
  if (star !== -1 && star !== glob.length - 1) problems.add(path, 'a "*" wildcard may only appear once, at the end')
}

/** CONTRACT §8: names unique, `when` not empty, providers and clients that exist, globs well formed. */
function checkRules(rules: readonly unknown[], providerNames: ReadonlySet<string>, clientNames: ReadonlySet<string>, problems: ProblemList): void {
  const base = ['routing', 'rules'] as const
  checkUnique(rules, [...base], 'rule', problems)
  rules.forEach((entry, index) => {
    const rule = record(entry)
    const when = record(rule?.['when'])
    if (when && Object.keys(when).length === 0) problems.add([...base, index, 'when'], 'must give at least one condition (a rule that always matches is the strategy itself)')
    checkGlob(when?.['model'], [...base, index, 'when', 'model'], problems)
    list(when?.['tools']).forEach((tool, i) => checkGlob(tool, [...base, index, 'when', 'tools', i], problems))
    for (const [name, value] of Object.entries(record(when?.['headers']) ?? {})) checkGlob(value, [...base, index, 'when', 'headers', name], problems)
    const client = text(when?.['client'])
    if (client !== undefined && client !== '' && !clientNames.has(client)) problems.add([...base, index, 'when', 'client'], `no client is named "${client}" (server.auth.clients)`)
    list(record(rule?.['use'])?.['providers']).forEach((name, i) => {
      if (typeof name === 'string' && name !== '' && !providerNames.has(name)) problems.add([...base, index, 'use', 'providers', i], `no provider is named "${name}"`)
    })
  })
}

type TlsField = 'cert_file' | 'key_file'
interface TlsProblem {
  readonly field: TlsField
  readonly message: string
}

function readTlsFile(field: TlsField, file: string): string | TlsProblem {
  try {
    return readFileSync(file, 'utf8')
  } catch (err) {
    return { field, message: `cannot read "${file}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` }
  }
}

/**
 * uWS opens the two files itself and reports any trouble only as "App construction failed", naming
 * neither: read and parse them here (relative to the working directory, as uWS does) so the problem
 * names the file, and `config validate` catches it too.
 */
function tlsFilesProblem(cert: string, key: string): TlsProblem | undefined {
  const certPem = readTlsFile('cert_file', cert)
  if (typeof certPem !== 'string') return certPem
  const keyPem = readTlsFile('key_file', key)
  if (typeof keyPem !== 'string') return keyPem
  let certificate: X509Certificate
  try {
    certificate = new X509Certificate(certPem)
  } catch {
    return { field: 'cert_file', message: `"${cert}" is not a PEM certificate` }
  }
  try {
    if (!certificate.checkPrivateKey(createPrivateKey(keyPem))) return { field: 'key_file', message: `"${key}" is not the key of the certificate in "${cert}"` }
  } catch {
    return { field: 'key_file', message: `"${key}" is not an unencrypted PEM private key` }
  }
  return undefined
}

function checkServer(server: Data | undefined, problems: ProblemList): void {
  const listen = text(server?.['listen'])
  const listenError = listen === undefined ? undefined : listenProblem(listen)
  if (listenError !== undefined) problems.add(['server', 'listen'], listenError)
  const tls = record(server?.['tls'])
  const cert = text(tls?.['cert_file']) ?? ''
  const key = text(tls?.['key_file']) ?? ''
  if ((cert === '') !== (key === '')) {
    const missing = cert === '' ? 'cert_file' : 'key_file'
    problems.add(['server', 'tls', missing], 'cert_file and key_file must be set together')
  } else if (cert !== '') {
    const problem = tlsFilesProblem(cert, key)
    if (problem !== undefined) problems.add(['server', 'tls', problem.field], problem.message)
  }
  const auth = record(server?.['auth'])
  checkUnique(list(auth?.['clients']), ['server', 'auth', 'clients'], 'client', problems)
  checkPolicy(auth, problems)
  checkSso(server, problems)
  checkCidrs(auth?.['allow_ips'], ['server', 'auth', 'allow_ips'], problems)
  checkCidrs(record(server?.['admin'])?.['allow_ips'], ['server', 'admin', 'allow_ips'], problems)
}

function checkCidrs(entries: unknown, path: Segments, problems: ProblemList): void {
  list(entries).forEach((entry, i) => {
    const problem = typeof entry === 'string' ? cidrProblem(entry) : undefined
    if (problem !== undefined) problems.add([...path, i], problem)
  })
}

/** CONTRACT §10: group names unique, a client's group exists, model patterns well formed. */
function checkPolicy(auth: Data | undefined, problems: ProblemList): void {
  const groups = list(auth?.['groups'])
  checkUnique(groups, ['server', 'auth', 'groups'], 'group', problems)
  const groupNames = new Set(groups.flatMap((g) => text(record(g)?.['name']) ?? []))
  const patterns = (entry: Data | undefined, base: Segments): void => {
    for (const field of ['models', 'deny_models']) list(entry?.[field]).forEach((p, i) => checkGlob(p, [...base, field, i], problems))
  }
  groups.forEach((g, i) => patterns(record(g), ['server', 'auth', 'groups', i]))
  list(auth?.['clients']).forEach((c, i) => {
    const client = record(c)
    patterns(client, ['server', 'auth', 'clients', i])
    const group = text(client?.['group'])
    if (group !== undefined && group !== '' && !groupNames.has(group)) problems.add(['server', 'auth', 'clients', i, 'group'], `no group is named "${group}" (server.auth.groups)`)
  })
}

export function checkSemantics(raw: unknown, problems: ProblemList): void {
  const root = record(raw) ?? {}
  checkServer(record(root['server']), problems)

  const providers = root['providers']
  if (providers === undefined || (Array.isArray(providers) && providers.length === 0)) {
    problems.add(['providers'], 'at least one provider is required')
  }
  checkUnique(list(providers), ['providers'], 'provider', problems)
  list(providers).forEach((entry, index) => {
    checkWildcards(record(record(entry)?.['model_mapping']), ['providers', index, 'model_mapping'], problems)
  })
  const names = new Set(list(providers).flatMap((entry) => text(record(entry)?.['name']) ?? []))
  const clients = new Set(list(record(record(record(root['server'])?.['auth']))?.['clients']).flatMap((c) => text(record(c)?.['name']) ?? []))
  checkRouting(record(root['routing']), names, clients, problems)

  const state = record(root['state'])
  if (state?.['store'] === 'redis' && (text(record(state['redis'])?.['url']) ?? '') === '') {
    problems.add(['state', 'redis', 'url'], 'is required when state.store is redis')
  }
  checkTelemetry(record(root['telemetry']), problems)
}

/** CONTRACT §11: the OTLP endpoint, when written, is an http(s) URL (a typo must not silently mean "no tracing"). */
function checkTelemetry(telemetry: Data | undefined, problems: ProblemList): void {
  const endpoint = text(record(telemetry?.['otlp'])?.['endpoint']) ?? ''
  if (endpoint !== '' && !/^https?:\/\/[^/]/.test(endpoint)) problems.add(['telemetry', 'otlp', 'endpoint'], `must be an http:// or https:// URL, got ${JSON.stringify(endpoint)}`)
}
