/**
 * The supervisor's only state transitions: `lease(state, ask, now)` hands out one attempt's provider, key
 * and model (reserving the key's window share), and `settle(state, report, now)` books how it went
 * (windows settled with real usage, cooldowns from 429s, keys refused with 401/403, breaker counts).
 * Deterministic given `now` and the state's random source: tests drive them with a fake clock.
 */
import { relayError } from '../shared/errors.js'
import type { RelayConfig } from '../config/types.js'
import type { LeaseAsk, LeaseReply, LeaseReport, SupervisorMessage, SupervisorReply } from '../shared/protocol.js'
import { coolDown, WHOLE_KEY } from './cooldowns.js'
import { attemptScope, outcomeFacts, unhealthy } from './failure-scope.js'
import { keyWaitMs, pickKey } from './key-pick.js'
import { servedModels, stripContextMarker, upstreamModelFor } from './model-map.js'
import { providerOrder } from './order.js'
import { signalFor429, signalFromBudget } from './rate-signals.js'
import { buildState } from './state.js'
import { applyNews } from './shared/news.js'
import { admitClient, releaseClient } from './team.js'
import { affinityKey } from './affinity.js'
import type { KeyState, ProviderState, SupervisorState } from './state.js'

const familyOf = (p: ProviderState): string => p.plugin.thinkingFamily ?? 'anthropic'

function grant(state: SupervisorState, p: ProviderState, key: KeyState | undefined, keyId: string, upstreamModel: string, ask: LeaseAsk, now: number, forward: boolean): LeaseReply {
  // A session that moves to another thinking family must not carry its signed thinking along.
  const before = ask.session ? state.affinity.lastFamily(ask.session, now) : undefined
  const stripThinking = before !== undefined && before !== familyOf(p)
  p.breaker.admit(now)
  const probeEpoch = p.breaker.state === 'half_open' ? p.breaker.epoch : undefined
  p.inflight++
  const login = forward ? ask.clientCredentialHash : undefined
  if (login) {
    const usage = state.logins.get(login) ?? { requests: 0, tokens: 0 }
    usage.requests++
    state.logins.set(login, usage)
  }
  let reservations: [ReturnType<KeyState['tpm']['reserve']>, ReturnType<KeyState['tpm']['reserve']>, ReturnType<KeyState['tpm']['reserve']>] = [undefined, undefined, undefined]
  if (key) {
    key.inflight++
    key.lastUsed = now
    key.rpm.admit(now)
    const { input, output } = ask.estimate
    reservations = [key.tpm.reserve(input + output, now), key.itpm.reserve(input, now), key.otpm.reserve(output, now)]
  }
  const id = state.nextLeaseId++
  state.leases.set(id, { provider: p.config.name, keyHash: key?.hash, reservations, probeEpoch, login })
  const affinity = state.config.routing.affinity
  if (ask.session && affinity.enabled) state.affinity.remember(affinityKey(ask.session, ask.rule?.name), p.config.name, key?.hash, familyOf(p), now, affinity.ttl_ms)
  const probe = probeEpoch === undefined ? undefined : { period: p.breaker.openUntil, limit: state.config.health.circuit_breaker.half_open_probes }
  return { ok: true, lease: { id, keyId, provider: p.index, key: key ? key.index : -1, upstreamModel, forwardClientCredential: forward, stripThinking, keysAreCredentials: p.keysAreCredentials, probe } }
}

