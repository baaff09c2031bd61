/**
 * The OAuth endpoints Claude Code calls (CONTRACT §12, RFC 8414, RFC 8628, RFC 7009): discovery
 * metadata, device authorization, the token endpoint (device and refresh grants) and revocation. They
 * answer directly (Claude Code follows no redirect here) in RFC 6749's error shape, and ignore
 * parameters they do not know (Claude Code sends `surface=claude_code`, and may send more one day).
 */
import type { SignIn } from './service.js'
import { IdpRefused, IdpUnavailable } from './idp.js'
import { mapIdentity } from './identity.js'
import { json, oauthError, parseForm } from './http.js'
import type { Reply, SigninRequest } from './http.js'
import { RateLimit } from './rate-limit.js'
import { DEVICE_TTL_S, normalizeUserCode } from './state.js'
import type { SignedInUser } from './state.js'
import { sha256 } from './seal.js'
import { TokenService } from './tokens.js'

export const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code'
const INTERVAL_S = 5
/** How long a rotated refresh token still gets its rotation's answer. */
const ROTATION_GRACE_S = 60
const TOKEN_PARAMS = ['grant_type', 'device_code', 'refresh_token', 'client_id', 'scope']

const isForm = (request: SigninRequest): boolean => /^application\/x-www-form-urlencoded\b/i.test(request.headers['content-type'] ?? '')

export class OAuthEndpoints {
  readonly #signin: SignIn
  /** RFC 8628 §5.1: starting sign-ins is cheap for a stranger; 30 per 10 minutes per address. */
  readonly #starts = new RateLimit(30, 600_000)
  /** Last poll per device code (hashed), for `slow_down`. */
  readonly #polls = new Map<string, number>()
  /** Refreshes in flight per refresh token (hashed): concurrent duplicates share one answer. */
  readonly #refreshing = new Map<string, Promise<Reply>>()
  #warnedNoRefresh = false

  constructor(signin: SignIn) {
    this.#signin = signin
  }

