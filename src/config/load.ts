/**
 * The config subsystem's entry points: find the file (CONTRACT §2), read it, and turn it into a
 * fully-defaulted frozen `RelayConfig`, or a `ConfigError` listing every problem at once.
 */
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { applyDefaults } from './defaults.js'
import { readDocument } from './document.js'
import { LineIndex } from './paths.js'
import { ConfigError, ProblemList } from './problems.js'
import { checkProviders, type DiscoverTypes } from './providers.js'
import { configValidator } from './schema.js'
import { checkSchema } from './schema-errors.js'
import { checkSemantics } from './semantic.js'
import type { RelayConfig } from './types.js'

export { ConfigError } from './problems.js'
export type { ConfigProblem } from './problems.js'
export type { DiscoverTypes, ProviderTypeInfo } from './providers.js'
export type { RelayConfig } from './types.js'

export const EMBEDDED_SOURCE = '(embedded default)'

/** Used when no config file exists at all: a local relay in front of Anthropic for a subscription login. */
export const EMBEDDED_DEFAULT_YAML = `server:
  listen: "127.0.0.1:8787"
  auth:
    allow_subscription: true
providers:
  - name: anthropic
    type: anthropic
`

export interface LoadedConfig {
  readonly config: RelayConfig
  /** Absolute path of the file read, or '(embedded default)'. */
  readonly source: string
}

/** `--config FILE`, else ./cc-relay.yaml, else ~/.config/cc-relay/config.yaml, else undefined. */
export function findConfigFile(opts: { file?: string; cwd: string; home: string }): string | undefined {
  // An explicit file is returned even when missing: loading it must fail, not fall back.
  if (opts.file !== undefined) return resolve(opts.cwd, opts.file)
  const candidates = [join(opts.cwd, 'cc-relay.yaml'), join(opts.home, '.config', 'cc-relay', 'config.yaml')]
  return candidates.map((candidate) => resolve(candidate)).find((candidate) => existsSync(candidate))
}

export async function loadConfig(opts: {
  file?: string
  cwd?: string
  home?: string
  env?: NodeJS.ProcessEnv
  discover: DiscoverTypes
}): Promise<LoadedConfig> {
  const cwd = opts.cwd ?? process.cwd()
  const env = opts.env ?? process.env
  const file = findConfigFile({ file: opts.file, cwd, home: opts.home ?? homedir() })
  if (file === undefined) {
    const config = await parseConfig(EMBEDDED_DEFAULT_YAML, { source: EMBEDDED_SOURCE, env, discover: opts.discover, configDir: cwd })
    return { config, source: EMBEDDED_SOURCE }
  }
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException
    const problem = code === 'ENOENT' ? `config file not found: ${file}` : `cannot read config file: ${message}`
    throw new ConfigError([{ path: '', message: problem }], file)
  }
  const config = await parseConfig(text, { source: file, env, discover: opts.discover, configDir: dirname(file) })
  return { config, source: file }
}

function pluginDirsOf(raw: unknown): string[] {
  const dirs = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>)['plugin_dirs'] : undefined
  return Array.isArray(dirs) ? dirs.filter((dir): dir is string => typeof dir === 'string') : []
}

/** `source` only labels problems; `configDir` anchors relative `plugin_dirs`. */
export async function parseConfig(
  text: string,
  opts: { source: string; env: NodeJS.ProcessEnv; discover: DiscoverTypes; configDir: string },
): Promise<RelayConfig> {
  const lines = new LineIndex()
  const problems = new ProblemList(lines)
  const doc = readDocument(text, opts.env, lines, problems)
  if (doc === undefined) throw new ConfigError(problems.sorted(), opts.source)
  // An empty file is an empty mapping; it then lacks its required providers.
  const raw = doc.value ?? {}
  checkSchema(configValidator, raw, [], problems)
  const types = await opts.discover(pluginDirsOf(raw), opts.configDir)
  const providers = checkProviders(raw, types, problems)
  checkSemantics(raw, problems)
  if (problems.size > 0 || !configValidator.Check(raw)) throw new ConfigError(problems.sorted(), opts.source)
  return applyDefaults(raw, providers)
}
