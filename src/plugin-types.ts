/**
 * Connects plugin discovery to config loading: the loader asks for the provider types available to a
 * config (built-ins plus its `plugin_dirs`), and the caller keeps the loaded plugins for serving.
 */
import type { ProviderPlugin } from '../plugins/sdk.js'
import type { DiscoverTypes, ProviderTypeInfo } from './config/load.js'
import { join } from 'node:path'
import { loadPlugins, optionsSchemaOf, pluginSources, PROJECT_ROOT } from './shared/plugins.js'
import type { LoadedPlugin } from './shared/plugins.js'

export interface PluginCatalog {
  readonly discover: DiscoverTypes
  /** The types the last `discover` found, without scanning again (a reload keeps the running plugins). */
  readonly known: DiscoverTypes
  /** What the last `discover` loaded (empty before it ran). */
  loaded(): readonly LoadedPlugin[]
  sources(): readonly string[]
  byType(): ReadonlyMap<string, ProviderPlugin>
}

export function pluginCatalog(): PluginCatalog {
  let loaded: readonly LoadedPlugin[] = []
  let sources: readonly string[] = []
  const types = () => new Map<string, ProviderTypeInfo>(loaded.map((p) => [p.type, { type: p.type, optionsSchema: optionsSchemaOf(p.plugin) }]))
  return {
    async discover(pluginDirs, configDir) {
      sources = pluginSources(pluginDirs, configDir)
      loaded = await loadPlugins(sources)
      return types()
    },
    known: async () => types(),
    loaded: () => loaded,
    sources: () => sources,
    byType: () => new Map(loaded.map((p) => [p.type, p.plugin])),
  }
}

/**
 * Provider types whose exchanges may run on the main thread: built-in (compiled with the relay, so
 * trusted not to crash the process) and without a translator (passthrough: nothing to keep off the
 * socket thread).
 */
export function mainThreadTypes(loaded: readonly LoadedPlugin[]): ReadonlySet<string> {
  const builtIn = join(PROJECT_ROOT, 'dist', 'plugins')
  return new Set(loaded.filter((p) => p.source.startsWith(builtIn) && !p.plugin.translator).map((p) => p.type))
}
