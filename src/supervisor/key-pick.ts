/**
 * Choosing a key inside one provider's pool: the highest priority tier that has a key free now, then
 * `pooling.strategy` within it. A key is free when it is not cooling down for this model (or as a
 * whole) after a 429, not refused by
 * the upstream (401/403), not already tried by this request, and every window it has (rpm, tpm, itpm,
 * otpm) has room for this request's estimate.
 */
import { cooldownMs } from './cooldowns.js'
import { weightedShuffle } from './order.js'
import type { KeyState, ProviderState } from './state.js'

export interface Estimate {
  /** Input tokens (request bytes / 4): the itpm share. */
  readonly input: number
  /** Output tokens (`max_tokens`): the otpm share. */
  readonly output: number
}

export type KeyPick = { readonly key: KeyState } | { readonly key?: undefined; readonly waitMs: number }

/**
 * Milliseconds until `k` could take this request for upstream `model` (0 = now, Infinity = not for this
 * request). `WHOLE_KEY` as the model asks about the key as such (status pages).
 */
export function keyWaitMs(k: KeyState, model: string, est: Estimate, now: number, tried: ReadonlySet<string>): number {
  if (tried.has(k.id) || k.unusable !== undefined) return Infinity
  return Math.max(
    cooldownMs(k.cooldowns, model, now),
    k.rpm.waitMs(now),
    k.tpm.waitMs(est.input + est.output, now),
    k.itpm.waitMs(est.input, now),
    k.otpm.waitMs(est.output, now),
    0,
  )
}

function byStrategy(p: ProviderState, tier: KeyState[], random: () => number): KeyState {
  switch (p.config.pooling.strategy) {
    case 'round_robin':
      return tier[p.keyCursor++ % tier.length]!
    case 'random':
      return tier[Math.floor(random() * tier.length)]!
    case 'weighted':
      return weightedShuffle(tier, (k) => k.config.weight, random)[0]!
    case 'least_loaded':
      return tier.reduce((best, k) => {
        // Other relays' leases count too (state.store: redis), so relays sharing a pool spread over it.
        const load = k.inflight + k.remoteInflight
        const bestLoad = best.inflight + best.remoteInflight
        return load < bestLoad || (load === bestLoad && k.lastUsed < best.lastUsed) ? k : best
      })
  }
}

export function pickKey(p: ProviderState, model: string, est: Estimate, now: number, tried: ReadonlySet<string>, random: () => number): KeyPick {
  let waitMs = Infinity
  let tier: KeyState[] = []
  let tierPriority = -Infinity
  for (const k of p.keys) {
    const wait = keyWaitMs(k, model, est, now, tried)
    if (wait > 0) {
      waitMs = Math.min(waitMs, wait)
      continue
    }
    if (k.config.priority > tierPriority) {
      tier = [k]
      tierPriority = k.config.priority
    } else if (k.config.priority === tierPriority) tier.push(k)
  }
  return tier.length ? { key: byStrategy(p, tier, random) } : { waitMs }
}
