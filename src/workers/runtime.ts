/**
 * Everything a worker thread builds once: the config copy it was started with, its plugins, one undici
 * dispatcher (a keep-alive pool per upstream origin, through HTTPS_PROXY when set: upstream-agent.ts),
 * and the sweep that enforces the relay's own first-byte, idle and total timeouts: one timer per thread
 * for every request, not timers per request. undici's own header and body timeouts are off: its fast
 * timers outlive each request by up to a second (young objects promoted for nothing), and its
 * idle-between-chunks default of 300 s would cut long thinking pauses the relay is meant to carry (STACK.md).
 */
import type { Dispatcher } from 'undici'
import type { ProviderPlugin } from '../../plugins/sdk.js'
import type { RelayConfig } from '../config/types.js'
import { relayError } from '../shared/errors.js'
import { RejectedRequest } from '../shared/json-edit.js'
import type { RelayTask } from '../shared/protocol.js'
import { Inflight } from '../shared/inflight.js'
import { Exchange } from './exchange.js'
import { CredentialError, prepareRequest } from './prepare.js'
import { createUpstreamAgent } from './upstream-agent.js'

const SWEEP_MS = 250

export class WorkerRuntime {
  readonly #config: RelayConfig
  readonly #plugins: ReadonlyMap<string, ProviderPlugin>
  readonly #agent: Dispatcher
  readonly #active = new Inflight<Exchange>()
  readonly #sweeper: NodeJS.Timeout

  constructor(config: RelayConfig, plugins: ReadonlyMap<string, ProviderPlugin>) {
    this.#config = config
    this.#plugins = plugins
    const t = config.server.timeouts
    this.#agent = createUpstreamAgent({
      connectTimeoutMs: t.connect_ms,
      headersTimeout: 0,
      bodyTimeout: 0,
      // Below common server idle timeouts (uWS closes idle sockets at 10 s): a request sent on a socket
      // the server is closing fails with a reset, and a POST is never retried on it.
      keepAliveTimeout: 4_000,
      keepAliveMaxTimeout: 600_000,
    })
    this.#sweeper = setInterval(() => this.#sweep(), SWEEP_MS)
    this.#sweeper.unref()
  }

  /** A reload retired this runtime and its last request has ended: stop the sweep, let idle sockets go. */
  close(): void {
    clearInterval(this.#sweeper)
    void this.#agent.close().catch(() => {})
  }

  /** Runs one request; resolves when its stream has ended one way or another. */
  async run(task: RelayTask): Promise<void> {
    const provider = this.#config.providers[task.lease.provider]!
    const plugin = this.#plugins.get(provider.type)!
    const { first_byte_ms, idle_ms, total_ms } = this.#config.server.timeouts
    const keepaliveMs = this.#config.server.keepalive_ms
    const env = { dispatcher: this.#agent, plugin, providerName: provider.name, firstByteMs: first_byte_ms, idleMs: idle_ms, totalMs: total_ms, keepaliveMs }
    let finished!: () => void
    const done = new Promise<void>((resolve) => (finished = resolve))
    // Built before the (possibly asynchronous: signing, token refresh) preparation, so a cancel that
    // arrives meanwhile is heard.
    let leave = (): void => {}
    const exchange: Exchange = new Exchange(env, task, () => {
      leave()
      finished()
    })
    try {
      const prepared = await prepareRequest(task, provider, plugin)
      // Registered before it starts: an exchange that fails at once still leaves the sweep.
      if (!exchange.finished) leave = this.#active.add(exchange)
      exchange.start(prepared)
    } catch (err) {
      // A backend that cannot serve this request, a plugin bug or missing credentials fail this attempt
      // alone, as data the ingress turns into an error (or a failover).
      const message = (err as Error).message
      exchange.failBeforeStart(
        err instanceof RejectedRequest
          ? relayError('unsupported_request', `provider ${provider.name} cannot serve this request: ${message}`)
          : err instanceof CredentialError
            ? relayError('upstream_unreachable', `provider ${provider.name}: could not obtain credentials: ${message}`)
            : relayError('internal', `provider ${provider.name} could not prepare the request: ${message}`),
      )
    }
    return done
  }

  #sweep(): void {
    const now = performance.now()
    for (const exchange of this.#active.items()) {
      try {
        exchange.checkTimeouts(now)
      } catch (err) {
        exchange.fault(err)
      }
    }
  }
}
