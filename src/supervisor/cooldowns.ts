/**
 * A key's cooldowns, scoped like the upstream's limits (CONTRACT §6). Anthropic applies request and
 * token limits per model, so a 429 (or a budget reported spent) cools one key for one upstream model
 * and the key keeps serving the others; only an answer that says the whole key or account is spent
 * cools every model (`WHOLE_KEY`). A cooldown is only ever extended, never shortened, by a later answer.
 */

export type CooldownKind = 'throttle' | 'quota'

export interface Cooldown {
  /** Epoch ms. */
  readonly until: number
  /** A per-minute throttle, or an exhausted quota (until its reset). */
  readonly kind: CooldownKind
}

/** The scope of a cooldown that applies to every model the key serves. Model names are never empty. */
export const WHOLE_KEY = ''

/** Cooldowns by upstream model name, or `WHOLE_KEY`. */
export type Cooldowns = Map<string, Cooldown>

/** Milliseconds until the key may serve `model` again, as far as its cooldowns go (0 = now). */
export function cooldownMs(cooldowns: Cooldowns, model: string, now: number): number {
  if (cooldowns.size === 0) return 0
  const whole = cooldowns.get(WHOLE_KEY)?.until ?? 0
  const own = model === WHOLE_KEY ? 0 : (cooldowns.get(model)?.until ?? 0)
  return Math.max(0, whole - now, own - now)
}

/** Past this many scopes, expired ones are dropped on the next cooldown (clients choose model names). */
const PRUNE_AT = 32

/** Cools `scope` until `cooldown.until` unless it already cools longer; true when something changed. */
export function coolDown(cooldowns: Cooldowns, scope: string, cooldown: Cooldown, now: number): boolean {
  if (cooldowns.size >= PRUNE_AT) activeCooldowns(cooldowns, now)
  const current = cooldowns.get(scope)
  if (current && current.until >= cooldown.until) return false
  cooldowns.set(scope, cooldown)
  return true
}

/** The cooldowns still running at `now`, expired ones dropped (so the map never grows with old models). */
export function activeCooldowns(cooldowns: Cooldowns, now: number): [string, Cooldown][] {
  const active: [string, Cooldown][] = []
  for (const [scope, c] of cooldowns) {
    if (c.until > now) active.push([scope, c])
    else cooldowns.delete(scope)
  }
  return active
}
