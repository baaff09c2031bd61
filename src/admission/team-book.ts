/**
 * Who the callers are, compiled once per config (like routing rules): each team client's profile — its
 * groups, model policy, budgets and limits — and, for signed-in users (CONTRACT §12), a profile per
 * set of relay groups, made on first use. A request then costs a map lookup, not a compile.
 */
import type { BudgetConfig, ClientConfig, GroupConfig, RelayConfig } from '../config/types.js'
import { budgetsFor } from './budgets.js'
import type { BudgetSpec } from './budgets.js'
import { ModelPolicy } from './policy.js'

/** Limits counted per request, across the caller's and its group's windows (team.ts, shared-state.ts). */
export interface LimitAccount {
  /** `client:NAME` or `group:NAME`: the books' and Redis windows' name. */
  readonly id: string
  readonly rpm_limit: number
  readonly tpm_limit: number
  readonly max_concurrent: number
}

/** One caller as admission sees it. */
export interface CallerProfile {
  /** The team client's name, a signed-in user's email, or '' (the shared key, or a relay without keys). */
  readonly name: string
  /** Relay groups, in config order. */
  readonly groups: readonly string[]
  readonly policy: ModelPolicy
  /** A named team client's own books (limits, in flight); undefined for the shared key and users. */
  readonly client: ClientConfig | undefined
  /** The budgets a request booked to `group` counts against (cached per group). */
  budgets(group: string | undefined): readonly BudgetSpec[]
  /** The limit accounts a request booked to `group` takes a share of (cached per group). */
  accounts(group: string | undefined): readonly LimitAccount[]
}

const hasLimits = (x: { rpm_limit: number; tpm_limit: number; max_concurrent: number }): boolean => x.rpm_limit > 0 || x.tpm_limit > 0 || x.max_concurrent > 0

class Profile implements CallerProfile {
  readonly #budgets = new Map<string, readonly BudgetSpec[]>()
  readonly #accounts = new Map<string, readonly LimitAccount[]>()
  readonly policy: ModelPolicy

  constructor(
    readonly name: string,
    readonly groups: readonly string[],
    readonly client: ClientConfig | undefined,
    readonly ownBudget: BudgetConfig | undefined,
    readonly book: TeamBook,
  ) {
    this.policy = new ModelPolicy(groups.map((g) => book.group(g)!), client)
  }

  budgets(group: string | undefined): readonly BudgetSpec[] {
    const key = group ?? ''
    let specs = this.#budgets.get(key)
    if (!specs) this.#budgets.set(key, (specs = budgetsFor(this.name, this.ownBudget, group === undefined ? undefined : this.book.group(group))))
    return specs
  }

  accounts(group: string | undefined): readonly LimitAccount[] {
    const key = group ?? ''
    let accounts = this.#accounts.get(key)
    if (!accounts) {
      const list: LimitAccount[] = []
      if (this.client && hasLimits(this.client)) list.push({ id: `client:${this.name}`, rpm_limit: this.client.rpm_limit, tpm_limit: this.client.tpm_limit, max_concurrent: this.client.max_concurrent })
      const g = group === undefined ? undefined : this.book.group(group)
      if (g && hasLimits(g)) list.push({ id: `group:${g.name}`, rpm_limit: g.rpm_limit, tpm_limit: g.tpm_limit, max_concurrent: g.max_concurrent })
      this.#accounts.set(key, (accounts = list))
    }
    return accounts
  }
}

/** Users seen since the config loaded; a bound on what an attacker with many valid tokens could grow. */
const USER_PROFILES = 10_000

export class TeamBook {
  readonly #groups: ReadonlyMap<string, GroupConfig>
  readonly #clients = new Map<string, CallerProfile>()
  readonly #users = new Map<string, CallerProfile>()
  /** The shared key's (or an open relay's) caller: no group, no policy. */
  readonly shared: CallerProfile

  constructor(config: RelayConfig) {
    const { groups, clients } = config.server.auth
    this.#groups = new Map(groups.map((g) => [g.name, g]))
    for (const c of clients) this.#clients.set(c.name, new Profile(c.name, c.group ? [c.group] : [], c, c.budget, this))
    this.shared = new Profile('', [], undefined, undefined, this)
  }

  group(name: string): GroupConfig | undefined {
    return this.#groups.get(name)
  }

  get groupNames(): readonly string[] {
    return [...this.#groups.keys()]
  }

  client(name: string): CallerProfile | undefined {
    return this.#clients.get(name)
  }

  /** A signed-in user (CONTRACT §12): named by email, in every relay group their IdP groups map to. */
  user(email: string, groups: readonly string[]): CallerProfile {
    // Config order, unknown groups dropped (a reload may have removed one the token still names).
    const known = this.groupNames.filter((g) => groups.includes(g))
    const key = `${email}\u0000${known.join('\u0000')}`
    let profile = this.#users.get(key)
    if (!profile) {
      if (this.#users.size >= USER_PROFILES) this.#users.clear()
      this.#users.set(key, (profile = new Profile(email, known, undefined, undefined, this)))
    }
    return profile
  }
}
