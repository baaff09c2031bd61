/**
 * The undici dispatcher for upstream traffic. With none of the proxy variables set it is a plain
 * `Agent` (the fast path: one keep-alive pool per origin, nothing in between). With `HTTPS_PROXY` /
 * `HTTP_PROXY` (either case) set it is an `EnvHttpProxyAgent`, which tunnels through the proxy with
 * CONNECT and reads `NO_PROXY` for the hosts it must reach directly — the conventions curl and most
 * tools follow, so a relay behind a corporate proxy needs no config of its own.
 */
import { Agent, EnvHttpProxyAgent } from 'undici'
import type { Dispatcher } from 'undici'

/** The first non-empty of a variable's lower- and upper-case spellings (lower case wins, as in curl). */
function envVar(env: NodeJS.ProcessEnv, name: string): string | undefined {
  return [env[name.toLowerCase()], env[name.toUpperCase()]].find((value) => value !== undefined && value !== '')
}

/** True when a proxy variable is set. `NO_PROXY` alone changes nothing: there is no proxy to skip. */
export function proxyConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  return envVar(env, 'https_proxy') !== undefined || envVar(env, 'http_proxy') !== undefined
}

export interface UpstreamAgentOptions extends Omit<Agent.Options, 'connect'> {
  /** TCP + TLS setup limit, for the direct connection or each hop through a proxy. */
  readonly connectTimeoutMs: number
}

export function createUpstreamAgent(options: UpstreamAgentOptions): Dispatcher {
  const { connectTimeoutMs, ...agentOptions } = options
  const connect = { timeout: connectTimeoutMs }
  if (!proxyConfigured()) return new Agent({ ...agentOptions, connect })
  // ProxyAgent replaces `connect` with its own tunnelling function, so the timeout is also given to
  // the two connectors it builds: the one to the proxy and the TLS one to the upstream inside the
  // tunnel. `connect` itself still applies to the NO_PROXY hosts, reached directly.
  //
  // The variables are resolved here rather than by undici, which takes `https_proxy ?? HTTPS_PROXY`:
  // there an empty lower-case variable would hide a set upper-case one.
  const env = process.env
  return new EnvHttpProxyAgent({
    ...agentOptions,
    connect,
    proxyTls: connect,
    requestTls: connect,
    httpsProxy: envVar(env, 'https_proxy'),
    httpProxy: envVar(env, 'http_proxy'),
    noProxy: envVar(env, 'no_proxy') ?? '',
  })
}
