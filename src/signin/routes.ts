/**
 * The sign-in paths for the server's route table (CONTRACT §4): present only while `server.auth.sso`
 * is on, so with it off they are unknown paths (404) like any other.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js'
import type { AdminAuth } from '../admin/admin-auth.js'
import { DevicePages } from './device.js'
import { serve } from './http.js'
import { MemberEndpoints } from './member.js'
import { OAuthEndpoints } from './oauth.js'
import type { SignIn } from './service.js'
import { UsersAdmin } from './users-admin.js'

export interface SigninRoute {
  readonly path: string
  readonly method: 'get' | 'post'
  readonly handle: (res: HttpResponse, req: HttpRequest) => void
}

/** Forms are a few hundred bytes; 64 KiB leaves room and nothing more. */
const FORM_LIMIT = 65_536

export function signinRoutes(signin: SignIn, adminAuth: () => AdminAuth, maxBodyBytes: number): SigninRoute[] {
  const oauth = new OAuthEndpoints(signin)
  const device = new DevicePages(signin)
  const member = new MemberEndpoints(signin)
  const users = new UsersAdmin(signin, adminAuth)
  const form = FORM_LIMIT
  return [
    { path: '/.well-known/oauth-authorization-server', method: 'get', handle: serve(oauth.metadata, form) },
    { path: '/oauth/device_authorization', method: 'post', handle: serve(oauth.deviceAuthorization, form) },
    { path: '/oauth/token', method: 'post', handle: serve(oauth.token, form) },
    { path: '/oauth/revoke', method: 'post', handle: serve(oauth.revoke, form) },
    { path: '/device', method: 'get', handle: serve(device.show, form) },
    { path: '/device', method: 'post', handle: serve(device.submit, form) },
    { path: '/oauth/callback', method: 'get', handle: serve(device.callback, form) },
    { path: '/managed/settings', method: 'get', handle: serve(member.managedSettings, form) },
    { path: '/api/oauth/usage', method: 'get', handle: serve(member.usage, form) },
    // Claude Code's OTLP batches can be large: the relay's own body limit applies.
    { path: '/v1/metrics', method: 'post', handle: serve(member.telemetry, maxBodyBytes) },
    { path: '/v1/logs', method: 'post', handle: serve(member.telemetry, maxBodyBytes) },
    { path: '/v1/traces', method: 'post', handle: serve(member.telemetry, maxBodyBytes) },
    { path: '/users.json', method: 'get', handle: serve(users.list, form) },
    { path: '/users/revoke', method: 'post', handle: serve(users.revoke, form) },
  ]
}
