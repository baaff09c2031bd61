/**
 * `cc-relay route FILE.json [--config FILE] [--client NAME] [--header "name: value"]… [--json]`
 * (CONTRACT §2): which routing rule a request body would match, and the providers (in the order the
 * strategy starts from) and upstream models it would get — without sending anything. The same code
 * decides as in the running relay: the ingress's sniff and rule matcher, the supervisor's candidates
 * and order.
 */
import { readFileSync } from 'node:fs'
import { ConfigError, loadConfig } from './config/load.js'
import { notAllowed } from './admission/admission.js'
import { TeamBook } from './admission/team-book.js'
import { rulesOf } from './ingress/rules.js'
import { sniffBody } from './ingress/sniff.js'
import { pluginCatalog } from './plugin-types.js'
import { providerOrder } from './supervisor/order.js'
import { candidatesFor } from './supervisor/reduce.js'
import { buildState } from './supervisor/state.js'
import { stripContextMarker } from './supervisor/model-map.js'

export interface RouteOptions {
  readonly file: string
  readonly config: string | undefined
  readonly client: string | undefined
  readonly headers: readonly string[]
  readonly json: boolean
}

interface Explanation {
  readonly model: string
  /** The team policy's verdict for `--client` (CONTRACT §10): refused requests go nowhere. */
  readonly policy: { readonly allowed: boolean; readonly group: string | null; readonly message: string | null }
  readonly input_tokens_estimate: number
  readonly rule: string | null
  readonly strategy: string
  readonly candidates: readonly { readonly provider: string; readonly upstream_model: string }[]
}

const fail = (message: string): number => {
  process.stderr.write(`cc-relay route: ${message}\n`)
  return 1
}

async function readBody(file: string): Promise<Buffer> {
  if (file !== '-') return readFileSync(file)
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

function headerMap(lines: readonly string[]): Record<string, string> | string {
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    if (colon <= 0) return `--header ${JSON.stringify(line)}: expected "name: value"`
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  return headers
}

export async function routeCommand(opts: RouteOptions): Promise<number> {
  const catalog = pluginCatalog()
  let config
  try {
    config = (await loadConfig({ file: opts.config, discover: catalog.discover })).config
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    return fail(`${err.source}: invalid\n${err.message}`)
  }
  let body: Buffer
  try {
    body = await readBody(opts.file)
  } catch (err) {
    return fail(`cannot read ${opts.file}: ${(err as Error).message}`)
  }
  const sniffed = sniffBody(body)
  if (!sniffed.ok) return fail(sniffed.error.message)
  const client = opts.client ?? ''
  if (client !== '' && !config.server.auth.clients.some((c) => c.name === client)) return fail(`no client is named ${JSON.stringify(client)} (server.auth.clients)`)
  const headers = headerMap(opts.headers)
  if (typeof headers === 'string') return fail(headers)

  const model = stripContextMarker(sniffed.model)
  // The admission's own policy, compiled as the relay compiles it.
  const book = new TeamBook(config)
  const profile = client === '' ? book.shared : book.client(client)!
  const decision = profile.policy.decide(model)
  const policy = decision.ok ? { allowed: true, group: decision.group ?? null, message: null } : { allowed: false, group: null, message: notAllowed(sniffed.model, profile) }
  // The ingress's estimate (attempts.ts): body bytes / 4.
  const inputTokens = Math.ceil(body.byteLength / 4)
  const rule = rulesOf(config).match({ model, inputTokens, client, headers, body: sniffed.facts })
  const state = buildState(config, catalog.byType(), () => 0.5)
  const ask = { type: 'lease.ask' as const, route: 'messages' as const, model: sniffed.model, hasClientCredential: false, tried: new Set<string>(), estimate: { input: inputTokens, output: sniffed.maxTokens ?? 4096 }, rule }
  const candidates = candidatesFor(state, ask, model, undefined)
  const upstream = new Map(candidates.map((c) => [c.p, c.upstreamModel]))
  const ordered = providerOrder(state, candidates.map((c) => c.p), model, false, rule !== undefined)
  const explanation: Explanation = {
    model: sniffed.model,
    policy,
    input_tokens_estimate: inputTokens,
    rule: rule?.name ?? null,
    strategy: config.routing.strategy,
    candidates: ordered.map((p) => ({ provider: p.config.name, upstream_model: upstream.get(p)! })),
  }
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(explanation, null, 2)}\n`)
    return 0
  }
  if (!policy.allowed) {
    process.stdout.write(`model       ${explanation.model}\npolicy      refused: ${policy.message} (the relay answers 400; nothing is sent)\n`)
    return 0
  }
  const lines = [
    `model       ${explanation.model} (about ${inputTokens} input tokens)`,
    ...(client !== '' ? [`policy      allowed${policy.group ? ` by group ${policy.group}` : ''}`] : []),
    `rule        ${rule ? rule.name : '(none: the strategy over every provider)'}`,
    `strategy    ${config.routing.strategy}${config.routing.strategy === 'failover' ? '' : ' (it orders or rotates these per request)'}`,
  ]
  if (explanation.candidates.length === 0) lines.push('providers   none can serve this request (the relay answers 404)')
  explanation.candidates.forEach((c, i) => lines.push(`${i === 0 ? 'providers  ' : '           '} ${i + 1}. ${c.provider} → ${c.upstream_model}`))
  process.stdout.write(`${lines.join('\n')}\n`)
  return 0
}
