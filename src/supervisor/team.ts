/**
 * A team's books (`server.auth.clients`, `server.auth.groups`): each named client and each group has
 * requests-per-minute, tokens-per-minute and concurrency limits, enforced per client request (not per
 * upstream attempt: a failover is the relay's business, not the client's). A group's limits are pooled:
 * every member's requests count against them together, and a member's own limits still apply. Tokens
 * are reserved at admission (the same estimate the key windows use) and settled with the real usage
 * when the request ends.
 */
import type { RelayConfig } from '../config/types.js'
import { relayError } from '../shared/errors.js'
import type { ClientAdmit, ClientReply } from '../shared/protocol.js'
import { RequestWindow, TokenWindow } from './windows.js'
import type { TokenEntry } from './windows.js'

export interface TeamLimits {
  readonly rpm_limit: number
  readonly tpm_limit: number
  readonly max_concurrent: number
}

/** One client's or one group's books. */
export interface TeamAccountState {
  /** `client alice` or `group interns`: how refusals name it. */
  readonly label: string
  readonly limits: TeamLimits
  readonly rpm: RequestWindow
  readonly tpm: TokenWindow
  inflight: number
}

export interface TeamBooks {
  /** Named clients, by name. */
  readonly clients: Map<string, TeamAccountState>
  /** Groups, by name. */
  readonly groups: Map<string, TeamAccountState>
}

/**
 * An admitted request's hold on its client's and group's books, returned when the request ends. By name:
 * a reload in between replaces the books (their windows share the reserved entries).
 */
export interface ClientTicket {
  readonly held: readonly { readonly books: keyof TeamBooks; readonly name: string; readonly reservation: TokenEntry | undefined }[]
}

function account(label: string, limits: TeamLimits, old: TeamAccountState | undefined): TeamAccountState {
  return {
    label,
    limits,
    // What the windows hold carries over, under the new limits: a reload never hands out a fresh minute.
    rpm: old?.rpm.withLimit(limits.rpm_limit) ?? new RequestWindow(limits.rpm_limit),
    tpm: old?.tpm.withLimit(limits.tpm_limit) ?? new TokenWindow(limits.tpm_limit),
    inflight: old?.inflight ?? 0,
  }
}

/** Books for `config`'s clients and groups, keeping what each one's windows hold across a reload. */
export function buildTeam(config: RelayConfig, previous: TeamBooks | undefined): TeamBooks {
  const { clients, groups } = config.server.auth
  return {
    clients: new Map(clients.map((c) => [c.name, account(`client ${c.name}`, c, previous?.clients.get(c.name))])),
    groups: new Map(groups.map((g) => [g.name, account(`group ${g.name}`, g, previous?.groups.get(g.name))])),
  }
}

/** One concurrency slot frees up about when a typical short request ends; the client is told to retry then. */
const CONCURRENCY_RETRY_MS = 1000

/** Why `a` cannot take one more request of `tokens` now, or undefined. */
function refusalOf(a: TeamAccountState, tokens: number, now: number): ClientReply | undefined {
  const { rpm_limit, tpm_limit, max_concurrent } = a.limits
  if (max_concurrent > 0 && a.inflight >= max_concurrent) {
    return { ok: false, retryAfterMs: CONCURRENCY_RETRY_MS, error: relayError('rate_limited', `${a.label} already has ${a.inflight} requests in flight (its max_concurrent is ${max_concurrent})`) }
  }
  const rpmWait = a.rpm.waitMs(now)
  if (rpmWait > 0) {
    return { ok: false, retryAfterMs: rpmWait, error: relayError('rate_limited', `${a.label} is at its limit of ${rpm_limit} requests per minute; retry in ${Math.ceil(rpmWait / 1000)} s`) }
  }
  const tpmWait = a.tpm.waitMs(tokens, now)
  if (tpmWait > 0) {
    return { ok: false, retryAfterMs: tpmWait, error: relayError('rate_limited', `${a.label} is at its limit of ${tpm_limit} tokens per minute; retry in ${Math.ceil(tpmWait / 1000)} s`) }
  }
  return undefined
}

export function admitClient(team: TeamBooks, tickets: Map<number, ClientTicket>, ticketId: number, ask: ClientAdmit, now: number): ClientReply {
  // A client removed by a reload is refused by the new key list; one mid-request just passes.
  const accounts: { books: keyof TeamBooks; name: string; account: TeamAccountState }[] = []
  const client = ask.client === '' ? undefined : team.clients.get(ask.client)
  if (client) accounts.push({ books: 'clients', name: ask.client, account: client })
  const group = ask.group === undefined ? undefined : team.groups.get(ask.group)
  if (group) accounts.push({ books: 'groups', name: ask.group!, account: group })
  if (accounts.length === 0) return { ok: true, ticket: 0 }
  // Every account must have room before any of them is charged.
  for (const { account: a } of accounts) {
    const refused = refusalOf(a, ask.estimateTokens, now)
    if (refused) return refused
  }
  const held = accounts.map(({ books, name, account: a }) => {
    a.rpm.admit(now)
    a.inflight++
    return { books, name, reservation: a.tpm.reserve(ask.estimateTokens, now) }
  })
  tickets.set(ticketId, { held })
  return { ok: true, ticket: ticketId }
}

export function releaseClient(team: TeamBooks, tickets: Map<number, ClientTicket>, ticketId: number, tokens: number, now: number): void {
  const ticket = tickets.get(ticketId)
  if (!ticket) return
  tickets.delete(ticketId)
  for (const { books, name, reservation } of ticket.held) {
    const a = team[books].get(name)
    if (!a) continue
    a.inflight = Math.max(0, a.inflight - 1)
    a.tpm.settle(reservation, tokens, now)
  }
}