/** The session's provider and key again, if they can take this request now. */
function stickyLease(state: SupervisorState, ask: LeaseAsk, upstreamModels: ReadonlyMap<ProviderState, string>, now: number): LeaseReply | undefined {
  if (!ask.session || !state.config.routing.affinity.enabled) return undefined
  const entry = state.affinity.get(affinityKey(ask.session, ask.rule?.name), now)
  if (!entry) return undefined
  const p = [...upstreamModels.keys()].find((x) => x.config.name === entry.provider)
  if (!p || !p.breaker.available(now)) return undefined
  const forward = p.plugin.clientCredentials === 'forward' && state.config.server.auth.allow_subscription && ask.hasClientCredential
  if (entry.keyHash === undefined) {
    const keyId = `${p.config.name}#${forward ? 'client' : 'none'}`
    const keyless = forward || (p.keys.length === 0 && !p.keysAreCredentials)
    return keyless && !ask.tried.has(keyId) ? grant(state, p, undefined, keyId, upstreamModels.get(p)!, ask, now, forward) : undefined
  }
  const key = p.keys.find((k) => k.hash === entry.keyHash)
  if (forward || !key || keyWaitMs(key, upstreamModels.get(p)!, ask.estimate, now, ask.tried) > 0) return undefined
  return grant(state, p, key, key.id, upstreamModels.get(p)!, ask, now, false)
}

/**
 * One attempt's lease. After a provider-wide failure (CONTRACT §6 failover scope) the next attempt goes
 * to another provider: the providers in `avoidProviders` are left out first, and their other keys are
 * offered only when no other provider can take the request now.
 */
export function lease(state: SupervisorState, ask: LeaseAsk, now: number): LeaseReply {
  const avoid = ask.avoidProviders
  if (avoid && avoid.size > 0) {
    const elsewhere = leaseAmong(state, ask, now, avoid)
    if (elsewhere.ok) return elsewhere
  }
  return leaseAmong(state, ask, now, undefined)
}

export interface Candidate {
  readonly p: ProviderState
  readonly upstreamModel: string
}

/**
 * The providers that may serve this request, each with its upstream model: a matched rule's providers in
 * its order (its `model`, else each one's mapping, else the client's model: CONTRACT §8), otherwise every
 * provider whose mapping or models serve the model.
 */
export function candidatesFor(state: SupervisorState, ask: LeaseAsk, model: string, leaveOut: ReadonlySet<number> | undefined): Candidate[] {
  const usable = (p: ProviderState): boolean => p.config.enabled && p.plugin.routes.includes(ask.route) && !ask.skipProviders?.has(p.index) && !leaveOut?.has(p.index)
  const candidates: Candidate[] = []
  if (ask.rule) {
    for (const name of ask.rule.providers) {
      const p = state.providers.find((x) => x.config.name === name)
      if (p && usable(p)) candidates.push({ p, upstreamModel: ask.rule.model ?? upstreamModelFor(p.config, model) ?? model })
    }
    return candidates
  }
  for (const p of state.providers) {
    if (!usable(p)) continue
    const upstreamModel = upstreamModelFor(p.config, model)
    if (upstreamModel !== undefined) candidates.push({ p, upstreamModel })
  }
  return candidates
}

