/**
 * The company's identity provider, through openid-client (CONTRACT §12): discovery at
 * `{issuer}/.well-known/openid-configuration`, the authorization code flow with PKCE, state and nonce,
 * the callback's checks (the id_token's signature against the IdP's JWKS, issuer, audience, nonce,
 * expiry — all openid-client's), and refresh, which asks the IdP again each time so a user removed
 * there is out at their next refresh. Discovery runs at start and again on demand while it fails, so
 * an IdP that is down at boot does not need a restart.
 */
import * as oidc from 'openid-client'
import type { SsoConfig } from '../config/types.js'
import { isLoopbackHost } from '../config/sso-checks.js'

/** The IdP said no (RFC 6749 `invalid_grant`): the refresh token is dead, the user signs in again. */
export class IdpRefused extends Error {}
/** The IdP could not be asked (down, slow, misconfigured): nothing is decided. */
export class IdpUnavailable extends Error {}

export interface IdpAnswer {
  readonly claims: Readonly<Record<string, unknown>>
  readonly refreshToken: string | undefined
}

const TIMEOUT_S = 10

export class IdentityProvider {
  readonly #sso: SsoConfig
  #config: Promise<oidc.Configuration> | undefined

  constructor(sso: SsoConfig) {
    this.#sso = sso
  }

  /** The discovered configuration; a failed discovery is forgotten so the next call tries again. */
  configuration(): Promise<oidc.Configuration> {
    if (this.#config) return this.#config
    const issuer = new URL(this.#sso.issuer)
    const insecure = issuer.protocol === 'http:' && isLoopbackHost(issuer.hostname)
    const secret = this.#sso.client_secret
    const attempt = oidc.discovery(issuer, this.#sso.client_id, secret === '' ? undefined : secret, secret === '' ? oidc.None() : undefined, {
      timeout: TIMEOUT_S,
      // openid-client trusts an id_token from the token endpoint on TLS alone (OIDC Core §3.1.3.7 allows
      // it); CONTRACT §12 wants its signature checked against the IdP's JWKS as well.
      execute: [oidc.enableNonRepudiationChecks, ...(insecure ? [oidc.allowInsecureRequests] : [])],
    })
    this.#config = attempt
    attempt.catch(() => {
      if (this.#config === attempt) this.#config = undefined
    })
    return attempt
  }

  async authorizationUrl(redirectUri: string, checks: { state: string; nonce: string; verifier: string }): Promise<URL> {
    const config = await this.configuration()
    return oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: this.#sso.scopes.join(' '),
      response_type: 'code',
      state: checks.state,
      nonce: checks.nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(checks.verifier),
      code_challenge_method: 'S256',
    })
  }

  /** The callback's code for tokens; throws when anything about the answer is wrong. */
  async exchange(callbackUrl: URL, checks: { state: string; nonce: string; verifier: string }): Promise<IdpAnswer> {
    const config = await this.configuration()
    const tokens = await oidc.authorizationCodeGrant(config, callbackUrl, {
      pkceCodeVerifier: checks.verifier,
      expectedState: checks.state,
      expectedNonce: checks.nonce,
      idTokenExpected: true,
    })
    return { claims: await this.#claims(config, tokens), refreshToken: tokens.refresh_token }
  }

  async refresh(refreshToken: string): Promise<IdpAnswer> {
    let config: oidc.Configuration
    try {
      config = await this.configuration()
    } catch (err) {
      throw new IdpUnavailable(`discovery failed: ${(err as Error).message}`)
    }
    let tokens: Awaited<ReturnType<typeof oidc.refreshTokenGrant>>
    try {
      tokens = await oidc.refreshTokenGrant(config, refreshToken)
    } catch (err) {
      if (err instanceof oidc.ResponseBodyError && err.error === 'invalid_grant') throw new IdpRefused('the identity provider refused the refresh token')
      throw new IdpUnavailable((err as Error).message)
    }
    try {
      return { claims: await this.#claims(config, tokens), refreshToken: tokens.refresh_token }
    } catch (err) {
      throw new IdpUnavailable((err as Error).message)
    }
  }

  /**
   * The id_token's claims, completed from userinfo when the email or the groups claim is missing
   * (some IdPs keep groups out of the id_token, and a refresh may bring no id_token at all).
   */
  async #claims(config: oidc.Configuration, tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers): Promise<Record<string, unknown>> {
    const idClaims = tokens.claims() as Record<string, unknown> | undefined
    const complete = idClaims !== undefined && typeof idClaims['email'] === 'string' && idClaims[this.#sso.groups_claim] !== undefined
    if (complete || !tokens.access_token || !config.serverMetadata().userinfo_endpoint) {
      if (idClaims === undefined) throw new Error('the identity provider sent neither an id_token nor a userinfo endpoint')
      return idClaims
    }
    const subject = typeof idClaims?.['sub'] === 'string' ? idClaims['sub'] : oidc.skipSubjectCheck
    const info = (await oidc.fetchUserInfo(config, tokens.access_token, subject)) as Record<string, unknown>
    // The id_token's own claims win; userinfo fills in what it left out.
    return { ...info, ...(idClaims ?? {}) }
  }
}
