/**
 * What one run of Claude Code through the relay must show (issue 18), as a list of problems (empty:
 * pass), and what the CLI sent, for the matrix's record of headers, betas and body fields per release.
 */
import type { IncomingHttpHeaders } from 'node:http'
import type { Recorded } from '../test/helpers/mock-upstream.js'
import type { Sent } from './recorder.js'
import { ANTHROPIC_POOLED_KEY, TOKEN } from './upstreams.js'
import type { CompatUpstream } from './upstreams.js'

/**
 * Connection-specific headers (RFC 9110 §7.6.1): each hop sets its own, so a relay may drop them. Named
 * here from the RFC, not from the relay's code; whatever else the CLI's own `Connection` header lists is
 * connection-specific too (`hopByHop` below).
 */
const RFC_HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']

/** The hop-by-hop names for one request: the RFC's, and every option its `Connection` header names. */
function hopByHop(headers: IncomingHttpHeaders): Set<string> {
  const listed = String(headers.connection ?? '')
    .split(',')
    .map((n) => n.trim().toLowerCase())
    .filter(Boolean)
  return new Set([...RFC_HOP_BY_HOP, ...listed])
}

/**
 * What the upstream must have received for one header the CLI sent, by CONTRACT §3 (credentials) and §4
 * (encoding) for this setup (an anthropic provider with a pooled key, no `allow_subscription`, no relay
 * key), and HTTP framing: a problem, or undefined when the header arrived as the contract says.
 */
function headerProblem(name: string, value: unknown, r: Recorded, upstreamUrl: string, hop: ReadonlySet<string>): string | undefined {
  const got = r.headers[name]
  if (hop.has(name)) return undefined
  switch (name) {
    // §3: the client's own Anthropic credential is stripped; the pooled key goes as x-api-key.
    case 'x-api-key':
      return got === ANTHROPIC_POOLED_KEY ? undefined : `header x-api-key: the upstream got ${JSON.stringify(got)}, not the pooled key (CONTRACT §3)`
    case 'authorization':
      return got === undefined ? undefined : 'header authorization: the client credential reached the upstream (CONTRACT §3)'
    // §4: upstream is asked for identity (the relay reads usage from the stream).
    case 'accept-encoding':
      return got === 'identity' ? undefined : `header accept-encoding: the upstream was asked for ${JSON.stringify(got)}, not identity (CONTRACT §4)`
    // Framing: the upstream's own authority, and the length of the body it got.
    case 'host':
      return got === new URL(upstreamUrl).host ? undefined : `header host: ${JSON.stringify(got)} is not the upstream's ${new URL(upstreamUrl).host}`
    case 'content-length':
      return got === undefined || Number(got) === r.body.length ? undefined : `header content-length: ${JSON.stringify(got)} does not match the ${r.body.length}-byte body`
  }
  if (got === undefined) return `header ${name} was dropped`
  if (name !== 'anthropic-beta' && String(got) !== String(value)) return `header ${name} was changed (${JSON.stringify(value)} → ${JSON.stringify(got)})`
  return undefined
}

export interface Observed {
  readonly headers: ReadonlySet<string>
  readonly betas: ReadonlySet<string>
  readonly fields: ReadonlySet<string>
  readonly countTokens: boolean
}

const betasOf = (headers: IncomingHttpHeaders): string[] =>
  String(headers['anthropic-beta'] ?? '')
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean)

const fieldsOf = (body: Buffer): string[] => {
  try {
    const parsed = JSON.parse(body.toString()) as unknown
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? Object.keys(parsed) : []
  } catch {
    return []
  }
}

const isMessages = (path: string): boolean => /^\/v1\/messages(\?|$)/.test(path)

/** The upstream request that carried `sent`: the same conversation (messages and system), unclaimed. */
function counterpart(sent: Sent, arrived: readonly Recorded[], claimed: Set<Recorded>): Recorded | undefined {
  const key = (body: Buffer): string => {
    try {
      const b = JSON.parse(body.toString()) as { messages?: unknown; system?: unknown; max_tokens?: unknown }
      return JSON.stringify([b.messages, b.system, b.max_tokens])
    } catch {
      return body.toString()
    }
  }
  const wanted = key(sent.body)
  const found = arrived.find((r) => !claimed.has(r) && r.url.split('?')[0] === sent.path.split('?')[0] && key(r.body) === wanted)
  if (found) claimed.add(found)
  return found
}

