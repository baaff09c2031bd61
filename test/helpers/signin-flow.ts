/**
 * The gateway protocol's sign-in as a test drives it without Chromium: Claude Code's requests
 * (device authorization, token polls, refresh, revoke) and a browser's (the device page, its
 * same-origin POST, the IdP's redirect, the callback with the cookie the POST set), each a real HTTP
 * request to the running relay and the mock IdP. Redirects are followed by hand so each hop can be
 * checked. The Claude Code tests use the real CLI and Chromium instead.
 */
import type { Dispatcher } from 'undici'
import { fetch } from 'undici'

export interface DeviceStart {
  readonly device_code: string
  readonly user_code: string
  readonly verification_uri: string
  readonly verification_uri_complete: string
  readonly expires_in: number
  readonly interval: number
}

export interface Tokens {
  readonly access_token: string
  readonly token_type: string
  readonly expires_in: number
  readonly refresh_token?: string
  readonly email?: string
}

export interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly text: string
}

export class SigninClient {
  readonly relay: string
  readonly #dispatcher: Dispatcher | undefined

  constructor(relay: string, dispatcher?: Dispatcher) {
    this.relay = relay
    this.#dispatcher = dispatcher
  }

  async request(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
    const res = await fetch(url, { ...init, redirect: 'manual', dispatcher: this.#dispatcher, signal: AbortSignal.timeout(20_000) })
    return { status: res.status, headers: res.headers as unknown as Headers, text: await res.text() }
  }

  form(path: string, params: Record<string, string>, headers: Record<string, string> = {}): Promise<Answer> {
    return this.request(`${this.relay}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'claude-code/2.1.332', ...headers }, body: new URLSearchParams(params).toString() })
  }

  async start(): Promise<DeviceStart> {
    const answer = await this.form('/oauth/device_authorization', { surface: 'claude_code' })
    if (answer.status !== 200) throw new Error(`device authorization answered ${answer.status}: ${answer.text}`)
    return JSON.parse(answer.text) as DeviceStart
  }

  poll(deviceCode: string): Promise<Answer> {
    return this.form('/oauth/token', { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: deviceCode })
  }

  refresh(refreshToken: string): Promise<Answer> {
    return this.form('/oauth/token', { grant_type: 'refresh_token', refresh_token: refreshToken })
  }

  /**
   * The browser's part: the device page, the POST (same-origin, as a browser sends it), the IdP, the
   * callback. Returns the callback's answer (the "signed in" page, or why not).
   */
  async approve(userCode: string, opts: { action?: 'approve' | 'deny'; origin?: string } = {}): Promise<Answer> {
    const page = await this.request(`${this.relay}/device?user_code=${encodeURIComponent(userCode)}`)
    if (page.status !== 200) return page
    const posted = await this.form('/device', { user_code: userCode, action: opts.action ?? 'approve' }, { origin: opts.origin ?? new URL(this.relay).origin, 'sec-fetch-site': opts.origin ? 'cross-site' : 'same-origin' })
    if (posted.status !== 302) return posted
    const cookie = (posted.headers.get('set-cookie') ?? '').split(';')[0]!
    const idp = await this.request(posted.headers.get('location')!)
    if (idp.status !== 302) return idp
    return this.request(idp.headers.get('location')!, { headers: { cookie } })
  }

  /** Start, approve in the "browser", poll once: the token response. */
  async signIn(): Promise<Tokens> {
    const start = await this.start()
    const approved = await this.approve(start.user_code)
    if (approved.status !== 200) throw new Error(`approval answered ${approved.status}: ${approved.text}`)
    const answer = await this.poll(start.device_code)
    if (answer.status !== 200) throw new Error(`token poll answered ${answer.status}: ${answer.text}`)
    return JSON.parse(answer.text) as Tokens
  }
}
