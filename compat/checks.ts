/**
 * What one run of Claude Code through the relay must show (issue 18), as a list of problems (empty:
 * pass), and what the CLI sent, for the matrix's record of headers, betas and body fields per release.
 */
import type { IncomingHttpHeaders } from 'node:http'
import type { Recorded } from '../test/helpers/mock-upstream.js'
import type { Sent } from './recorder.js'
import { TOKEN } from './upstreams.js'
import type { CompatUpstream } from './upstreams.js'

/** Headers the relay does not pass on by design: per-hop ones, the client's credential (a pooled key goes instead), the body's framing. */
const NOT_FORWARDED = new Set(['host', 'connection', 'keep-alive', 'content-length', 'transfer-encoding', 'te', 'upgrade', 'proxy-connection', 'proxy-authorization', 'accept-encoding', 'x-api-key', 'authorization'])

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
 * the same values (the relay's own edits aside: none apply in this setup — no model mapping, no
 * subscription credential).
 */
function passthroughProblems(sent: readonly Sent[], arrived: readonly Recorded[]): string[] {
  const problems = new Set<string>()
  const claimed = new Set<Recorded>()
  for (const s of sent.filter((x) => x.path.startsWith('/v1/messages'))) {
    const r = counterpart(s, arrived, claimed)
    if (!r) {
      if (s.status === 200) problems.add(`a ${s.path} request the relay answered 200 never reached the upstream unchanged`)
      continue
    }
    for (const [name, value] of Object.entries(s.headers)) {
      if (NOT_FORWARDED.has(name)) continue
      const got = r.headers[name]
      if (got === undefined) problems.add(`header ${name} was dropped`)
      else if (name !== 'anthropic-beta' && String(got) !== String(value)) problems.add(`header ${name} was changed (${JSON.stringify(value)} → ${JSON.stringify(got)})`)
    }
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
  if (type === 'anthropic') problems.push(...passthroughProblems(sent, upstream.requests))
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
