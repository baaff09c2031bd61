/**
 * `cc-relay serve`: boot order config → logger → supervisor → worker pool → ingress, then reloads on
 * SIGHUP or a config file change, and a SIGTERM/SIGINT drain. Exit codes per CONTRACT §2: 0 after a
 * clean drain, 1 on an invalid config or a port in use.
 */
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { Inflight } from './shared/inflight.js'
import type { Dispatch } from './ingress/dispatch.js'
import { AdminAuth } from './admin/admin-auth.js'
import type { AdminDeps } from './admin/routes.js'
import type { ConfigInfo } from './admin/status.js'
import { Telemetry } from './admin/telemetry.js'
import { Admission } from './admission/admission.js'
import { openGate } from './admission/shared-gate.js'
import { assertNativeUws, createApp, listen, splitListen } from './ingress/server.js'
import type { Lifecycle, RelayDeps } from './ingress/relay-handler.js'
import { ConfigError, EMBEDDED_SOURCE, loadConfig } from './config/load.js'
import type { RelayConfig } from './config/types.js'
import { watchConfigFile } from './config/watch.js'
import { configWarnings } from './config/warnings.js'
import { mainThreadTypes, pluginCatalog } from './plugin-types.js'
import { Reloader, startDispatch } from './reload.js'
import { relayError } from './shared/errors.js'
import { collectFaults, fault } from './shared/faults.js'
import { createLogger, flushLogsSync } from './shared/log.js'
import { PROJECT_ROOT } from './shared/plugins.js'
import { startHealthChecks } from './health/health-check.js'
import { Supervisor } from './supervisor/supervisor.js'
import type { UsageLedger } from './ledger/ledger.js'
import { openLedger } from './ledger/open.js'
import { isLoopbackHost } from './config/sso-checks.js'
import { SignIn } from './signin/service.js'
import { tracingSettings } from './tracing/settings.js'
import { userRows } from './signin/users-admin.js'

export interface ServeOptions {
  readonly config?: string
  readonly listen?: string
  /** `--reuse-port`: share the port with other relays that asked for it too (SO_REUSEPORT). */
  readonly reusePort?: boolean
}

