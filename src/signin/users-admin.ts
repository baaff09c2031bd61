/**
 * The admin side of signed-in users (CONTRACT §2 `cc-relay users`): `GET /users.json` lists them (email,
 * relay groups, first and last seen, spend this UTC month) and `POST /users/revoke` with
 * `{"email": …}` ends every token and refresh session of one user at once. Both are admin endpoints
 * (`server.admin`), answered only while sign-in is on.
 */
import type { AdminAuth } from '../admin/admin-auth.js'
import { envelopeFor } from '../shared/errors.js'
import type { RelayErrorData } from '../shared/errors.js'
import type { SignIn } from './service.js'
import { json } from './http.js'
import type { Reply, SigninRequest } from './http.js'

export interface UserRow {
  readonly email: string
  readonly name: string
  readonly groups: readonly string[]
  readonly first_seen: string
  readonly last_seen: string
  readonly spend_usd_month: number
}

/** Signed-in users as `cc-relay users`, `/users.json` and the status page show them: no token, no secret. */
export async function userRows(signin: SignIn, now = Date.now()): Promise<UserRow[]> {
  const ledger = signin.deps.ledger()
  return (await signin.state.users()).map((u) => ({
    email: u.email,
    name: u.name,
    groups: u.groups,
    first_seen: new Date(u.firstSeen).toISOString(),
    last_seen: new Date(u.lastSeen).toISOString(),
    spend_usd_month: Math.round((ledger?.spent(u.email, 'month', now) ?? 0) * 1e6) / 1e6,
  }))
}

const relayErrorReply = (error: RelayErrorData, requestId: string): Reply => {
  const { status, body } = envelopeFor(error, requestId)
  return { status, body, contentType: 'application/json' }
}

export class UsersAdmin {
  readonly #signin: SignIn
  readonly #auth: () => AdminAuth

  constructor(signin: SignIn, auth: () => AdminAuth) {
    this.#signin = signin
    this.#auth = auth
  }

  #refused(request: SigninRequest): Reply | undefined {
    const refused = this.#auth().check(request.headers['authorization'] ?? '', request.peer)
    return refused ? relayErrorReply(refused, request.requestId) : undefined
  }

  list = async (request: SigninRequest): Promise<Reply> => {
    const refused = this.#refused(request)
    if (refused) return refused
    return json(200, await userRows(this.#signin))
  }

  revoke = async (request: SigninRequest): Promise<Reply> => {
    const refused = this.#refused(request)
    if (refused) return refused
    let email: unknown
    try {
      email = (JSON.parse(request.body.toString('utf8')) as { email?: unknown }).email
    } catch {
      email = undefined
    }
    if (typeof email !== 'string' || !email.includes('@')) return relayErrorReply({ code: 'invalid_field', message: 'the body must be {"email": "user@example.com"}' }, request.requestId)
    const sessions = await this.#signin.revokeUser(email)
    return json(200, { email: email.trim().toLowerCase(), revoked: true, sessions_ended: sessions })
  }
}