/**
 * An `anthropic` upstream must receive every header, beta and top-level body field the CLI sent, with
 * the same values, except what CONTRACT §3/§4 and HTTP say changes on the way (`headerProblem`); the
 * expectation comes from what the CLI sent, never from the relay's own list of headers it drops (a
 * mistake in that list would then pass). No model mapping or subscription credential applies here.
 */
function passthroughProblems(sent: readonly Sent[], arrived: readonly Recorded[], upstreamUrl: string): string[] {
  const problems = new Set<string>()
  const claimed = new Set<Recorded>()
  for (const s of sent.filter((x) => x.path.startsWith('/v1/messages'))) {
    const r = counterpart(s, arrived, claimed)
    if (!r) {
      if (s.status === 200) problems.add(`a ${s.path} request the relay answered 200 never reached the upstream unchanged`)
      continue
    }
    const hop = hopByHop(s.headers)
    for (const [name, value] of Object.entries(s.headers)) {
      const problem = headerProblem(name, value, r, upstreamUrl, hop)
      if (problem) problems.add(problem)
    }
    // §3 again: whatever the CLI sent, the upstream is authenticated with the pooled key.
    if (s.headers['x-api-key'] === undefined && r.headers['x-api-key'] !== ANTHROPIC_POOLED_KEY) problems.add('the upstream did not get the pooled key as x-api-key (CONTRACT §3)')
    const betasIn = betasOf(s.headers)
    const betasOut = new Set(betasOf(r.headers))
    for (const beta of betasIn) if (!betasOut.has(beta)) problems.add(`beta ${beta} was dropped`)
    const fieldsOut = new Set(fieldsOf(r.body))
    for (const field of fieldsOf(s.body)) if (!fieldsOut.has(field)) problems.add(`body field ${field} was dropped`)
  }
  return [...problems]
}

export function checkRun(run: { readonly exitCode: number | null; readonly stdout: string; readonly stderr: string; readonly timedOut: boolean }, sent: readonly Sent[], upstream: CompatUpstream, type: string): string[] {
  const problems: string[] = []
  if (run.timedOut) problems.push('the CLI did not finish in time')
  else if (run.exitCode !== 0) problems.push(`the CLI exited ${run.exitCode}: ${(run.stderr || run.stdout).trim().split('\n').slice(-2).join(' ').slice(0, 300)}`)
  if (!run.stdout.includes(`COMPAT-DONE ${TOKEN}`)) problems.push(`the CLI did not print the answer the upstream gave after the tool ran (got ${JSON.stringify(run.stdout.trim().slice(0, 120))})`)
  if (!upstream.toolResultSeen) problems.push('the tool round trip did not complete: no tool result reached the upstream')
  for (const why of new Set(upstream.refused)) problems.push(`the ${type} upstream would refuse a request: ${why}`)
  for (const s of sent) if (s.path.startsWith('/v1/') && s.status >= 400) problems.push(`the relay answered ${s.status} to ${s.method} ${s.path.split('?')[0]}`)
  if (type === 'anthropic') problems.push(...passthroughProblems(sent, upstream.requests, upstream.url))
  return [...new Set(problems)]
}

/** Every header name, beta and top-level body field the CLI sent to the Messages API. */
export function observe(sent: readonly Sent[]): Observed {
  const messages = sent.filter((s) => isMessages(s.path))
  return {
    headers: new Set(messages.flatMap((s) => Object.keys(s.headers))),
    betas: new Set(messages.flatMap((s) => betasOf(s.headers))),
    fields: new Set(messages.flatMap((s) => fieldsOf(s.body))),
    countTokens: sent.some((s) => s.path.startsWith('/v1/messages/count_tokens')),
  }
}
