/**
 * The pure half of `cc-relay claude-code setup`: reading Claude Code's settings.json, adding or
 * removing the relay's two env entries, and writing it back. Everything the user put there
 * themselves (other keys, other env vars, other custom header lines, their login) is kept as is.
 */

export type Settings = Record<string, unknown>

/** The header the relay reads its key from; it travels beside a subscription login, never replacing it. */
export const RELAY_KEY_HEADER = 'x-cc-relay-key'
export const BASE_URL_VAR = 'ANTHROPIC_BASE_URL'
export const HEADERS_VAR = 'ANTHROPIC_CUSTOM_HEADERS'
/**
 * Claude Code (≥ 2.1.126) fills its `/model` picker from the gateway's `GET /v1/models` when this is set;
 * the relay answers each client with the models its team policy allows (CONTRACT §10).
 */
export const MODEL_DISCOVERY_VAR = 'CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY'
/** Credentials Claude Code sends as its own; the relay may forward them upstream, so the user is told. */
export const CREDENTIAL_VARS = ['ANTHROPIC_API_KEY', 'ANTHROPIC_AUTH_TOKEN'] as const

export interface RelayTarget {
  readonly url: string
  /** Undefined when the relay needs no key: a stale key line is then removed. */
  readonly key: string | undefined
  /** Also set MODEL_DISCOVERY_VAR (`--model-discovery`); otherwise it is left as it is. */
  readonly modelDiscovery?: boolean
}

export interface Edit {
  readonly settings: Settings
  /** One line per change, safe to print: the key is masked. Empty when nothing changed. */
  readonly changes: readonly string[]
}

const isRecord = (value: unknown): value is Settings => typeof value === 'object' && value !== null && !Array.isArray(value)

/** The settings object, or why the text cannot be edited safely. */
export function parseSettings(text: string): Settings | Error {
  // An empty file holds nothing to lose; Claude Code itself treats it as no settings.
  if (text.trim() === '') return {}
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    return new Error(`not valid JSON (${(error as Error).message})`)
  }
  if (!isRecord(parsed)) return new Error('not a JSON object')
  if (parsed['env'] !== undefined && !isRecord(parsed['env'])) return new Error('"env" is not an object')
  const headers = isRecord(parsed['env']) ? parsed['env'][HEADERS_VAR] : undefined
  if (headers !== undefined && typeof headers !== 'string') return new Error(`"env.${HEADERS_VAR}" is not a string`)
  return parsed
}

/** Claude Code's own layout: 2-space indent, trailing newline. */
export function formatSettings(settings: Settings): string {
  return `${JSON.stringify(settings, null, 2)}\n`
}

/** Enough to recognise a key, never enough to use it: the last 4 characters, and only of a long key. */
export function maskKey(key: string): string {
  return key.length >= 12 ? `****${key.slice(-4)}` : '****'
}

/** The env vars Claude Code will send to the relay as its own credential, by name. */
export function credentialsIn(settings: Settings): string[] {
  const env = isRecord(settings['env']) ? settings['env'] : {}
  return CREDENTIAL_VARS.filter((name) => env[name] !== undefined)
}

const isRelayKeyLine = (line: string): boolean => line.split(':', 1)[0]!.trim().toLowerCase() === RELAY_KEY_HEADER

/**
 * `ANTHROPIC_CUSTOM_HEADERS` is newline-separated `Name: value` lines. Sets (or, with `key`
 * undefined, drops) the relay-key line and keeps every other line where it was. Undefined when
 * nothing is left.
 */
export function withRelayKeyLine(headers: string | undefined, key: string | undefined): string | undefined {
  const lines = headers === undefined ? [] : headers.split('\n')
  const at = lines.findIndex(isRelayKeyLine)
  if (key === undefined && at === -1) return headers
  const kept = lines.filter((line) => !isRelayKeyLine(line))
  if (key !== undefined) {
    // In place of the old line if there was one, else after the last line (before a trailing newline).
    const end = kept.length > 0 && kept[kept.length - 1] === '' ? kept.length - 1 : kept.length
    kept.splice(at === -1 ? end : at, 0, `${RELAY_KEY_HEADER}: ${key}`)
  }
  const joined = kept.join('\n')
  return joined.trim() === '' ? undefined : joined
}

function envOf(settings: Settings): Settings {
  return isRecord(settings['env']) ? { ...settings['env'] } : {}
}

/** A copy of `settings` with `env` replaced, dropped when empty so `--remove` leaves no trace. */
function withEnv(settings: Settings, env: Settings): Settings {
  const next = { ...settings }
  if (Object.keys(env).length > 0) next['env'] = env
  else delete next['env']
  return next
}

function setOrDelete(env: Settings, name: string, value: string | undefined): void {
  if (value === undefined) delete env[name]
  else env[name] = value
}

const currentKeyLine = (headers: unknown): string | undefined =>
  typeof headers === 'string' ? headers.split('\n').find(isRelayKeyLine) : undefined

/** Points Claude Code at the relay: sets the base URL and the relay-key header line (or drops a stale one). */
export function applyRelay(settings: Settings, target: RelayTarget): Edit {
  const env = envOf(settings)
  const changes: string[] = []
  const oldUrl = env[BASE_URL_VAR]
  if (oldUrl !== target.url) {
    env[BASE_URL_VAR] = target.url
    changes.push(`set env.${BASE_URL_VAR} = ${target.url}${typeof oldUrl === 'string' ? ` (was ${oldUrl})` : ''}`)
  }
  const oldHeaders = env[HEADERS_VAR] as string | undefined
  const newHeaders = withRelayKeyLine(oldHeaders, target.key)
  if (newHeaders !== oldHeaders) {
    setOrDelete(env, HEADERS_VAR, newHeaders)
    const had = currentKeyLine(oldHeaders) !== undefined
    if (target.key !== undefined) changes.push(`${had ? 'replaced' : 'set'} in env.${HEADERS_VAR}: ${RELAY_KEY_HEADER}: ${maskKey(target.key)}`)
    else changes.push(`removed ${RELAY_KEY_HEADER} from env.${HEADERS_VAR} (this relay needs no key)`)
  }
  if (target.modelDiscovery && env[MODEL_DISCOVERY_VAR] !== '1') {
    env[MODEL_DISCOVERY_VAR] = '1'
    changes.push(`set env.${MODEL_DISCOVERY_VAR} = 1 (the /model picker lists what the relay allows you)`)
  }
  return { settings: changes.length > 0 ? withEnv(settings, env) : settings, changes }
}

/** Undoes `applyRelay`: drops the base URL, the relay-key line and model discovery, and nothing else. */
export function removeRelay(settings: Settings): Edit {
  const env = envOf(settings)
  const changes: string[] = []
  for (const name of [BASE_URL_VAR, MODEL_DISCOVERY_VAR]) {
    if (env[name] === undefined) continue
    delete env[name]
    changes.push(`removed env.${name}`)
  }
  const oldHeaders = env[HEADERS_VAR] as string | undefined
  if (currentKeyLine(oldHeaders) !== undefined) {
    const newHeaders = withRelayKeyLine(oldHeaders, undefined)
    setOrDelete(env, HEADERS_VAR, newHeaders)
    changes.push(newHeaders === undefined ? `removed env.${HEADERS_VAR} (it held only ${RELAY_KEY_HEADER})` : `removed ${RELAY_KEY_HEADER} from env.${HEADERS_VAR}`)
  }
  return { settings: changes.length > 0 ? withEnv(settings, env) : settings, changes }
}
