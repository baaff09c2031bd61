/**
 * The supervisor's side of relays sharing state: what changed in this relay's books when an outcome was
 * settled (to announce), and how another relay's announcement is applied here. Only changes that make
 * another relay behave differently are announced: a circuit opening or closing, a key cooling down
 * after a 429, a key refused by its upstream.
 */
import type { SharedEvent } from '../../shared/protocol.js'
import type { SupervisorState } from '../state.js'

/** What `news` compares: one provider's breaker and one key, before and after a settle. */
export interface Snapshot {
  readonly provider: string
  readonly keyHash: string | undefined
  readonly breaker: string
  readonly cooldownUntil: number
  readonly unusable: string | undefined
}

export function snapshot(state: SupervisorState, provider: string, keyHash: string | undefined): Snapshot | undefined {
  const p = state.providers.find((x) => x.config.name === provider)
  if (!p) return undefined
  const key = keyHash === undefined ? undefined : p.keys.find((k) => k.hash === keyHash)
  return { provider, keyHash, breaker: p.breaker.state, cooldownUntil: key?.cooldownUntil ?? 0, unusable: key?.unusable }
}

export function news(state: SupervisorState, before: Snapshot): SharedEvent[] {
  const after = snapshot(state, before.provider, before.keyHash)
  if (!after) return []
  const p = state.providers.find((x) => x.config.name === before.provider)!
  const events: SharedEvent[] = []
  if (after.breaker !== before.breaker && after.breaker === 'open') events.push({ type: 'breaker.open', provider: before.provider, until: p.breaker.openUntil })
  if (after.breaker !== before.breaker && after.breaker === 'closed') events.push({ type: 'breaker.closed', provider: before.provider })
  const key = before.keyHash === undefined ? undefined : p.keys.find((k) => k.hash === before.keyHash)
  if (key && after.cooldownUntil > before.cooldownUntil) {
    events.push({ type: 'key.cooldown', provider: before.provider, keyHash: key.hash, until: key.cooldownUntil, kind: key.cooldownKind ?? 'throttle' })
  }
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
      if (key && event.until > key.cooldownUntil) {
        key.cooldownUntil = event.until
        key.cooldownKind = event.kind
      }
      return
    }
    case 'key.unusable': {
      const key = p.keys.find((k) => k.hash === event.keyHash)
      if (key && key.unusable === undefined) key.unusable = `${event.reason} (seen by another relay)`
      return
    }
  }
}
