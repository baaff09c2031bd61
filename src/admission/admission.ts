/**
 * The one door every client request passes before a lease (CONTRACT §10), in the order a reader expects:
 *
 *   door(peer, headers)   before the body is read: draining → IP (`server.auth.allow_ips`) → the relay's
 *                         sign-in bearer (CONTRACT §12) or relay key
 *   admit(caller, facts)  after the body is sniffed: model policy → budgets → client and group limits →
 *                         shared (Redis) admission
 *
 * and then, per attempt, `lease` and `settle`. A refusal is data (refusal.ts): the caller answers it,
 * nothing is sent upstream and nothing is booked; it is counted here by reason. With the memory store
 * every step answers synchronously; with Redis the last step (and each lease) waits for one round trip.
 *
 * The team config is compiled once per config (team-book.ts), so a request costs map lookups.
 */
import type { Route } from '../../plugins/sdk.js'
import type { Telemetry } from '../admin/telemetry.js'
import type { RelayConfig } from '../config/types.js'
import { AllowList } from '../shared/cidr.js'
import type { Lease, LeaseAsk, LeaseReply, Outcome } from '../shared/protocol.js'
import { noAttemptOutcome } from '../shared/protocol.js'
import { servedModels, stripContextMarker } from '../supervisor/model-map.js'
import type { Supervisor } from '../supervisor/supervisor.js'
import { checkBudgets } from './budgets.js'
import { ClientKeys } from './client-keys.js'
import { refusal, retryAfter } from './refusal.js'
import type { Refusal } from './refusal.js'
import type { Estimate, OnEnd, SharedGate, StoreStatus } from './shared-gate.js'
import { TeamBook } from './team-book.js'
import type { CallerProfile } from './team-book.js'
import { REFUSAL_HEADERS } from '../signin/service.js'
import type { SignIn } from '../signin/service.js'

/** Who is calling, as the door found them. */
export interface Caller {
  readonly ok: true
  readonly profile: CallerProfile
  /** Credential headers that carried the relay key (or the relay's token): never forwarded. */
  readonly consumed: ReadonlySet<string>
}

export interface AdmitFacts {
  readonly route: Route
  /** The model as the client asked for it. */
  readonly model: string
  readonly estimate: Estimate
  /** The session's affinity key (session and rule), when affinity is on. */
  readonly sticky: string | undefined
}

export interface Admitted {
  readonly ok: true
  /** The group the request is booked to (its limits, budget and ledger rows), '' for none. */
  readonly group: string
  /**
   * Usage-limit headers for a successful answer (CONTRACT §10); a caller that gets them never sees the
   * upstream's own `anthropic-ratelimit-*` headers.
   */
  readonly usageHeaders: readonly string[]
}

export interface AdmissionDeps {
  readonly supervisor: Supervisor
  readonly gate: SharedGate
  /** Refusals are counted there; budgets read its ledger. */
  readonly telemetry: Telemetry
  readonly draining: () => boolean
  /** Sign-in (CONTRACT §12) while `server.auth.sso` is on: the relay's bearer tokens name signed-in users. */
  readonly signin?: SignIn | undefined
}

/** A lease refused across relays: its books are settled; ask for the next one. */
export const AGAIN = 'again' as const

const NO_HEADERS: readonly string[] = []
const NO_KEY = { profile: undefined, consumed: new Set<string>() }
const SIGN_IN_OR_KEY = 'sign in (run /login in Claude Code and choose this relay), or send a valid relay key (x-cc-relay-key, x-api-key or Authorization: Bearer)'

export class Admission {
  readonly #deps: AdmissionDeps
  #config!: RelayConfig
  #book!: TeamBook
  #keys!: ClientKeys
  #ips!: AllowList

  constructor(config: RelayConfig, deps: AdmissionDeps) {
    this.#deps = deps
    this.#compile(config)
  }

