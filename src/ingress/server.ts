/**
 * The uWS server: the route table, listen and close. uWS is the only code that touches client sockets.
 */
import uWS from 'uWebSockets.js'
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js'
import type { Route } from '../../plugins/sdk.js'
import { relayError } from '../shared/errors.js'
import { fault } from '../shared/faults.js'
import { nextRequestId } from './request-id.js'
import { handleAdmin } from '../admin/routes.js'
import { handleModels } from './models.js'
import { handleRelay } from './relay-handler.js'
import type { RelayDeps } from './relay-handler.js'
import { sendError, sendJson } from './respond.js'
import { logAnswered } from './request-log.js'
import { signinRoutes } from '../signin/routes.js'
import { capsOf } from '../signin/caps.js'
import type { SignedInUser } from '../signin/state.js'

/**
 * The repackaged uWS build silently falls back to a `ws`-based shim on an unsupported Node, where
 * onWritable/tryEnd throw (STACK.md). The native App is a C++ function; the shim is plain JavaScript.
 */
export function assertNativeUws(): void {
  if (!/\[native code\]/.test(Function.prototype.toString.call(uWS.App))) {
    throw new Error(`uWebSockets.js has no native binary for Node ${process.version}; cc-relay needs Node 20 (see .nvmrc)`)
  }
}

/** CONTRACT §4: every answer carries the relay's id. */
const idHeaders = (id: string): string[] => ['request-id', id, 'x-cc-relay-request-id', id]

type Handler = (res: HttpResponse, req: HttpRequest) => void
interface RouteEntry {
  readonly method: string
  readonly handle: Handler
}

export interface Listening {
  readonly url: string
  /** Stops accepting connections; requests in flight go on. */
  stopAccepting(): void
}

function routes(deps: RelayDeps): Map<string, RouteEntry> {
  const relay = (route: Route): Handler => (res, req) => handleRelay(deps, route, res, req)
  return new Map<string, RouteEntry>([
    ['/v1/messages', { method: 'post', handle: relay('messages') }],
    ['/v1/messages/count_tokens', { method: 'post', handle: relay('count_tokens') }],
    ['/v1/models', { method: 'get', handle: (res, req) => handleModels(deps, res, req, undefined) }],
    // CONTRACT §4: ok once listening with a ready pool, which is the only time this server exists.
    ['/health', { method: 'get', handle: (res) => sendJson(res, { aborted: false }, 200, '{"status":"ok"}', idHeaders(nextRequestId())) }],
    // Admin (CONTRACT §4): server.admin.api_key, else loopback peers only.
    ['/status', { method: 'get', handle: (res, req) => handleAdmin(deps.admin, 'page', res, req) }],
    ['/status.json', { method: 'get', handle: (res, req) => handleAdmin(deps.admin, 'status', res, req) }],
    ['/usage.json', { method: 'get', handle: (res, req) => handleAdmin(deps.admin, 'usage', res, req) }],
    ['/metrics', { method: 'get', handle: (res, req) => handleAdmin(deps.admin, 'metrics', res, req) }],
  ])
}

/**
 * The last boundary of a request's synchronous part. uWS aborts the whole process (C++ terminate) when
 * a handler returns without answering or attaching onAborted, which is what a throw does; so a fault
 * here is reported and answered with a 500, closing the connection (a body may still be arriving).
 * If the handler had already answered, the write throws too and there is nothing more to say.
 */
function answerFault(res: HttpResponse, err: unknown): void {
  const requestId = nextRequestId()
  fault('ingress.handler', err, requestId)
  try {
    sendError(res, { aborted: false }, relayError('internal', 'the relay failed while reading this request'), requestId, true)
  } catch {
    // Already answered (or aborted): the response is the handler's, as it left it.
  }
}

/** CONTRACT §12: the sign-in paths, keyed `method path` (`/device` has two), only while sso is on. */
function signinTable(deps: RelayDeps): Map<string, Handler> {
  if (!deps.signin) return new Map()
  // A user's caps for /api/oauth/usage: the budgets admission holds them to (member and group budgets).
  const caps = (user: SignedInUser) => capsOf(deps.admission.book.user(user.email, user.groups), deps.telemetry.ledger)
  const entries = signinRoutes(deps.signin, () => deps.admin.auth, deps.config.server.max_body_bytes, caps)
  const table = new Map<string, Handler>(entries.map((r) => [`${r.method} ${r.path}`, r.handle]))
  for (const path of new Set(entries.map((r) => r.path))) {
    const allow = entries.filter((r) => r.path === path).map((r) => r.method.toUpperCase()).join(', ')
    table.set(`* ${path}`, (res, req) => {
      const hasBody = req.getHeader('content-length') !== '' || req.getHeader('transfer-encoding') !== ''
      sendError(res, { aborted: false }, relayError('method_not_allowed', `${req.getMethod().toUpperCase()} is not allowed on ${path}; use ${allow}`), nextRequestId(), hasBody, ['allow', allow])
    })
  }
  return table
}