  metadata = async (): Promise<Reply> => {
    const base = this.#signin.base
    return json(200, {
      issuer: base,
      device_authorization_endpoint: `${base}/oauth/device_authorization`,
      token_endpoint: `${base}/oauth/token`,
      revocation_endpoint: `${base}/oauth/revoke`,
      grant_types_supported: [DEVICE_GRANT, ...(this.#signin.sso.refresh ? ['refresh_token'] : [])],
      response_types_supported: [],
      token_endpoint_auth_methods_supported: ['none'],
      revocation_endpoint_auth_methods_supported: ['none'],
    })
  }

  deviceAuthorization = async (request: SigninRequest): Promise<Reply> => {
    if (!this.#starts.allow(request.peer)) return oauthError('slow_down', 'too many sign-ins were started from this address; wait a few minutes', 429)
    const form = parseForm(request.body, ['surface'])
    if (form === 'duplicate') return oauthError('invalid_request', 'a parameter was given twice')
    const surface = (form.get('surface') ?? '').replace(/[^\w.-]/g, '').slice(0, 64)
    const { deviceCode, userCode } = await this.#signin.state.createDevice(request.peer, surface)
    const verification = `${this.#signin.base}/device`
    return json(200, {
      device_code: deviceCode,
      user_code: userCode,
      verification_uri: verification,
      verification_uri_complete: `${verification}?user_code=${encodeURIComponent(userCode)}`,
      expires_in: DEVICE_TTL_S,
      interval: INTERVAL_S,
    })
  }

  token = async (request: SigninRequest): Promise<Reply> => {
    if (!isForm(request)) return oauthError('invalid_request', 'the body must be application/x-www-form-urlencoded')
    const form = parseForm(request.body, TOKEN_PARAMS)
    if (form === 'duplicate') return oauthError('invalid_request', 'a parameter was given twice')
    const grant = form.get('grant_type')
    if (grant === DEVICE_GRANT) return this.#deviceGrant(form.get('device_code'))
    if (grant === 'refresh_token') return this.#refreshGrant(form.get('refresh_token'), request.requestId)
    return oauthError(grant === undefined ? 'invalid_request' : 'unsupported_grant_type')
  }

  async #deviceGrant(deviceCode: string | undefined): Promise<Reply> {
    if (!deviceCode) return oauthError('invalid_request', 'device_code is required')
    const record = await this.#signin.state.poll(deviceCode)
    if (record === undefined) return oauthError('expired_token', 'the device code is unknown, used or expired; sign in again')
    if (record.status === 'denied') return oauthError('access_denied', 'the sign-in was refused')
    if (record.status === 'pending') {
      // RFC 8628 §3.5: a client polling faster than `interval` is told to slow down.
      const key = sha256(deviceCode)
      const now = Date.now()
      const last = this.#polls.get(key)
      this.#polls.set(key, now)
      if (this.#polls.size > 10_000) this.#polls.clear()
      if (last !== undefined && now - last < (INTERVAL_S - 1) * 1000) return oauthError('slow_down')
      return oauthError('authorization_pending')
    }
    return this.#issue(record.user!, record.idpRefresh)
  }

  #refreshGrant(refreshToken: string | undefined, requestId: string): Promise<Reply> {
    if (!refreshToken) return Promise.resolve(oauthError('invalid_request', 'refresh_token is required'))
    const key = sha256(refreshToken)
    const running = this.#refreshing.get(key)
    if (running) return running
    const answer = this.#refreshOnce(refreshToken, requestId).finally(() => this.#refreshing.delete(key))
    this.#refreshing.set(key, answer)
    return answer
  }

  async #refreshOnce(refreshToken: string, requestId: string): Promise<Reply> {
    const { state, revocations, idp, sso, deps } = this.#signin
    // A duplicate of a refresh that just rotated this token gets that same answer (for a minute).
    const rotated = await state.rotationOf(refreshToken)
    if (rotated !== undefined) return json(200, rotated)
    const session = await state.takeSession(refreshToken)
    // 401 invalid_grant: Claude Code drops its refresh token and asks the user to sign in again.
    if (session === undefined) return oauthError('invalid_grant', 'the refresh token is unknown, used or revoked', 401)
    const revokedAt = revocations.userRevokedAt(session.user.email)
    if (revokedAt !== undefined && revokedAt >= session.createdAt) return oauthError('invalid_grant', 'this sign-in was revoked', 401)
    let answer
    try {
      answer = await idp.refresh(session.idpRefresh)
    } catch (err) {
      if (err instanceof IdpRefused) {
        deps.log.info({ email: session.user.email, request_id: requestId }, 'sign-in: the identity provider refused a refresh; the user must sign in again')
        return oauthError('invalid_grant', 'your identity provider ended this sign-in', 401)
      }
      if (!(err instanceof IdpUnavailable)) throw err
      await state.restoreSession(refreshToken, session)
      deps.log.warn({ err: err.message, request_id: requestId }, 'sign-in: the identity provider could not be asked to refresh')
      return oauthError('temporarily_unavailable', 'the identity provider cannot be reached; try again shortly', 503)
    }
    const mapped = mapIdentity(answer.claims, sso, this.#signin.groups.map((g) => g.name))
    if (!mapped.ok) return oauthError('invalid_grant', mapped.reason, 401)
    const body = await this.#tokens(mapped.user, answer.refreshToken ?? session.idpRefresh)
    await state.rememberRotation(refreshToken, body, ROTATION_GRACE_S)
    return json(200, body)
  }

  async #issue(user: SignedInUser, idpRefresh: string | undefined): Promise<Reply> {
    return json(200, await this.#tokens(user, idpRefresh))
  }

  async #tokens(user: SignedInUser, idpRefresh: string | undefined): Promise<Record<string, unknown>> {
    const { sso, tokens, state, deps } = this.#signin
    const { token } = await tokens.mint(user, sso.token_ttl_s)
    let refreshToken: string | undefined
    if (sso.refresh && idpRefresh) refreshToken = await state.createSession({ user, idpRefresh, createdAt: Date.now() })
    else if (sso.refresh && !this.#warnedNoRefresh) {
      this.#warnedNoRefresh = true
      deps.log.warn({}, 'sign-in: the identity provider issued no refresh token, so users sign in again when their token expires; add offline_access to server.auth.sso.scopes (Okta, Entra) or enable refresh tokens for the client')
    }
    await state.touchUser(user)
    return { access_token: token, token_type: 'Bearer', expires_in: sso.token_ttl_s, ...(refreshToken ? { refresh_token: refreshToken } : {}), email: user.email }
  }

  /** RFC 7009: the access token (by its jti) or the refresh token; 200 whatever was sent, as the RFC asks. */
  revoke = async (request: SigninRequest): Promise<Reply> => {
    const form = parseForm(request.body, ['token', 'token_type_hint'])
    if (form === 'duplicate') return oauthError('invalid_request', 'a parameter was given twice')
    const token = form.get('token')
    if (!token) return oauthError('invalid_request', 'token is required')
    const claims = TokenService.looksLikeJwt(token) ? this.#signin.tokens.signedClaims(token) : undefined
    if (claims) await this.#signin.revocations.revokeToken(claims)
    else await this.#signin.state.dropSession(token)
    return { status: 200, body: '' }
  }
}

/** For the device page: a user code as typed, made safe to show again. */
export const displayUserCode = (code: string): string => {
  const n = normalizeUserCode(code).slice(0, 8)
  return n.length === 8 ? `${n.slice(0, 4)}-${n.slice(4)}` : n
}