function leaseAmong(state: SupervisorState, ask: LeaseAsk, now: number, leaveOut: ReadonlySet<number> | undefined): LeaseReply {
  const model = stripContextMarker(ask.model)
  const candidates = candidatesFor(state, ask, model, leaveOut)
  if (candidates.length === 0 && ask.skipProviders?.size) {
    return { ok: false, exhausted: true, error: relayError('unsupported_request', `no provider serving ${JSON.stringify(ask.model)} can take this request`) }
  }
  if (candidates.length === 0 && ask.rule) {
    const what = ask.route === 'count_tokens' ? 'token counting' : 'requests'
    return { ok: false, error: relayError('model_not_served', `routing rule ${JSON.stringify(ask.rule.name)} matched, but none of its providers (${ask.rule.providers.join(', ')}) is enabled for ${what}`) }
  }
  if (candidates.length === 0) {
    const served = servedModels(state.config.providers)
    const what = ask.route === 'count_tokens' ? 'token counting for model' : 'model'
    return { ok: false, error: relayError('model_not_served', `${what} ${JSON.stringify(ask.model)} is not served by this relay${served.length ? `; served models: ${served.join(', ')}` : ''}`) }
  }
  const upstreamModels = new Map(candidates.map((c) => [c.p, c.upstreamModel]))
  const sticky = stickyLease(state, ask, upstreamModels, now)
  if (sticky) return sticky
  let waitMs = Infinity
  let breakerWaitMs = Infinity
  let tried = false
  let credentialless = false
  // Rotating strategies advance once per request, not once per failover attempt.
  for (const p of providerOrder(state, candidates.map((c) => c.p), model, ask.tried.size === 0, ask.rule !== undefined)) {
    if (!p.breaker.available(now) || ask.probesTaken?.has(p.index)) {
      breakerWaitMs = Math.min(breakerWaitMs, p.breaker.state === 'open' ? p.breaker.openUntil - now : 1000)
      continue
    }
    const upstreamModel = upstreamModels.get(p)!
    const forward = p.plugin.clientCredentials === 'forward' && state.config.server.auth.allow_subscription && ask.hasClientCredential
    // CONTRACT §3: a client's own credential is not drawn from the pool.
    if (forward || (p.keys.length === 0 && !p.keysAreCredentials)) {
      const keyId = `${p.config.name}#${forward ? 'client' : 'none'}`
      if (ask.tried.has(keyId)) tried = true
      else return grant(state, p, undefined, keyId, upstreamModel, ask, now, forward)
      continue
    }
    if (p.keys.length === 0) {
      credentialless = true
      continue
    }
    const pick = pickKey(p, upstreamModel, ask.estimate, now, ask.tried, state.random)
    if (pick.key) return grant(state, p, pick.key, pick.key.id, upstreamModel, ask, now, false)
    if (Number.isFinite(pick.waitMs)) waitMs = Math.min(waitMs, pick.waitMs)
    if (p.keys.some((k) => ask.tried.has(k.id))) tried = true
  }
  if (Number.isFinite(waitMs)) {
    // A circuit that half-opens sooner than a key frees up is the earlier chance.
    const wait = Math.min(waitMs, breakerWaitMs)
    const seconds = Math.ceil(wait / 1000)
    return { ok: false, retryAfterMs: wait, error: relayError('rate_limited', `every key that serves ${JSON.stringify(ask.model)} is at its rate limit; retry in ${seconds} s`) }
  }
  if (tried) return { ok: false, exhausted: true, error: relayError('upstream_unreachable', `every provider serving ${JSON.stringify(ask.model)} failed for this request`) }
  if (Number.isFinite(breakerWaitMs)) {
    return { ok: false, retryAfterMs: breakerWaitMs, error: relayError('providers_unavailable', `every provider serving ${JSON.stringify(ask.model)} is failing (circuit open); retry in ${Math.ceil(breakerWaitMs / 1000)} s`) }
  }
  const reason = credentialless ? 'configure keys, or send your own Anthropic credential to a provider that allows it' : 'every key was refused by its upstream (401/403)'
  return { ok: false, error: relayError('no_credential', `no usable credential for the providers serving ${JSON.stringify(ask.model)}: ${reason}`) }
}

