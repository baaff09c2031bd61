/**
 * Hot reload (SIGHUP or a change to the config file). The new file is validated exactly as at start; an
 * invalid one is logged with every problem and the running config stays. A valid one is applied in one
 * synchronous step — admission (supervisor, client keys, team policy), admin key, price table, log level, dispatch — so each new
 * request sees either the old config or the new one, never a mix. Requests in flight finish on what
 * they started with: their upstream exchange and worker pool stay until the last of them ends. What
 * the supervisor learned (windows, cooldowns, breakers, affinity) carries over by provider name and
 * key hash. Settings bound at start (listen address, TLS files, plugin folders, log format, state
 * store) are reported as needing a restart.
 */
import { configWarnings } from './config/warnings.js'
import { AdminAuth } from './admin/admin-auth.js'
import type { ConfigInfo } from './admin/status.js'
import { createDispatch } from './ingress/dispatch.js'
import type { Dispatch } from './ingress/dispatch.js'
import type { RelayDeps } from './ingress/relay-handler.js'
import { ConfigError, loadConfig } from './config/load.js'
import type { RelayConfig } from './config/types.js'
import type { PluginCatalog } from './plugin-types.js'
import { fault } from './shared/faults.js'
import type { Logger } from './shared/log.js'
import { createPool, warmUp } from './workers/pool.js'
import { WorkerRuntime } from './workers/runtime.js'

/** The worker pool and dispatch for `config`; every plugin has loaded in a worker when this resolves. */
export async function startDispatch(config: RelayConfig, catalog: PluginCatalog, mainThread: ReadonlySet<string>, log: Logger): Promise<Dispatch> {
  const allOnMain = process.env.CC_RELAY_UPSTREAM_IO !== 'workers' && config.providers.every((p) => !p.enabled || mainThread.has(p.type))
  const pool = createPool(config, catalog.sources(), !allOnMain)
  pool.on('error', (err: Error) => log.error({ err: err.message }, 'worker pool error'))
  try {
    // A lazy pool starts one thread for this, and lets it go when idle.
    await warmUp(pool)
  } catch (err) {
    await pool.destroy()
    throw err
  }
  return createDispatch(pool, new WorkerRuntime(config, catalog.byType()), mainThread)
}

/** Settings read once at start, by name, that differ between `running` and `next`. */
export function restartOnlyChanges(running: RelayConfig, next: RelayConfig, listenFromCli: boolean): string[] {
  const differs = (a: unknown, b: unknown): boolean => JSON.stringify(a) !== JSON.stringify(b)
  const changed: string[] = []
  if (!listenFromCli && running.server.listen !== next.server.listen) changed.push('server.listen')
  if (differs(running.server.tls, next.server.tls)) changed.push('server.tls')
  if (differs(running.plugin_dirs, next.plugin_dirs)) changed.push('plugin_dirs')
  if (running.logging.format !== next.logging.format) changed.push('logging.format')
  if (differs(running.state, next.state)) changed.push('state')
  if (running.usage.db !== next.usage.db) changed.push('usage.db')
  // The tracer and its exporter are built once, at start (src/tracing/).
  if (differs(running.telemetry, next.telemetry)) changed.push('telemetry')
  // Sign-in's routes, IdP client and signing keys are set up at start (issue 24).
  if (differs(running.server.auth.sso, next.server.auth.sso)) changed.push('server.auth.sso')
  if (running.server.public_url !== next.server.public_url) changed.push('server.public_url')
  return changed
}

export interface ReloadContext {
  readonly deps: RelayDeps
  readonly catalog: PluginCatalog
  readonly mainThread: ReadonlySet<string>
  readonly info: ConfigInfo
  /** The config the process started with: what the listening socket and logger were built from. */
  readonly boot: RelayConfig
  readonly listenFromCli: boolean
  readonly restartHealthChecks: (config: RelayConfig) => void
  /** Dispatches of earlier configs still carrying requests; closed when those end (or at shutdown). */
  readonly retiring: Set<Dispatch>
}

export class Reloader {
  readonly #ctx: ReloadContext
  #chain: Promise<void> = Promise.resolve()

  constructor(ctx: ReloadContext) {
    this.#ctx = ctx
  }

  /**
   * Reloads run one after another: a second signal during a reload reloads again after it. Never
   * rejects: a reload that fails in any way leaves the running config (and the chain) as they were.
   */
  reload(trigger: string): Promise<void> {
    this.#chain = this.#chain.then(() =>
      this.#apply(trigger).catch((err: unknown) => {
        this.#ctx.info.lastError = err instanceof Error ? err.message : String(err)
        fault('reload', err)
      }),
    )
    return this.#chain
  }

  /** A shutdown has begun: nothing is started again, and the config the drain runs on stays. */
  #ignoredWhileDraining(trigger: string): boolean {
    if (!this.#ctx.deps.lifecycle.draining) return false
    this.#ctx.deps.log.info({ trigger }, 'config reload ignored: the relay is draining')
    return true
  }

  async #apply(trigger: string): Promise<void> {
    const { deps, catalog, info } = this.#ctx
    const log = deps.log
    if (this.#ignoredWhileDraining(trigger)) return
    let config: RelayConfig
    let dispatch: Dispatch
    try {
      config = (await loadConfig({ file: info.source, discover: catalog.known })).config
      dispatch = await startDispatch(config, catalog, this.#ctx.mainThread, log)
    } catch (err) {
      const problems = err instanceof ConfigError ? err.message.split('\n').filter(Boolean) : [(err as Error).message]
      info.lastError = problems.join('\n')
      deps.telemetry.metrics.reload('invalid')
      log.error({ trigger, config: info.source, problems }, 'config reload refused; the running config stays')
      return
    }
    // The drain may have begun while the new config was loading: it must not get a new pool.
    if (this.#ignoredWhileDraining(trigger)) return void (await dispatch.close())
    const previous = deps.dispatch
    // One synchronous step: no request sees half of each config.
    deps.admission.configure(config)
    deps.config = config
    deps.dispatch = dispatch
    deps.admin.auth = new AdminAuth(config.server.admin.api_key, config.server.admin.allow_ips)
    deps.telemetry.setPricing(config.pricing)
    this.#ctx.restartHealthChecks(config)

    info.loadedAt = Date.now()
    info.reloads++
    info.lastError = undefined
    info.restartNeeded = restartOnlyChanges(this.#ctx.boot, config, this.#ctx.listenFromCli)
    deps.telemetry.metrics.reload('applied')
    log.info(
      { trigger, config: info.source, providers: config.providers.filter((p) => p.enabled).map((p) => `${p.name} (${p.type})`), restart_needed: info.restartNeeded },
      info.restartNeeded.length ? `config reloaded; restart needed for ${info.restartNeeded.join(', ')}` : 'config reloaded',
    )
    for (const warning of configWarnings(config)) log.warn({}, warning)
    // After the lines above, so a reload to a quieter level still says it happened.
    log.level = config.logging.level
    this.#retire(previous)
  }

  #retire(previous: Dispatch): void {
    const { retiring } = this.#ctx
    retiring.add(previous)
    previous
      .drained()
      .then(async () => {
        // At shutdown the drain closes what is still retiring; this close and that one may meet.
        if (!retiring.delete(previous)) return
        await previous.close()
      })
      .catch((err: unknown) => fault('reload.retire', err))
  }
}