  /** A reload: the next request meets the new keys, policy and lists; requests in flight keep theirs. */
  configure(config: RelayConfig): void {
    this.#deps.supervisor.replaceConfig(this.#deps.gate.effective(config))
    this.#compile(config)
  }

  #compile(config: RelayConfig): void {
    this.#config = config
    this.#book = new TeamBook(config)
    this.#keys = new ClientKeys(config.server.auth, this.#book)
    this.#ips = new AllowList(config.server.auth.allow_ips)
  }

  get book(): TeamBook {
    return this.#book
  }

  /** Before the body: draining, the peer's address (read only when a list is set), the relay key. */
  door(peer: () => string, headers: Readonly<Record<string, string>>): Caller | Refusal {
    if (this.#deps.draining()) return this.#refused(refusal('draining', 'overloaded', 'the relay is shutting down; retry', NO_HEADERS, true))
    if (!this.#ips.empty) {
      const address = peer()
      if (!this.#ips.allows(address)) return this.#refused(refusal('ip', 'ip_forbidden', `${address} may not call this relay (server.auth.allow_ips)`, NO_HEADERS, true))
    }
    const signin = this.#deps.signin
    const who = signin?.identify(headers)
    if (who !== undefined && who.kind !== 'none') {
      // The relay's own token is consumed whatever else the request carries: it never leaves the relay.
      const keyed = this.#keys.required ? this.#keys.check(headers) : undefined
      const consumed = new Set([...(keyed?.consumed ?? []), 'authorization'])
      if (keyed?.profile) return { ok: true, profile: keyed.profile, consumed }
      if (who.kind === 'user') return { ok: true, profile: this.#book.user(who.user.email, who.user.groups), consumed }
      // Forged, expired or revoked: Claude Code asks for /login at once instead of retrying for minutes.
      return this.#refused(refusal('auth', 'unauthenticated', who.message, REFUSAL_HEADERS, true))
    }
    // With sign-in on and no relay keys, a caller without the relay's token is not let in as the shared key.
    const verdict = signin && !this.#keys.required ? NO_KEY : this.#keys.check(headers)
    if (!verdict.profile) return this.#refused(refusal('auth', 'unauthenticated', signin ? SIGN_IN_OR_KEY : 'a valid relay key is required (x-cc-relay-key, x-api-key or Authorization: Bearer)', NO_HEADERS, true))
    return { ok: true, profile: verdict.profile, consumed: verdict.consumed }
  }

  /**
   * After the sniff: policy, budgets, limits, shared admission. `done` gets the verdict (synchronously
   * with the memory store); what was taken is given back through `onEnd` when the request ends.
   */
  admit(caller: Caller, facts: AdmitFacts, onEnd: OnEnd, done: (verdict: Admitted | Refusal) => void): void {
    const { profile } = caller
    const decision = profile.policy.open ? OPEN : profile.policy.decide(stripContextMarker(facts.model))
    if (!decision.ok) return done(this.#refused(refusal('model_policy', 'model_not_allowed', notAllowed(facts.model, profile))))
    const group = decision.group

    let usageHeaders = NO_HEADERS
    const budgets = profile.budgets(group)
    const ledger = this.#deps.telemetry.ledger
    if (budgets.length > 0 && ledger) {
      const verdict = checkBudgets(budgets, ledger, Date.now())
      if (!verdict.ok) return done(this.#refused(verdict))
      // Claude Code reads them on its messages; a token count is not usage.
      if (facts.route === 'messages') usageHeaders = verdict.headers
    }

    const { supervisor, gate } = this.#deps
    if (profile.name !== '' || group !== undefined) {
      const reply = supervisor.admitClient(profile.client ? profile.name : '', group, facts.estimate.input + facts.estimate.output)
      if (!reply.ok) return done(this.#refused(refusal('limit', 'rate_limited', reply.error.message, ['retry-after', retryAfter(reply.retryAfterMs)])))
      const ticket = reply.ticket
      onEnd((outcome) => {
        const u = outcome?.usage
        supervisor.releaseClient(ticket, u ? u.input_tokens + u.cache_creation_input_tokens + u.output_tokens : 0)
      })
    }

    const admitted: Admitted = { ok: true, group: group ?? '', usageHeaders }
    gate.admitCaller(profile.accounts(group), facts.estimate, facts.sticky, onEnd, (verdict) => {
      if (verdict.ok) return done(admitted)
      const seconds = retryAfter(verdict.retryAfterMs)
      done(this.#refused(refusal('limit', 'rate_limited', `${verdict.what} across relays; retry in ${seconds} s`, ['retry-after', seconds])))
    })
  }

  /**
   * One attempt's lease: the supervisor's, confirmed across relays by the gate. `AGAIN`: the gate refused
   * it (another relay holds the key's window or the circuit's probes) and its books are settled.
   */
  lease(ask: Omit<LeaseAsk, 'type'> & { readonly probesTaken: Set<number> }, sticky: string | undefined, done: (reply: LeaseReply | typeof AGAIN) => void): void {
    const reply = this.#deps.supervisor.lease(ask)
    if (!reply.ok) return done(reply)
    const lease = reply.lease
    this.#deps.gate.confirmLease(lease, ask.estimate, sticky, (verdict) => {
      if (verdict.ok) return done(reply)
      const unused = this.#unused(lease, false)
      if (verdict.probesTaken) {
        // Other relays already probe this circuit: leave it to them (status 0 frees the local probe slot).
        ask.probesTaken.add(lease.provider)
        this.settle(lease, unused)
      } else {
        // The relay's own refusal: this key's shared window is full (key-scoped whatever the provider type).
        this.settle(lease, { ...unused, status: 429, scope: 'key', rateHeaders: { 'retry-after-ms': String(verdict.retryAfterMs) } })
      }
      done(AGAIN)
    })
  }

  /** The attempt on `lease` is over: the supervisor's books and the shared windows learn how it went. */
  settle(lease: Lease, outcome: Outcome): void {
    this.#deps.gate.leaseEnded(lease, outcome.status === 0 ? undefined : outcome.usage)
    this.#deps.supervisor.report(lease.id, outcome)
  }

  /** A lease given back unused (its request ended while it was being confirmed). */
  release(lease: Lease): void {
    this.settle(lease, this.#unused(lease, true))
  }

  #unused(lease: Lease, clientAborted: boolean): Outcome {
    return noAttemptOutcome(this.#config.providers[lease.provider]?.name ?? '', lease.upstreamModel, clientAborted)
  }

  /** Whether some enabled provider serves `model` on `route`. */
  serves(route: Route, model: string): boolean {
    return this.#deps.supervisor.serves(route, model)
  }

  /** `GET /v1/models`: the served models this caller may use (CONTRACT §10). */
  visibleModels(caller: Caller): string[] {
    const served = servedModels(this.#config.providers)
    const { policy } = caller.profile
    return policy.unrestricted ? served : served.filter((m) => policy.decide(stripContextMarker(m)).ok)
  }

  status(): StoreStatus {
    return this.#deps.gate.status()
  }

  #refused(r: Refusal): Refusal {
    const { telemetry } = this.#deps
    telemetry.refused(r.reason)
    // The older counter keeps its meaning for dashboards built on it.
    if (r.reason === 'limit') telemetry.rateLimited('client')
    else if (r.reason === 'budget') telemetry.rateLimited('budget')
    return r
  }
}

const OPEN = { ok: true, group: undefined } as const

/** CONTRACT §10's refusal: "model M is not allowed for C (group G)" (also what `cc-relay route` shows). */
export function notAllowed(model: string, profile: CallerProfile): string {
  const name = profile.name === '' ? 'the shared key' : profile.name
  const groups = profile.groups.length === 0 ? '' : ` (group${profile.groups.length > 1 ? 's' : ''} ${profile.groups.join(', ')})`
  return `model ${JSON.stringify(model)} is not allowed for ${name}${groups}`
}
