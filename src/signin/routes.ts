/**
 * The sign-in paths for the server's route table (CONTRACT §4): present only while `server.auth.sso`
 * is on, so with it off they are unknown paths (404) like any other.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js'
import type { AdminAuth } from '../admin/admin-auth.js'
import { DevicePages } from './device.js'
import { serve } from './http.js'
import type { Answered } from './http.js'
import { MemberEndpoints } from './member.js'
import { OAuthEndpoints } from './oauth.js'
import type { SignIn } from './service.js'
import { UsersAdmin } from './users-admin.js'
import type { SignedInUser } from './state.js'
import type { Cap } from './usage-view.js'

export interface SigninRoute {
  readonly path: string
  readonly method: 'get' | 'post'
  readonly handle: (res: HttpResponse, req: HttpRequest) => void
}

/** Forms are a few hundred bytes; 64 KiB leaves room and nothing more. */
const FORM_LIMIT = 65_536

export function signinRoutes(signin: SignIn, adminAuth: () => AdminAuth, maxBodyBytes: number, caps?: (user: SignedInUser) => readonly Cap[]): SigninRoute[] {
  const oauth = new OAuthEndpoints(signin)
  const device = new DevicePages(signin)
  const member = new MemberEndpoints(signin)
  if (caps) member.caps = caps
  const users = new UsersAdmin(signin, adminAuth)
  const form = FORM_LIMIT
  const { log } = signin.deps
  const logged: Answered = (request, status, ms) => log.info({ request_id: request.requestId, route: 'signin', method: request.method, path: request.path, status, duration_ms: Math.round(ms) }, 'request')
  // Claude Code exports telemetry every few seconds: those answers are logged at debug only.
  const quiet: Answered = (request, status, ms) => log.debug({ request_id: request.requestId, route: 'signin', method: request.method, path: request.path, status, duration_ms: Math.round(ms) }, 'request')
  return [
    { path: '/.well-known/oauth-authorization-server', method: 'get', handle: serve(oauth.metadata, form, logged) },
    { path: '/oauth/device_authorization', method: 'post', handle: serve(oauth.deviceAuthorization, form, logged) },
    { path: '/oauth/token', method: 'post', handle: serve(oauth.token, form, logged) },
    { path: '/oauth/revoke', method: 'post', handle: serve(oauth.revoke, form, logged) },
    { path: '/device', method: 'get', handle: serve(device.show, form, logged) },
    { path: '/device', method: 'post', handle: serve(device.submit, form, logged) },
    { path: '/oauth/callback', method: 'get', handle: serve(device.callback, form, logged) },
    { path: '/managed/settings', method: 'get', handle: serve(member.managedSettings, form, logged) },
    { path: '/api/oauth/usage', method: 'get', handle: serve(member.usage, form, logged) },
    // Claude Code's OTLP batches can be large: the relay's own body limit applies.
    { path: '/v1/metrics', method: 'post', handle: serve(member.telemetry, maxBodyBytes, quiet) },
    { path: '/v1/logs', method: 'post', handle: serve(member.telemetry, maxBodyBytes, quiet) },
    { path: '/v1/traces', method: 'post', handle: serve(member.telemetry, maxBodyBytes, quiet) },
    { path: '/users.json', method: 'get', handle: serve(users.list, form, logged) },
    { path: '/users/revoke', method: 'post', handle: serve(users.revoke, form, logged) },
  ]
}
