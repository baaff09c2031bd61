/**
 * Provider entries: the shared keys are checked by the main schema; the rest of an entry is the
 * type's own options, checked here against the plugin's schema once the type is known.
 */
import type { TSchema } from 'typebox'
import { Compile, type Validator } from 'typebox/compile'
import type { ProviderParts } from './defaults.js'
import type { ProblemList } from './problems.js'
import { PROVIDER_COMMON_KEYS, type ProviderInput } from './schema.js'
import { checkSchema } from './schema-errors.js'

/** What the config needs to know about a provider type found by plugin discovery. */
export interface ProviderTypeInfo {
  readonly type: string
  /** Schema of the type's own config keys; absent → the type takes none. */
  readonly optionsSchema?: TSchema
}

/** Finds the provider types: the built-in plugins, then each of `pluginDirs` (relative to `configDir`). */
export type DiscoverTypes = (pluginDirs: readonly string[], configDir: string) => Promise<ReadonlyMap<string, ProviderTypeInfo>>

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/**
 * The plugin contract says unknown option keys are errors, so an object schema that does not
 * say otherwise is closed here: a typo such as `aws_regoin` must not be silently ignored.
 */
function compileOptions(schema: TSchema): Validator {
  const closed = isRecord(schema) && schema['type'] === 'object' && schema['additionalProperties'] === undefined
  return Compile(closed ? { ...schema, additionalProperties: false } : schema)
}

function split(entry: Record<string, unknown>): { common: Record<string, unknown>; options: Record<string, unknown> } {
  const common: Record<string, unknown> = {}
  const options: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(entry)) (PROVIDER_COMMON_KEYS.has(key) ? common : options)[key] = value
  return { common, options }
}

/**
 * Checks the type and options of every entry of the raw config's `providers`, adding problems. The returned parts are meaningful only
 * when no problem was found anywhere (the caller then trusts `common` to match the schema).
 */
export function checkProviders(raw: unknown, types: ReadonlyMap<string, ProviderTypeInfo>, problems: ProblemList): ProviderParts[] {
  const providers = isRecord(raw) ? raw['providers'] : undefined
  if (!Array.isArray(providers)) return []
  // Compiled once per load and type, however many entries share it.
  const validators = new Map<ProviderTypeInfo, Validator>()
  const known = [...types.keys()].sort().join(', ') || '(none found)'
  return providers.map((entry: unknown, index): ProviderParts => {
    if (!isRecord(entry)) return { common: { name: '', type: '' }, options: {} }
    const { common, options } = split(entry)
    const type = entry['type']
    const info = typeof type === 'string' ? types.get(type) : undefined
    if (typeof type === 'string' && type !== '' && info === undefined) {
      problems.add(['providers', index, 'type'], `unknown provider type "${type}"; known types: ${known}`)
    } else if (info !== undefined && info.optionsSchema === undefined) {
      for (const key of Object.keys(options)) problems.add(['providers', index, key], `unknown key "${key}"`)
    } else if (info?.optionsSchema !== undefined) {
      let validator = validators.get(info)
      if (validator === undefined) validators.set(info, (validator = compileOptions(info.optionsSchema)))
      checkSchema(validator, options, ['providers', index], problems)
    }
    return { common: common as ProviderInput, options }
  })
}
