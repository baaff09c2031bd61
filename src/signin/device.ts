/**
 * The browser half of sign-in (CONTRACT §12, RFC 8628 §3.3): `GET /device` shows the code (pre-filled
 * from `?user_code=`, never submitted for the user), `POST /device` — same-origin only, rate-limited per
 * address — checks it and sends the browser to the IdP (authorization code + PKCE + state + nonce), and
 * `GET /oauth/callback` has openid-client validate the IdP's answer, maps the user to relay groups and
 * approves the device code. A cookie set on the POST binds the callback to the browser that started it,
 * so a callback link sent to someone else approves nothing.
 */
import { timingSafeEqual } from 'node:crypto'
import { randomNonce, randomPKCECodeVerifier } from 'openid-client'
import type { SignIn } from './service.js'
import { cookie, parseForm } from './http.js'
import type { Reply, SigninRequest } from './http.js'
import { mapIdentity } from './identity.js'
import { displayUserCode } from './oauth.js'
import { deniedPage, devicePage, resultPage } from './pages.js'
import { RateLimit } from './rate-limit.js'
import { randomToken, sha256 } from './seal.js'

const FLOW_TTL_S = 600

export class DevicePages {
  readonly #signin: SignIn
  /** RFC 8628 §5.1: the user code is short, so guessing it must be slow: 10 tries per 10 minutes per address. */
  readonly #tries = new RateLimit(10, 600_000)

  constructor(signin: SignIn) {
    this.#signin = signin
  }

  get #secure(): boolean {
    return this.#signin.base.startsWith('https://')
  }

  /** `__Host-` keeps the cookie to this exact origin; browsers accept it only with Secure. */
  get #cookieName(): string {
    return this.#secure ? '__Host-cc_relay_signin' : 'cc_relay_signin'
  }

  #cookie(value: string, maxAge: number): string {
    return `${this.#cookieName}=${value}; Max-Age=${maxAge}; Path=/; HttpOnly; SameSite=Lax${this.#secure ? '; Secure' : ''}`
  }

  /** The form may post here and (by redirect) to the IdP's authorization endpoint; nowhere else. */
  async #formAction(): Promise<string | undefined> {
    try {
      const endpoint = (await this.#signin.idp.configuration()).serverMetadata().authorization_endpoint
      return endpoint ? `'self' ${new URL(endpoint).origin}` : undefined
    } catch {
      return undefined
    }
  }

  show = async (request: SigninRequest): Promise<Reply> => {
    const formAction = await this.#formAction()
    if (formAction === undefined) return resultPage({ ok: false, message: 'The identity provider cannot be reached right now. Try again in a few minutes.' }, 503)
    const code = request.query.get('user_code')
    return devicePage({ prefill: code ? displayUserCode(code) : undefined, formAction })
  }

  /** Same-origin only: a page elsewhere must not be able to submit a code for the user. */
  #sameOrigin(request: SigninRequest): boolean {
    const site = request.headers['sec-fetch-site']
    if (site !== undefined) return site === 'same-origin'
    const origin = request.headers['origin']
    return origin !== undefined && origin === new URL(this.#signin.base).origin
  }

  submit = async (request: SigninRequest): Promise<Reply> => {
    const formAction = (await this.#formAction()) ?? "'self'"
    if (!this.#sameOrigin(request)) return devicePage({ formAction, status: 403, error: 'This request came from another site and was blocked. Open the link your terminal shows.' })
    if (!this.#tries.allow(request.peer)) return devicePage({ formAction, status: 429, error: 'Too many attempts from your address. Wait a few minutes and try again.' })
    const form = parseForm(request.body, ['user_code', 'action'])
    const typed = form === 'duplicate' ? '' : (form.get('user_code') ?? '')
    const found = await this.#signin.state.findPending(typed)
    if (!found) return devicePage({ formAction, status: 400, error: 'That code was not recognised: it may have expired. Check your terminal and try again.' })
    if (form !== 'duplicate' && form.get('action') === 'deny') {
      await this.#signin.state.settle(found, 'denied')
      return deniedPage()
    }
    const verifier = randomPKCECodeVerifier()
    const nonce = randomNonce()
    const browserSecret = randomToken(32)
    const state = await this.#signin.state.startFlow({ deviceKey: found.key, verifier, nonce, browser: sha256(browserSecret) })
    let location: URL
    try {
      location = await this.#signin.idp.authorizationUrl(`${this.#signin.base}/oauth/callback`, { state, nonce, verifier })
    } catch {
      return resultPage({ ok: false, message: 'The identity provider cannot be reached right now. Try again in a few minutes.' }, 503)
    }
    return { status: 302, body: '', headers: ['location', location.href, 'set-cookie', this.#cookie(browserSecret, FLOW_TTL_S)] }
  }

  callback = async (request: SigninRequest): Promise<Reply> => {
    const { state: records, idp, sso, deps } = this.#signin
    const clear = ['set-cookie', this.#cookie('', 0)]
    const withClear = (page: Reply): Reply => ({ ...page, headers: [...(page.headers ?? []), ...clear] })
    const fail = (message: string, status = 400): Reply => withClear(resultPage({ ok: false, message }, status))
    const state = request.query.get('state')
    const flow = state ? await records.takeFlow(state) : undefined
    if (!state || !flow) return fail('This sign-in link is not valid or has expired.')
    const given = sha256(cookie(request.headers['cookie'], this.#cookieName) ?? '')
    if (!timingSafeEqual(Buffer.from(given), Buffer.from(flow.browser))) return fail('This sign-in was started in another browser. Open the link from your terminal in the browser you sign in with.')
    const found = await records.pendingAt(flow.deviceKey)
    if (!found) return fail('This code has already been used or has expired. Start the sign-in again from your terminal.')

    const idpError = request.query.get('error')
    if (idpError) {
      await records.settle(found, 'denied')
      const description = request.query.get('error_description')
      return fail(`The identity provider refused the sign-in: ${idpError}${description ? ` (${description})` : ''}`.slice(0, 300))
    }
    let answer
    try {
      answer = await idp.exchange(new URL(`${this.#signin.base}/oauth/callback?${request.query}`), { state, nonce: flow.nonce, verifier: flow.verifier })
    } catch (err) {
      deps.log.warn({ err: (err as Error).message, request_id: request.requestId }, 'sign-in: the identity provider\'s answer did not verify')
      await records.settle(found, 'denied')
      return fail('The identity provider\'s answer could not be verified.')
    }
    const mapped = mapIdentity(answer.claims, sso, this.#signin.groups.map((g) => g.name))
    if (!mapped.ok) {
      deps.log.info({ reason: mapped.reason, request_id: request.requestId }, 'sign-in: refused')
      await records.settle(found, 'denied')
      return fail(mapped.reason, 403)
    }
    if (!(await records.settle(found, { user: mapped.user, idpRefresh: answer.refreshToken }))) return fail('This code has already been used or has expired.')
    deps.log.info({ email: mapped.user.email, groups: mapped.user.groups, request_id: request.requestId }, 'sign-in: approved')
    return withClear(resultPage({ ok: true, email: mapped.user.email }))
  }
}