export function createApp(deps: RelayDeps): TemplatedApp {
  const { cert_file, key_file } = deps.config.server.tls
  const app = cert_file ? uWS.SSLApp({ cert_file_name: cert_file, key_file_name: key_file }) : uWS.App()
  const table = routes(deps)
  const signin = signinTable(deps)
  app.any('/*', (res, req) => {
    try {
      const handle = signin.size > 0 ? (signin.get(`${req.getMethod()} ${req.getUrl()}`) ?? signin.get(`* ${req.getUrl()}`)) : undefined
      if (handle) return handle(res, req)
      route(deps, table, res, req)
    } catch (err) {
      answerFault(res, err)
    }
  })
  return app
}

function route(deps: RelayDeps, table: Map<string, RouteEntry>, res: HttpResponse, req: HttpRequest): void {
  const path = req.getUrl()
  const method = req.getMethod()
  const modelId = /^\/v1\/models\/([^/]+)$/.exec(path)?.[1]
  if (modelId !== undefined && method === 'get') return handleModels(deps, res, req, percentDecoded(modelId))
  const entry = table.get(path)
  if (entry && entry.method === method) return entry.handle(res, req)
  const startedAt = performance.now()
  const state = { aborted: false }
  const requestId = nextRequestId()
  // Answered before any body is read: close the connection rather than parse what follows.
  const hasBody = req.getHeader('content-length') !== '' || req.getHeader('transfer-encoding') !== ''
  const known = entry ?? (modelId !== undefined ? { method: 'get' } : undefined)
  const error = known
    ? relayError('method_not_allowed', `${method.toUpperCase()} is not allowed on ${path}; use ${known.method.toUpperCase()}`)
    : relayError('not_found', `no such endpoint: ${method.toUpperCase()} ${path}`)
  const status = sendError(res, state, error, requestId, hasBody, known ? ['allow', known.method.toUpperCase()] : [])
  logAnswered(deps.log, { request_id: requestId, route: known ? routeName(path) : '', method, path, status, startedAt, error })
}

/** The request log's `route` for a known path answered 405. */
function routeName(path: string): string {
  if (path === '/v1/messages') return 'messages'
  if (path === '/v1/messages/count_tokens') return 'count_tokens'
  if (path.startsWith('/v1/models')) return 'models'
  return path.slice(1)
}

/** A path segment decoded; a malformed escape (`%E0%A4%A`) stays as written, so it is simply a model nobody serves. */
function percentDecoded(segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    return segment
  }
}

/** `host:port` or `[v6]:port` → parts. The config loader has already checked the shape. */
export function splitListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(listen)
  if (!m) throw new Error(`listen address must be host:port, got ${JSON.stringify(listen)}`)
  return { host: m[1] ?? m[2]!, port: Number(m[3]) }
}

/**
 * uSockets' LIBUS_LISTEN_EXCLUSIVE_PORT (docs/index.d.ts `ListenOptions`): without it uWS sets
 * SO_REUSEPORT, so a second relay on a taken port listens too and the kernel splits the connections
 * between them (two configs silently serving one team). Exclusive, the bind fails with EADDRINUSE.
 */
const LISTEN_EXCLUSIVE_PORT = 1
/** Reuse on purpose (`serve --reuse-port`): several relays that all asked for it share the port. */
const LISTEN_REUSE_PORT = 0

type ListenWithOptions = (host: string, port: number, options: number, cb: (socket: us_listen_socket | false) => void) => TemplatedApp

export function listen(app: TemplatedApp, address: string, tls: boolean, reusePort = false): Promise<Listening> {
  const { host, port } = splitListen(address)
  return new Promise((resolve, reject) => {
    // The native listen takes (host, port, options, cb); the bundled typings name only (port, options, cb).
    ;(app.listen as unknown as ListenWithOptions).call(app, host, port, reusePort ? LISTEN_REUSE_PORT : LISTEN_EXCLUSIVE_PORT, (socket: us_listen_socket | false) => {
      if (!socket) {
        const why = reusePort
          ? 'in use by a process that did not ask to share it (every relay on a shared port needs --reuse-port), or not an address of this machine'
          : 'in use (another relay?), or not an address of this machine; to share a port on purpose, start every relay on it with --reuse-port'
        return reject(new Error(`cannot listen on ${address}: ${address} is ${why}`))
      }
      const bound = uWS.us_socket_local_port(socket)
      const shownHost = host.includes(':') ? `[${host}]` : host
      resolve({
        url: `${tls ? 'https' : 'http'}://${shownHost}:${bound}`,
        stopAccepting: () => uWS.us_listen_socket_close(socket),
      })
    })
  })
}
