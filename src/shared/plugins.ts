/**
 * Provider plugin discovery and checking (CONTRACT §7). The main thread discovers; each worker thread
 * imports the same files once, by the paths the main thread found, so both see identical plugins.
 *
 * Order: compiled built-ins (`dist/plugins/<type>/index.js`), then dropped-in JavaScript folders in
 * `plugins/` that the build did not compile, then every `plugin_dirs` entry. A duplicate type or a plugin
 * written for another contract version stops the start with a message naming the file.
 */
import { existsSync, readdirSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import Type from 'typebox'
import { PLUGIN_API } from '../../plugins/sdk.js'
import type { AuthSpec, ProviderPlugin } from '../../plugins/sdk.js'

/** The project root (this file is `dist/src/shared/plugins.js` once built). */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

export interface LoadedPlugin {
  readonly type: string
  /** Absolute path of the module. */
  readonly source: string
  readonly plugin: ProviderPlugin
}

export class PluginError extends Error {}

const ENTRY_NAMES = ['index.js', 'index.mjs']
const ROUTES = new Set(['messages', 'count_tokens'])
const FRAMINGS = new Set(['sse', 'aws-eventstream'])
const KEY_HEADERS = new Set(['x-api-key', 'api-key', 'bearer'])

function entryIn(folder: string): string | undefined {
  for (const name of ENTRY_NAMES) {
    const file = join(folder, name)
    if (existsSync(file)) return file
  }
  return undefined
}

function subfolders(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir)
    .sort()
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isDirectory())
}

/** Every plugin module path, in load order. `pluginDirs` are resolved against `baseDir`. */
export function pluginSources(pluginDirs: readonly string[], baseDir: string): string[] {
  const compiledDir = join(PROJECT_ROOT, 'dist', 'plugins')
  const compiled = subfolders(compiledDir).flatMap((f) => entryIn(f) ?? [])
  const compiledNames = new Set(subfolders(compiledDir).map((f) => f.slice(compiledDir.length + 1)))
  const droppedIn = subfolders(join(PROJECT_ROOT, 'plugins'))
    .filter((f) => !compiledNames.has(f.slice(join(PROJECT_ROOT, 'plugins').length + 1)))
    .flatMap((f) => entryIn(f) ?? [])
  const extra = pluginDirs.flatMap((d) => {
    const dir = resolve(baseDir, d)
    if (!existsSync(dir)) throw new PluginError(`plugin_dirs: ${dir} does not exist`)
    const own = entryIn(dir)
    return own ? [own] : subfolders(dir).flatMap((f) => entryIn(f) ?? [])
  })
  return [...compiled, ...droppedIn, ...extra]
}

function check(plugin: unknown, source: string): ProviderPlugin {
  const p = plugin as Partial<ProviderPlugin> | undefined
  const bad = (why: string): never => {
    throw new PluginError(`plugin ${source}: ${why}`)
  }
  if (!p || typeof p !== 'object') bad('has no default export object')
  if (p!.api !== PLUGIN_API) bad(`is written for plugin contract ${String(p!.api)}; this relay speaks ${PLUGIN_API}`)
  if (typeof p!.type !== 'string' || !/^[a-z][a-z0-9_-]*$/.test(p!.type)) bad('needs a lower-case `type`')
  if (typeof p!.defaultBaseUrl !== 'function') bad('needs `defaultBaseUrl(options)`')
  if (typeof p!.prepare !== 'function') bad('needs `prepare(req, tools)`')
  if (!Array.isArray(p!.routes) || p!.routes.some((r) => !ROUTES.has(r))) bad('`routes` must list messages and/or count_tokens')
  if (!FRAMINGS.has(p!.framing as string)) bad(`unknown framing ${String(p!.framing)}`)
  if (typeof p!.auth !== 'function') checkAuth(p!.auth, source)
  if (p!.clientCredentials !== 'forward' && p!.clientCredentials !== 'never') bad('`clientCredentials` must be forward or never')
  if (p!.options !== undefined && typeof p!.options !== 'function') bad('`options` must be a function (Type) => schema')
  if (p!.healthCheck !== undefined && typeof p!.healthCheck !== 'function') bad('`healthCheck` must be a function (baseUrl, options) => { url, method }')
  return p as ProviderPlugin
}

const AUTH_HELP = '`auth` must be { kind: "keys", headers: [x-api-key | api-key | bearer, …] }, { kind: "none" }, { kind: "bearer", token }, { kind: "sigv4", service, region, credentials? } or { kind: "google", scopes, keyFile? }'

function checkAuth(auth: AuthSpec | undefined, source: string): AuthSpec {
  const ok =
    (auth?.kind === 'keys' && auth.headers.length > 0 && auth.headers.every((h) => KEY_HEADERS.has(h))) ||
    auth?.kind === 'none' ||
    (auth?.kind === 'bearer' && typeof auth.token === 'string') ||
    (auth?.kind === 'sigv4' && typeof auth.service === 'string' && typeof auth.region === 'string') ||
    (auth?.kind === 'google' && Array.isArray(auth.scopes))
  if (!ok) throw new PluginError(`plugin ${source}: ${AUTH_HELP}`)
  return auth
}

/** A provider's auth, resolved from its plugin (a function of the options, or a fixed spec). */
export function authOf(plugin: ProviderPlugin, options: Readonly<Record<string, unknown>>): AuthSpec {
  return typeof plugin.auth === 'function' ? checkAuth(plugin.auth(options), plugin.type) : plugin.auth
}

export async function loadPlugins(sources: readonly string[]): Promise<LoadedPlugin[]> {
  const byType = new Map<string, LoadedPlugin>()
  for (const source of sources) {
    const mod = (await import(pathToFileURL(source).href)) as { default?: unknown }
    const plugin = check(mod.default, source)
    const earlier = byType.get(plugin.type)
    if (earlier) throw new PluginError(`provider type "${plugin.type}" is defined twice: ${earlier.source} and ${source}`)
    byType.set(plugin.type, { type: plugin.type, source, plugin })
  }
  return [...byType.values()]
}

/**
 * `cc-relay plugins`: every plugin module found, loaded one by one; what `loadPlugins` would refuse (a
 * duplicate type, a bad plugin, a missing plugin_dirs folder) is listed where it loads and named in
 * `problems`, instead of ending the listing.
 */
export async function surveyPlugins(pluginDirs: readonly string[], baseDir: string): Promise<{ found: LoadedPlugin[]; problems: string[] }> {
  const problems: string[] = []
  const dirs = pluginDirs.filter((d) => {
    if (existsSync(resolve(baseDir, d))) return true
    problems.push(`plugin_dirs: ${resolve(baseDir, d)} does not exist`)
    return false
  })
  const found: LoadedPlugin[] = []
  for (const source of pluginSources(dirs, baseDir)) {
    try {
      const plugin = check(((await import(pathToFileURL(source).href)) as { default?: unknown }).default, source)
      const earlier = found.find((p) => p.type === plugin.type)
      if (earlier) problems.push(`provider type "${plugin.type}" is defined twice: ${earlier.source} and ${source}`)
      found.push({ type: plugin.type, source, plugin })
    } catch (err) {
      problems.push(err instanceof PluginError ? err.message : `plugin ${source}: ${err instanceof Error ? err.message : String(err)}`)
    }
  }
  return { found, problems }
}

/** The schema of a plugin's type-specific config keys, for the config loader. */
export function optionsSchemaOf(plugin: ProviderPlugin) {
  return plugin.options?.(Type)
}