export function settle(state: SupervisorState, report: LeaseReport, now: number): void {
  const record = state.leases.get(report.leaseId)
  if (!record) return
  state.leases.delete(report.leaseId)
  const p = state.providers.find((x) => x.config.name === record.provider)
  if (!p) return
  const key = record.keyHash === undefined ? undefined : p.keys.find((k) => k.hash === record.keyHash)
  const { status, usage, rateHeaders, upstreamModel } = report.outcome
  const facts = outcomeFacts(report.outcome, record.login !== undefined, p.keysAreCredentials)
  const scope = attemptScope(facts)
  p.inflight = Math.max(0, p.inflight - 1)
  const tokens = usage.input_tokens + usage.cache_creation_input_tokens + usage.output_tokens
  const login = record.login === undefined ? undefined : state.logins.get(record.login)
  if (login) login.tokens += tokens
  if (key) {
    key.inflight = Math.max(0, key.inflight - 1)
    const input = usage.input_tokens + usage.cache_creation_input_tokens
    const [tpm, itpm, otpm] = record.reservations
    key.tpm.settle(tpm, input + usage.output_tokens, now)
    key.itpm.settle(itpm, input, now)
    key.otpm.settle(otpm, usage.output_tokens, now)
    // CONTRACT §6: cool what the answer says is spent — this model on this key, or the whole key; a
    // quota of the whole provider (its keys are slots of one account, or its plugin says so) on every key.
    const signal = status === 429 ? signalFor429(rateHeaders, now) : signalFromBudget(rateHeaders, now)
    if (signal.kind !== 'none') {
      const cooled = status === 429 && scope === 'provider' ? p.keys : [key]
      for (const k of cooled) coolDown(k.cooldowns, signal.scope === 'key' ? WHOLE_KEY : upstreamModel, { until: signal.until, kind: signal.kind }, now)
    }
    // Learned, never enforced in place of the configured limits: the local books stay as they are.
    if (Object.keys(rateHeaders).length > 0) key.learned = rateHeaders
    // Only a key that is itself the credential is to blame; a pool slot of a signed or token-based
    // provider (bedrock, vertex) is not.
    if ((status === 401 || status === 403) && p.keysAreCredentials) key.unusable = `the upstream answered ${status} to this key`
  }
  // Health (failure-scope.ts): transport failures, timeouts, 5xx, 529 and an overload before content
  // count against the provider; a 2xx clears it; rate limits, refused keys, the request's own 4xx and a
  // client that left say nothing about the provider.
  if (unhealthy(facts)) p.breaker.failure(now)
  else if (scope === 'ok') p.breaker.success()
  else if (record.probeEpoch !== undefined) p.breaker.release(record.probeEpoch)
}

/** Providers whose circuit is open, for the active health check. */
export function openProviders(state: SupervisorState, now: number): ProviderState[] {
  return state.providers.filter((p) => p.config.enabled && p.breaker.state === 'open' && now < p.breaker.openUntil)
}

/**
 * An active health check's verdict: reachable moves an open circuit to half-open now, so real requests
 * probe it; unreachable keeps it open for another `open_duration_ms`.
 */
export function healthResult(state: SupervisorState, provider: string, reachable: boolean, now: number): void {
  const p = state.providers.find((x) => x.config.name === provider)
  if (!p || p.breaker.state !== 'open') return
  if (reachable) p.breaker.openUntil = now
  else p.breaker.failure(now)
}

/**
 * The actor's one entry point: every message, one transition. Returns the (possibly new) state and,
 * for a lease ask, the reply.
 */
export function reduce(state: SupervisorState, message: SupervisorMessage, now: number): { state: SupervisorState; reply?: SupervisorReply } {
  switch (message.type) {
    case 'client.admit':
      return { state, reply: admitClient(state.team, state.tickets, state.nextTicketId++, message, now) }
    case 'client.release':
      releaseClient(state.team, state.tickets, message.ticket, message.tokens, now)
      return { state }
    case 'shared.event':
      applyNews(state, message.event, now)
      return { state }
    case 'lease.ask':
      return { state, reply: lease(state, message, now) }
    case 'lease.outcome':
      settle(state, message, now)
      return { state }
    case 'health.result':
      healthResult(state, message.provider, message.reachable, now)
      return { state }
    case 'config.replace':
      // Windows, cooldowns and breakers of providers and keys that remain carry over.
      return { state: buildState(message.config as RelayConfig, state.plugins, state.random, state) }
  }
}

/** Whether any enabled provider serves `model` on `route` (a question, not a lease: nothing changes). */
export function serves(state: SupervisorState, route: LeaseAsk['route'], model: string): boolean {
  const m = stripContextMarker(model)
  return state.providers.some((p) => p.config.enabled && p.plugin.routes.includes(route) && upstreamModelFor(p.config, m) !== undefined)
}
