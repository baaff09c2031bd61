/**
 * A team's named client keys (`server.auth.clients`): each has its own requests-per-minute,
 * tokens-per-minute and concurrency limits, enforced per client request (not per upstream attempt: a
 * failover is the relay's business, not the client's). Tokens are reserved at admission (the same
 * estimate the key windows use) and settled with the real usage when the request ends.
 */
import type { ClientConfig } from '../config/types.js'
import { relayError } from '../shared/errors.js'
import type { ClientAdmit, ClientReply } from '../shared/protocol.js'
import { RequestWindow, TokenWindow } from './windows.js'
import type { TokenEntry } from './windows.js'

export interface TeamClientState {
  readonly config: ClientConfig
  readonly rpm: RequestWindow
  readonly tpm: TokenWindow
  inflight: number
}

/** An admitted request's hold on its client's books, returned when the request ends. */
export interface ClientTicket {
  readonly client: string
  readonly reservation: TokenEntry | undefined
}

/** Books for `clients`, keeping what each client's windows hold across a reload (under its new limits). */
export function buildTeam(clients: readonly ClientConfig[], previous: ReadonlyMap<string, TeamClientState> | undefined): Map<string, TeamClientState> {
  const team = new Map<string, TeamClientState>()
  for (const config of clients) {
    const old = previous?.get(config.name)
    team.set(config.name, {
      config,
      rpm: old?.rpm.withLimit(config.rpm_limit) ?? new RequestWindow(config.rpm_limit),
      tpm: old?.tpm.withLimit(config.tpm_limit) ?? new TokenWindow(config.tpm_limit),
      inflight: old?.inflight ?? 0,
    })
  }
  return team
}

/** One concurrency slot frees up about when a typical short request ends; the client is told to retry then. */
const CONCURRENCY_RETRY_MS = 1000

export function admitClient(team: ReadonlyMap<string, TeamClientState>, tickets: Map<number, ClientTicket>, ticketId: number, ask: ClientAdmit, now: number): ClientReply {
  const client = team.get(ask.client)
  // A client removed by a reload is refused by the ingress's new key list; one mid-request just passes.
  if (!client) return { ok: true, ticket: 0 }
  const { name, max_concurrent } = client.config
  if (max_concurrent > 0 && client.inflight >= max_concurrent) {
    return { ok: false, retryAfterMs: CONCURRENCY_RETRY_MS, error: relayError('rate_limited', `client ${name} already has ${client.inflight} requests in flight (its max_concurrent is ${max_concurrent})`) }
  }
  const rpmWait = client.rpm.waitMs(now)
  if (rpmWait > 0) {
    return { ok: false, retryAfterMs: rpmWait, error: relayError('rate_limited', `client ${name} is at its limit of ${client.config.rpm_limit} requests per minute; retry in ${Math.ceil(rpmWait / 1000)} s`) }
  }
  const tpmWait = client.tpm.waitMs(ask.estimateTokens, now)
  if (tpmWait > 0) {
    return { ok: false, retryAfterMs: tpmWait, error: relayError('rate_limited', `client ${name} is at its limit of ${client.config.tpm_limit} tokens per minute; retry in ${Math.ceil(tpmWait / 1000)} s`) }
  }
  client.rpm.admit(now)
  client.inflight++
  tickets.set(ticketId, { client: name, reservation: client.tpm.reserve(ask.estimateTokens, now) })
  return { ok: true, ticket: ticketId }
}

export function releaseClient(team: ReadonlyMap<string, TeamClientState>, tickets: Map<number, ClientTicket>, ticketId: number, tokens: number, now: number): void {
  const ticket = tickets.get(ticketId)
  if (!ticket) return
  tickets.delete(ticketId)
  const client = team.get(ticket.client)
  if (!client) return
  client.inflight = Math.max(0, client.inflight - 1)
  client.tpm.settle(ticket.reservation, tokens, now)
}
