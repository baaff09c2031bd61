/**
 * The supervisor's side of relays sharing state: what changed in this relay's books when an outcome was
 * settled (to announce), and how another relay's announcement is applied here. Only changes that make
 * another relay behave differently are announced: a circuit opening or closing, a key cooling down
 * after a 429 (for one model, or as a whole), a key refused by its upstream.
 */
import type { SharedEvent } from '../../shared/protocol.js'
import { coolDown, WHOLE_KEY } from '../cooldowns.js'
import type { Cooldown } from '../cooldowns.js'
import type { SupervisorState } from '../state.js'

/** What `news` compares: one provider's breaker and one key (for one upstream model), before and after a settle. */
export interface Snapshot {
  readonly provider: string
  readonly keyHash: string | undefined
  readonly model: string
  readonly breaker: string
  /** The key's cooldown for every model, then for `model` alone. */
  readonly cooldowns: readonly [Cooldown | undefined, Cooldown | undefined]
  readonly unusable: string | undefined
}

export function snapshot(state: SupervisorState, provider: string, keyHash: string | undefined, model: string): Snapshot | undefined {
  const p = state.providers.find((x) => x.config.name === provider)
  if (!p) return undefined
  const key = keyHash === undefined ? undefined : p.keys.find((k) => k.hash === keyHash)
  const cooldowns = [key?.cooldowns.get(WHOLE_KEY), key?.cooldowns.get(model)] as const
  return { provider, keyHash, model, breaker: p.breaker.state, cooldowns, unusable: key?.unusable }
}

export function news(state: SupervisorState, before: Snapshot): SharedEvent[] {
  const after = snapshot(state, before.provider, before.keyHash, before.model)
  if (!after) return []
  const p = state.providers.find((x) => x.config.name === before.provider)!
  const events: SharedEvent[] = []
  if (after.breaker !== before.breaker && after.breaker === 'open') events.push({ type: 'breaker.open', provider: before.provider, until: p.breaker.openUntil })
  if (after.breaker !== before.breaker && after.breaker === 'closed') events.push({ type: 'breaker.closed', provider: before.provider })
  const key = before.keyHash === undefined ? undefined : p.keys.find((k) => k.hash === before.keyHash)
  // The same scope on every relay: a model's cooldown is that model's there too.
  ;[WHOLE_KEY, before.model].forEach((model, i) => {
    const now = after.cooldowns[i]
    if (key && now && now !== before.cooldowns[i]) events.push({ type: 'key.cooldown', provider: before.provider, keyHash: key.hash, model, until: now.until, kind: now.kind })
  })
  if (key && after.unusable !== undefined && before.unusable === undefined) events.push({ type: 'key.unusable', provider: before.provider, keyHash: key.hash, reason: after.unusable })
  return events
}

/** Another relay's announcement, applied to this relay's books (never weakening what is known here). */
export function applyNews(state: SupervisorState, event: SharedEvent, now: number): void {
  const p = state.providers.find((x) => x.config.name === event.provider)
  if (!p) return
  switch (event.type) {
    case 'load': {
      const key = p.keys.find((k) => k.hash === event.keyHash)
      if (key) key.remoteInflight = event.inflight
      return
    }
    case 'affinity':
      state.affinity.remember(event.session, event.provider, event.keyHash, event.family, now, event.ttlMs)
      return
    case 'breaker.open':
      if (event.until > now) p.breaker.openFor(event.until)
      return
    case 'breaker.closed':
      if (p.breaker.state !== 'closed') p.breaker.success()
      return
    case 'key.cooldown': {
      const key = p.keys.find((k) => k.hash === event.keyHash)
      // A relay of an earlier version names no model: its cooldowns were whole-key ones.
      if (key && event.until > now) coolDown(key.cooldowns, typeof event.model === 'string' ? event.model : WHOLE_KEY, { until: event.until, kind: event.kind === 'quota' ? 'quota' : 'throttle' }, now)
      return
    }
    case 'key.unusable': {
      const key = p.keys.find((k) => k.hash === event.keyHash)
      if (key && key.unusable === undefined) key.unusable = `${event.reason} (seen by another relay)`
      return
    }
  }
}