const VERSION = (JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version

export async function serve(opts: ServeOptions): Promise<number> {
  assertNativeUws()
  const catalog = pluginCatalog()
  let loaded
  try {
    loaded = await loadConfig({ file: opts.config, discover: catalog.discover })
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`cc-relay: invalid config ${err.source}\n${err.message}\n`)
    return 1
  }
  const { config, source } = loaded
  const log = createLogger(config.logging.level, config.logging.format)
  // From here on nothing that goes wrong inside may end the process (CONTRACT §6): faults are logged
  // and counted (the metrics exist a few lines below; a fault before then is only logged).
  let telemetryReady: Telemetry | undefined
  collectFaults((f) => {
    log.error({ where: f.where, request_id: f.requestId, err: f.message, stack: f.stack }, 'internal error')
    telemetryReady?.metrics.internalError(f.where)
  })
  const address = opts.listen ?? config.server.listen
  const listenHost = splitListen(address).host
  // CONTRACT §12 (config validate checks the file; this checks a --listen override too).
  if (config.server.auth.sso.issuer !== '' && !isLoopbackHost(listenHost) && !config.server.public_url.startsWith('https://')) {
    process.stderr.write(`cc-relay: invalid config ${source}\nserver.public_url: must be https:// with sso when the relay listens on ${address} (Claude Code signs in over HTTPS only, plain HTTP for loopback alone)\n`)
    return 1
  }

  const supervisor = new Supervisor(config, catalog.byType())
  let stopHealthChecks = startHealthChecks(supervisor, config.health.health_check, log)
  const mainThread = mainThreadTypes(catalog.loaded())
  // Proves every plugin loads in a worker before the relay takes traffic.
  const dispatch = await startDispatch(config, catalog, mainThread, log)

  // Limits shared across relays (issue 7): the admission's gate, memory or Redis. When Redis fails, the
  // supervisor gets divided local limits; the gate reads the running config through `deps`, which
  // exists before the gate first needs it (`started` is awaited below).
  const gate = await openGate(config, supervisor, () => deps.config, log)
  const lifecycle: Lifecycle = { draining: false, inflight: new Inflight() }
  const { inflight } = lifecycle
  const configInfo: ConfigInfo = { source, loadedAt: Date.now(), reloads: 0, lastError: undefined, restartNeeded: [] }
  const telemetry: Telemetry = new Telemetry(config.pricing, {
    supervisor: () => supervisor,
    activeRequests: () => inflight.size,
    pool: () => deps.dispatch.pool,
    store: () => admin.store(),
    ledger: (): UsageLedger | undefined => telemetry.ledger,
    sharedStore: config.state.store === 'redis',
  })
  telemetryReady = telemetry
  telemetry.ledger = await openLedger(config, log, source === EMBEDDED_SOURCE ? process.cwd() : dirname(source))
  for (const warning of configWarnings(config)) log.warn({}, warning)
  // Tracing (CONTRACT §11): the OpenTelemetry code is loaded only when an OTLP endpoint is configured.
  const traces = tracingSettings(config.telemetry)
  if (traces) {
    const { startTracing } = await import('./tracing/tracing.js')
    const plugins = catalog.byType()
    telemetry.tracing = startTracing(traces, {
      log,
      version: VERSION,
      baseUrlOf: (p) => p.base_url || plugins.get(p.type)?.defaultBaseUrl(p.options) || '',
      costOf: (model, usage) => telemetry.activity.prices.costOf(model, usage),
      dropped: (spans, reason) => telemetry.telemetryDropped(spans, reason),
    })
  }
  const admin: AdminDeps = {
    auth: new AdminAuth(config.server.admin.api_key, config.server.admin.allow_ips),
    supervisor,
    telemetry,
    configInfo,
    activeRequests: () => inflight.size,
    version: VERSION,
    store: () => gate.status(),
    book: () => admission.book,
    // `signin` is opened just below; the status page asks only once the relay listens.
    users: () => (signin ? userRows(signin) : undefined),
  }
  // Members' own OTLP (CONTRACT §12): the forwarder and protobufjs are loaded only when it is forwarded.
  const clientTelemetry =
    config.server.auth.sso.issuer !== '' && config.telemetry.client_telemetry === 'forward'
      ? (await import('./signin/otlp/client-telemetry.js')).startClientTelemetry(config.telemetry, { log, metrics: telemetry.metrics, maxBodyBytes: () => deps.config.server.max_body_bytes })
      : undefined
  const signin = await SignIn.open(config, source === EMBEDDED_SOURCE ? process.cwd() : dirname(source), { config: () => deps.config, log, ledger: () => telemetry.ledger, clientTelemetry })
  const admission = new Admission(config, { supervisor, gate, telemetry, draining: () => lifecycle.draining, signin })
  const deps: RelayDeps = { config, admission, dispatch, log, lifecycle, telemetry, admin, signin }
  await gate.started()
  const app = createApp(deps)
  let listening
  try {
    listening = await listen(app, address, config.server.tls.cert_file !== '', opts.reusePort === true)
  } catch (err) {
    log.fatal({ listen: address }, (err as Error).message)
    process.stderr.write(`cc-relay: ${(err as Error).message}\n`)
    await dispatch.close()
    await gate.close()
    await signin?.close()
    await telemetry.ledger?.close()
    await telemetry.tracing?.shutdown(1000)
    await clientTelemetry?.close(0)
    flushLogsSync()
    return 1
  }
  signin?.listeningAt(listening.url)
  const retiring = new Set<Dispatch>()
  const reloader = new Reloader({
    deps,
    catalog,
    mainThread,
    info: configInfo,
    boot: config,
    listenFromCli: opts.listen !== undefined,
    retiring,
    restartHealthChecks: (next: RelayConfig) => {
      // A reload never restarts what shutdown stopped (the reloader also refuses to run while draining).
      if (lifecycle.draining) return
      stopHealthChecks()
      stopHealthChecks = startHealthChecks(supervisor, next.health.health_check, log)
    },
  })
  const onHangup = (): void => void reloader.reload('SIGHUP')
  process.on('SIGHUP', onHangup)
  // Watching starts before the 'listening' line, so a change made right after it is seen.
  const stopWatching = source === EMBEDDED_SOURCE ? () => {} : watchConfigFile(source, () => void reloader.reload('file change'))

  log.info(
    { url: listening.url, config: source, providers: config.providers.filter((p) => p.enabled).map((p) => `${p.name} (${p.type})`), workers: dispatch.pool.threads.length },
    'listening',
  )
  // Scripts and supervisors wait for this line: don't leave it in the buffer.
  flushLogsSync()

  return new Promise<number>((resolve) => {
    let stopping = false
    /** Each step of a shutdown runs whatever the one before it did: a fault is logged and the drain goes on. */
    const step = async (what: string, run: () => unknown): Promise<void> => {
      try {
        await run()
      } catch (err) {
        fault(`shutdown.${what}`, err)
      }
    }
    const stop = async (signal: string): Promise<void> => {
      if (stopping) return void log.info({ signal }, 'already draining; the signal changes nothing')
      stopping = true
      lifecycle.draining = true
      // SIGHUP keeps its listener: without one, a SIGHUP during the drain would end the process. The
      // file watch goes on too, so a file change during the drain is logged as ignored, as SIGHUP is
      // (docs/operations.md); it stops once the requests have ended.
      await step('stop accepting', () => {
        stopHealthChecks()
        listening.stopAccepting()
      })
      const timeoutMs = deps.config.server.shutdown_timeout_ms
      log.info({ signal, inflight: inflight.size, timeout_ms: timeoutMs }, 'draining')
      const deadline = Date.now() + timeoutMs
      while (inflight.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
      for (const request of inflight.items()) await step('end request', () => request.fail(relayError('overloaded', 'the relay is shutting down; retry')))
      await step('stop watching', () => stopWatching())
      await Promise.all([step('close dispatch', () => deps.dispatch.close()), ...[...retiring].map((d) => step('close retired dispatch', () => d.close())), step('close shared store', () => gate.close())])
      // Every request has ended: its usage is booked; the last batch is written.
      await step('close sign-in store', () => signin?.close())
      await step('close usage ledger', () => telemetry.ledger?.close())
      // What is queued goes to the collector, if it answers soon: a dead one must not hold the exit.
      await step('flush traces', () => telemetry.tracing?.shutdown(5000))
      await step("flush members' telemetry", () => clientTelemetry?.close(5000))
      log.info({}, 'stopped')
      flushLogsSync()
      resolve(0)
    }
    // A second signal during the drain changes nothing: the drain that runs ends as it would have.
    process.on('SIGTERM', () => void stop('SIGTERM'))
    process.on('SIGINT', () => void stop('SIGINT'))
  })
}
