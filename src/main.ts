/**
 * `cc-relay serve`: boot order config → logger → supervisor → worker pool → ingress, and a SIGTERM/SIGINT
 * drain. Exit codes per CONTRACT §2: 0 after a clean drain, 1 on an invalid config or a port in use.
 */
import { ClientAuth } from './ingress/client-auth.js'
import { assertNativeUws, createApp, listen, splitListen } from './ingress/server.js'
import type { Lifecycle } from './ingress/relay-handler.js'
import { ConfigError, loadConfig } from './config/load.js'
import { pluginCatalog } from './plugin-types.js'
import { relayError } from './shared/errors.js'
import { createLogger, flushLogsSync } from './shared/log.js'
import { startHealthChecks } from './supervisor/health-check.js'
import { Supervisor } from './supervisor/supervisor.js'
import { createPool, warmUp } from './workers/pool.js'
import { WorkerRuntime } from './workers/runtime.js'
import { createDispatch } from './ingress/dispatch.js'
import { mainThreadTypes } from './plugin-types.js'

export interface ServeOptions {
  readonly config?: string
  readonly listen?: string
}

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
  const address = opts.listen ?? config.server.listen
  splitListen(address)

  const supervisor = new Supervisor(config, catalog.byType())
  const stopHealthChecks = startHealthChecks(supervisor, config.health.health_check, log)
  const mainThread = mainThreadTypes(catalog.loaded())
  const allOnMain = process.env.CC_RELAY_UPSTREAM_IO !== 'workers' && config.providers.every((p) => !p.enabled || mainThread.has(p.type))
  const pool = createPool(config, catalog.sources(), !allOnMain)
  pool.on('error', (err: Error) => log.error({ err: err.message }, 'worker pool error'))
  // Proves every plugin loads in a worker before the relay takes traffic (a lazy pool starts one
  // thread for this, and lets it go when idle).
  await warmUp(pool)

  const lifecycle: Lifecycle = { draining: false, inflight: new Set() }
  const { inflight } = lifecycle
  const dispatch = createDispatch(pool, new WorkerRuntime(config, catalog.byType()), mainThread)
  const app = createApp({ config, auth: new ClientAuth(config.server.auth), supervisor, dispatch, log, lifecycle })
  let listening
  try {
    listening = await listen(app, address, config.server.tls.cert_file !== '')
  } catch (err) {
    log.fatal({ listen: address }, (err as Error).message)
    await pool.destroy()
    flushLogsSync()
    return 1
  }
  log.info(
    { url: listening.url, config: source, providers: config.providers.filter((p) => p.enabled).map((p) => `${p.name} (${p.type})`), workers: pool.threads.length },
    'listening',
  )
  // Scripts and supervisors wait for this line: don't leave it in the buffer.
  flushLogsSync()

  return new Promise<number>((resolve) => {
    let stopping = false
    const stop = async (signal: string): Promise<void> => {
      if (stopping) return
      stopping = true
      lifecycle.draining = true
      stopHealthChecks()
      listening.stopAccepting()
      log.info({ signal, inflight: inflight.size, timeout_ms: config.server.shutdown_timeout_ms }, 'draining')
      const deadline = Date.now() + config.server.shutdown_timeout_ms
      while (inflight.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
      for (const request of inflight) request.fail(relayError('overloaded', 'the relay is shutting down; retry'))
      await pool.destroy()
      log.info({}, 'stopped')
      flushLogsSync()
      resolve(0)
    }
    process.once('SIGTERM', () => void stop('SIGTERM'))
    process.once('SIGINT', () => void stop('SIGINT'))
  })
}
