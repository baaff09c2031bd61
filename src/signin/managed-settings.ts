/**
 * `GET /managed/settings` (CONTRACT §12): a signed-in user's Claude Code managed settings, merged from
 * their relay groups' `managed_settings` in the config's group order (objects merge key by key, a later
 * group's value wins otherwise), wrapped as the gateway protocol wants: `{uuid, checksum, settings}`.
 * The checksum is the one Claude Code computes itself to send back in `If-None-Match`: `sha256:` + hex
 * SHA-256 of the settings as JSON with keys sorted at every level and no whitespace.
 */
import { createHash } from 'node:crypto'
import type { GroupConfig } from '../config/types.js'

type Json = unknown

const isPlainObject = (v: Json): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v)

export function sortedKeys(value: Json): Json {
  if (Array.isArray(value)) return value.map(sortedKeys)
  if (!isPlainObject(value)) return value
  const out: Record<string, Json> = {}
  for (const key of Object.keys(value).sort()) out[key] = sortedKeys(value[key])
  return out
}

export const checksumOf = (settings: Json): string => `sha256:${createHash('sha256').update(JSON.stringify(sortedKeys(settings))).digest('hex')}`

function merge(base: Json, over: Json): Json {
  if (!isPlainObject(base) || !isPlainObject(over)) return over
  const out: Record<string, Json> = { ...base }
  for (const [key, value] of Object.entries(over)) out[key] = key in out ? merge(out[key], value) : value
  return out
}

export interface ManagedDocument {
  readonly uuid: string
  readonly checksum: string
  readonly settings: Record<string, Json>
}

/** undefined when none of the user's groups has managed settings (the protocol's 404). */
export function managedSettingsFor(userGroups: readonly string[], groups: readonly GroupConfig[]): ManagedDocument | undefined {
  const mine = groups.filter((g) => userGroups.includes(g.name) && g.managed_settings !== undefined)
  if (mine.length === 0) return undefined
  const settings = mine.reduce<Json>((acc, g) => merge(acc, g.managed_settings), {}) as Record<string, Json>
  // Stable for one set of groups: the document's identity, whatever its content.
  const h = createHash('sha256').update(`cc-relay managed settings\n${mine.map((g) => g.name).join('\n')}`).digest('hex')
  const uuid = `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`
  return { uuid, checksum: checksumOf(settings), settings }
}
