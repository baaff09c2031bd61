/**
 * `cc-relay claude-code setup [--url URL] [--key KEY] [--model-discovery] [--remove] [--config FILE]` (CONTRACT §2):
 * points Claude Code at the relay through the `env` block of its settings.json, so every `claude`
 * run uses the relay without shell exports. A subscription login and every other setting are left
 * alone; the JSON editing itself lives in claude-code-settings.ts.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import {
  applyRelay,
  credentialsIn,
  formatSettings,
  parseSettings,
  removeRelay,
  type Edit,
  type RelayTarget,
  type Settings,
} from './claude-code-settings.js'
import { ConfigError, loadConfig, type RelayConfig } from './config/load.js'
import { pluginCatalog } from './plugin-types.js'

export interface SetupOptions {
  url?: string | undefined
  key?: string | undefined
  remove: boolean
  /** `--model-discovery`: Claude Code's /model picker from the relay's per-client /v1/models. */
  modelDiscovery?: boolean
  config?: string | undefined
}

/** Ends the command with a message on stderr and an exit code (1 refused, 2 usage). */
class SetupError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2,
  ) {
    super(message)
  }
}

export async function claudeCodeSetup(opts: SetupOptions): Promise<number> {
  try {
    const file = settingsFile()
    if (opts.remove) {
      if (opts.url !== undefined || opts.key !== undefined || opts.modelDiscovery) throw new SetupError('--remove takes no --url, --key or --model-discovery', 2)
      editSettings(file, removeRelay, 'nothing to remove')
      return 0
    }
    const target = { ...(await relayTarget(opts)), modelDiscovery: opts.modelDiscovery === true }
    noteOwnCredentials(editSettings(file, (settings) => applyRelay(settings, target), `already points at ${target.url}; nothing changed`))
    return 0
  } catch (error) {
    if (!(error instanceof SetupError)) throw error
    process.stderr.write(`cc-relay: ${error.message}\n`)
    return error.exitCode
  }
}

/** Where Claude Code reads user settings: `$CLAUDE_CONFIG_DIR` moves the whole folder. */
function settingsFile(): string {
  const dir = process.env['CLAUDE_CONFIG_DIR']
  return join(dir !== undefined && dir !== '' ? dir : join(homedir(), '.claude'), 'settings.json')
}

async function relayTarget(opts: SetupOptions): Promise<RelayTarget> {
  const url = opts.url === undefined ? undefined : checkedUrl(opts.url)
  const key = opts.key === undefined ? undefined : checkedKey(opts.key)
  // The config is only read for what the flags leave open, so `--url … --key …` works without one.
  if (url !== undefined && key !== undefined) return { url, key }
  const config = await relayConfig(opts.config)
  return { url: url ?? urlOf(config), key: key ?? keyOf(config) }
}

/** Trailing slashes dropped: Claude Code appends `/v1/messages` itself. */
function checkedUrl(text: string): string {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new SetupError(`--url ${JSON.stringify(text)} is not a URL (expected e.g. http://127.0.0.1:8787)`, 2)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new SetupError(`--url must be http:// or https://, not ${url.protocol}`, 2)
  return text.replace(/\/+$/, '')
}

/** A key with a line break would split the newline-separated header list. */
function checkedKey(key: string): string {
  if (key.trim() === '') throw new SetupError('--key needs a non-empty value', 2)
  if (/[\r\n]/.test(key)) throw new SetupError('--key must be a single line', 2)
  return key.trim()
}

async function relayConfig(file: string | undefined): Promise<RelayConfig> {
  try {
    return (await loadConfig({ file, discover: pluginCatalog().discover })).config
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    throw new SetupError(`${error.source}: invalid\n${error.message}`, 1)
  }
}

const LISTEN = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d+)$/

/** `server.listen` as a URL a local client can reach: a wildcard host means "this machine". */
function urlOf(config: RelayConfig): string {
  const match = LISTEN.exec(config.server.listen)
  if (match === null) throw new SetupError(`cannot read server.listen "${config.server.listen}"; pass --url`, 1)
  const [, ipv6, ipv4OrName, port] = match
  if (port === '0') throw new SetupError('server.listen has port 0 (any free port); pass --url with the port the relay logged', 1)
  const host = ipv6 !== undefined ? `[${/^[0:]+$/.test(ipv6) ? '::1' : ipv6}]` : ipv4OrName === '0.0.0.0' ? '127.0.0.1' : ipv4OrName!
  const scheme = config.server.tls.cert_file !== '' ? 'https' : 'http'
  return `${scheme}://${host}:${port}`
}

/** The shared relay key when there is one; named client keys are personal, so one must be given. */
function keyOf(config: RelayConfig): string | undefined {
  const { api_key: apiKey, clients } = config.server.auth
  if (apiKey !== '') return apiKey
  if (clients.length > 0) throw new SetupError('this relay uses named client keys (server.auth.clients); pass --key with your own client key', 1)
  return undefined
}

/**
 * Reads, edits and writes settings.json, and returns the settings as they now are. A no-op edit
 * writes nothing (the backup keeps the user's own last version) and prints `unchanged`.
 */
function editSettings(file: string, edit: (settings: Settings) => Edit, unchanged: string): Settings {
  const existing = readExisting(file)
  const before = existing === undefined ? {} : parsedOrRefused(file, existing)
  const { settings, changes } = edit(before)
  if (changes.length === 0) {
    process.stdout.write(`${file}: ${unchanged}\n`)
    return settings
  }
  writeSettings(file, existing, settings)
  process.stdout.write(`${file}: ${existing === undefined ? 'created' : 'updated'}\n${changes.map((change) => `  ${change}\n`).join('')}`)
  return settings
}

function readExisting(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new SetupError(`cannot read ${file}: ${(error as Error).message}`, 1)
  }
}

function parsedOrRefused(file: string, text: string): Settings {
  const settings = parseSettings(text)
  if (settings instanceof Error) throw new SetupError(`${file} is ${settings.message}; fix it by hand, it was left untouched`, 1)
  return settings
}

/**
 * Written in place (not renamed over) so a settings.json symlinked from a dotfiles repo stays a
 * symlink. The previous text goes to settings.json.bak first; both are 0600 since env may hold keys.
 */
function writeSettings(file: string, previous: string | undefined, settings: Settings): void {
  try {
    if (previous !== undefined) {
      const backup = `${file}.bak`
      writeFileSync(backup, previous, { mode: 0o600 })
      chmodSync(backup, 0o600)
      process.stdout.write(`backed up the previous ${file} to ${backup}\n`)
    } else {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
    }
    writeFileSync(file, formatSettings(settings), { mode: 0o600 })
  } catch (error) {
    throw new SetupError(`cannot write ${file}: ${(error as Error).message}`, 1)
  }
}

/** Claude Code sends these to the relay as its own credential; the user should know where they go. */
function noteOwnCredentials(settings: Settings): void {
  const names = credentialsIn(settings).map((name) => `env.${name}`)
  if (names.length === 0) return
  process.stdout.write(
    `note: ${names.join(' and ')} ${names.length > 1 ? 'are set; Claude Code sends them' : 'is set; Claude Code sends it'} to the relay as its own credential, which the relay forwards only to anthropic-type providers when server.auth.allow_subscription is on\n`,
  )
}
