/**
 * Routing rules (CONTRACT §8), compiled once per loaded config into a list of predicates each, cheapest
 * first, so a rule that cannot hold stops before it asks anything of the body. The first rule whose
 * conditions all hold decides the request's candidates; the supervisor applies it (reduce.ts).
 */
import type { RelayConfig, RoutingRuleConfig } from '../config/types.js'
import type { RuleChoice } from '../shared/protocol.js'
import type { BodyFacts } from './body-facts.js'

/** What a rule can ask about one request. */
export interface RequestFacts {
  /** The client's model without Claude Code's `[1m]` marker. */
  readonly model: string
  /** The relay's input-token estimate, the one the tpm reservations use (body bytes / 4). */
  readonly inputTokens: number
  /** The team client's name, '' for the shared key. */
  readonly client: string
  /** The request's headers as they go upstream (lower-case names; no credentials). */
  readonly headers: Readonly<Record<string, string>>
  readonly body: BodyFacts
}


type Check = (facts: RequestFacts) => boolean

/** An exact value, or a prefix when the pattern ends in `*`. */
export function globMatcher(pattern: string): (value: string) => boolean {
  if (!pattern.endsWith('*')) return (value) => value === pattern
  const prefix = pattern.slice(0, -1)
  return (value) => value.startsWith(prefix)
}

interface CompiledRule {
  readonly choice: RuleChoice
  readonly checks: readonly Check[]
}

function compile(rule: RoutingRuleConfig): CompiledRule {
  const w = rule.when
  const checks: Check[] = []
  // Cheapest first: strings and numbers the ingress already has, then the body's facts.
  if (w.client !== undefined) checks.push((f) => f.client === w.client)
  if (w.model !== undefined) {
    const model = globMatcher(w.model)
    checks.push((f) => model(f.model))
  }
  if (w.min_input_tokens !== undefined) checks.push((f) => f.inputTokens >= w.min_input_tokens!)
  for (const [name, pattern] of Object.entries(w.headers ?? {})) {
    const header = name.toLowerCase()
    const value = globMatcher(pattern)
    checks.push((f) => {
      const v = f.headers[header]
      return v !== undefined && value(v)
    })
  }
  if (w.thinking !== undefined) checks.push((f) => f.body.thinking() === w.thinking)
  if (w.tools !== undefined) {
    const patterns = w.tools.map(globMatcher)
    checks.push((f) => f.body.tools().some((tool) => patterns.some((p) => p(tool))))
  }
  if (w.images !== undefined) checks.push((f) => f.body.images() === w.images)
  return { choice: { name: rule.name, providers: rule.use.providers, model: rule.use.model }, checks }
}

export class RuleSet {
  readonly #rules: readonly CompiledRule[]

  constructor(rules: readonly RoutingRuleConfig[]) {
    this.#rules = rules.map(compile)
  }

  get size(): number {
    return this.#rules.length
  }

  /** The first rule whose conditions all hold, or undefined (the strategy over every provider). */
  match(facts: RequestFacts): RuleChoice | undefined {
    for (const rule of this.#rules) if (rule.checks.every((check) => check(facts))) return rule.choice
    return undefined
  }
}

const compiled = new WeakMap<RelayConfig, RuleSet>()

/** The config's rules, compiled on first use: a reload's new config compiles its own. */
export function rulesOf(config: RelayConfig): RuleSet {
  let set = compiled.get(config)
  if (!set) compiled.set(config, (set = new RuleSet(config.routing.rules)))
  return set
}
