/**
 * Model policy (CONTRACT §10): which models a caller may ask for. Patterns are exact names or a trailing
 * `*` prefix, matched against the model the client asked for with the `[1m]` marker removed, before any
 * mapping or routing rule (so a rule that would send the model elsewhere cannot widen the policy).
 *
 * A model is allowed when some group of the caller allows it (a group without `models` allows every
 * model) and none of the caller's groups denies it; a client's own `models`/`deny_models` narrow that
 * further; a deny always wins. A caller with no group is limited by its own lists alone.
 */
import type { ClientConfig, GroupConfig } from '../config/types.js'

/** Compiled patterns: a set for exact names, a list for prefixes. */
export class Patterns {
  readonly #exact: ReadonlySet<string>
  readonly #prefixes: readonly string[]
  readonly size: number

  constructor(patterns: readonly string[]) {
    this.#exact = new Set(patterns.filter((p) => !p.endsWith('*')))
    this.#prefixes = patterns.filter((p) => p.endsWith('*')).map((p) => p.slice(0, -1))
    this.size = patterns.length
  }

  matches(model: string): boolean {
    if (this.#exact.has(model)) return true
    for (const prefix of this.#prefixes) if (model.startsWith(prefix)) return true
    return false
  }
}

export type PolicyDecision =
  /** `group`: the caller's first group (config order) that allows the model: its limits and budget apply. */
  | { readonly ok: true; readonly group: string | undefined }
  | { readonly ok: false }

interface CompiledGroup {
  readonly name: string
  readonly allow: Patterns
  readonly deny: Patterns
}

/** Decisions are cached per model: a caller asks for a handful of models, so each costs a map lookup after the first. */
const CACHE_LIMIT = 256

/** One caller's policy: its groups' lists and its own, compiled once per config. */
export class ModelPolicy {
  readonly #groups: readonly CompiledGroup[]
  readonly #ownAllow: Patterns
  readonly #ownDeny: Patterns
  readonly #cache = new Map<string, PolicyDecision>()
  /** Nothing to check: every model is allowed, with no group. */
  readonly open: boolean
  /** Every model is allowed (there may be a group to book to). */
  readonly unrestricted: boolean

  constructor(groups: readonly GroupConfig[], own: Pick<ClientConfig, 'models' | 'deny_models'> | undefined) {
    this.#groups = groups.map((g) => ({ name: g.name, allow: new Patterns(g.models), deny: new Patterns(g.deny_models) }))
    this.#ownAllow = new Patterns(own?.models ?? [])
    this.#ownDeny = new Patterns(own?.deny_models ?? [])
    this.unrestricted = this.#ownAllow.size === 0 && this.#ownDeny.size === 0 && this.#groups.every((g) => g.allow.size === 0 && g.deny.size === 0)
    this.open = this.unrestricted && groups.length === 0
  }

  /** `model` without its `[1m]` marker. */
  decide(model: string): PolicyDecision {
    let decision = this.#cache.get(model)
    if (decision === undefined) {
      decision = this.#decide(model)
      if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear()
      this.#cache.set(model, decision)
    }
    return decision
  }

  #decide(model: string): PolicyDecision {
    if (this.#ownDeny.matches(model)) return { ok: false }
    if (this.#ownAllow.size > 0 && !this.#ownAllow.matches(model)) return { ok: false }
    if (this.#groups.length === 0) return { ok: true, group: undefined }
    let granting: string | undefined
    for (const g of this.#groups) {
      if (g.deny.matches(model)) return { ok: false }
      if (granting === undefined && (g.allow.size === 0 || g.allow.matches(model))) granting = g.name
    }
    return granting === undefined ? { ok: false } : { ok: true, group: granting }
  }
}

/** Whether two patterns can name the same model (each exact, or a prefix with `*`). */
export function patternsOverlap(a: string, b: string): boolean {
  const pa = a.endsWith('*') ? a.slice(0, -1) : undefined
  const pb = b.endsWith('*') ? b.slice(0, -1) : undefined
  if (pa === undefined && pb === undefined) return a === b
  if (pa !== undefined && pb !== undefined) return pa.startsWith(pb) || pb.startsWith(pa)
  return pa !== undefined ? b.startsWith(pa) : a.startsWith(pb!)
}
