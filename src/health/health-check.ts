/**
 * Active health checks: every `health.health_check.interval_ms`, each provider whose circuit is open
 * gets one cheap request (the plugin's `healthCheck`, by default `GET` on its API root). Any HTTP answer
 * below 500 — a 401 or 404 included — proves the upstream reachable, and its circuit goes half-open
 * without waiting out `open_duration_ms`. Works against HTTPS endpoints (undici, the system CA store and
 * NODE_EXTRA_CA_CERTS) and through HTTPS_PROXY / NO_PROXY like the requests themselves, so a probe
 * takes the path real traffic would; only open circuits are probed, so healthy upstreams see no extra
 * traffic.
 */
import { request } from 'undici'
import type { Dispatcher } from 'undici'
import type { HealthCheckConfig } from '../config/types.js'
import { fault } from '../shared/faults.js'
import type { Logger } from '../shared/log.js'
import { createUpstreamAgent } from '../workers/upstream-agent.js'
import type { Supervisor } from '../supervisor/supervisor.js'

const PROBE_TIMEOUT_MS = 5_000

async function reachable(dispatcher: Dispatcher, url: string, method: 'GET' | 'HEAD', timeoutMs: number): Promise<boolean> {
  try {
    const res = await request(url, { dispatcher, method, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, headers: { 'accept-encoding': 'identity' } })
    await res.body.dump()
    return res.statusCode < 500
  } catch {
    return false
  }
}

export function startHealthChecks(supervisor: Supervisor, config: HealthCheckConfig, log: Logger): () => void {
  if (!config.enabled) return () => {}
  const dispatcher = createUpstreamAgent({ connectTimeoutMs: PROBE_TIMEOUT_MS })
  let running = false
  const tick = async (): Promise<void> => {
    if (running) return
    running = true
    try {
      await Promise.all(
        supervisor.openProviders().map(async (p) => {
          const ok = await reachable(dispatcher, p.url, p.method, Math.min(PROBE_TIMEOUT_MS, config.interval_ms))
          supervisor.healthResult(p.name, ok)
          if (ok) log.info({ provider: p.name }, 'health check: reachable again; circuit half-open')
        }),
      )
    } finally {
      running = false
    }
  }
  const timer = setInterval(() => void tick().catch((err: unknown) => fault('health_check', err)), config.interval_ms)
  timer.unref()
  let stopped = false
  // Idempotent: a reload and a shutdown may both stop the same checker (a closed undici agent rejects a second close).
  return () => {
    if (stopped) return
    stopped = true
    clearInterval(timer)
    dispatcher.close().catch(() => {})
  }
}
