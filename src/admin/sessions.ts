/**
 * The busiest Claude Code sessions of the last hour (status page): requests and tokens per
 * `x-claude-code-session-id`, in six ten-minute slots per session so "the last hour" is the last hour.
 * A session is shown by a short form of its id (a UUID's first 8 characters, anything else by a short
 * hash), never the header as sent. Bounded: beyond MAX_SESSIONS the least recently seen is forgotten.
 */
import { createHash } from 'node:crypto'
import type { Usage } from '../shared/protocol.js'
import { cacheHitRate } from '../shared/cache-hit-rate.js'

const SLOT_MS = 600_000
const SLOTS = 6
const MAX_SESSIONS = 5000

interface Slot {
  start: number
  requests: number
  input_tokens: number
  output_tokens: number
  cache_read_input_tokens: number
  cache_creation_input_tokens: number
}

interface Entry {
  readonly client: string
  lastSeen: number
  readonly slots: Slot[]
}

export interface SessionStatus {
  readonly session: string
  readonly client: string
  readonly last_seen: string
  readonly requests: number
  readonly input_tokens: number
  readonly output_tokens: number
  readonly cache_read_input_tokens: number
  readonly cache_creation_input_tokens: number
  readonly cache_hit_rate: number | null
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** What the page shows for a session id: a UUID's first block, or a hash of anything else. */
export function shortSession(id: string): string {
  return UUID.test(id) ? `${id.slice(0, 8).toLowerCase()}…` : `#${createHash('sha256').update(id).digest('hex').slice(0, 8)}`
}

export class RecentSessions {
  /** In order of last request: the first entry is the least recently seen. */
  readonly #entries = new Map<string, Entry>()

  record(session: string, client: string, usage: Usage | undefined, now = Date.now()): void {
    let entry = this.#entries.get(session)
    if (entry) this.#entries.delete(session)
    else entry = { client, lastSeen: now, slots: [] }
    entry.lastSeen = now
    this.#entries.set(session, entry)
    const start = now - (now % SLOT_MS)
    let slot = entry.slots[entry.slots.length - 1]
    if (!slot || slot.start !== start) {
      entry.slots.push((slot = { start, requests: 0, input_tokens: 0, output_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 }))
      if (entry.slots.length > SLOTS) entry.slots.shift()
    }
    slot.requests++
    if (usage) {
      slot.input_tokens += usage.input_tokens
      slot.output_tokens += usage.output_tokens
      slot.cache_read_input_tokens += usage.cache_read_input_tokens
      slot.cache_creation_input_tokens += usage.cache_creation_input_tokens
    }
    this.#forget(now)
  }

  /** Drops sessions idle for an hour, and the least recent beyond the bound. */
  #forget(now: number): void {
    for (const [id, entry] of this.#entries) {
      if (this.#entries.size <= MAX_SESSIONS && entry.lastSeen > now - SLOT_MS * SLOTS) break
      this.#entries.delete(id)
    }
  }

  /** The `limit` sessions with the most requests in the last hour. */
  busiest(limit: number, now = Date.now()): SessionStatus[] {
    this.#forget(now)
    const since = now - SLOT_MS * SLOTS
    const rows: SessionStatus[] = []
    for (const [id, entry] of this.#entries) {
      const t = { requests: 0, input_tokens: 0, output_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 }
      for (const s of entry.slots) {
        if (s.start + SLOT_MS <= since) continue
        t.requests += s.requests
        t.input_tokens += s.input_tokens
        t.output_tokens += s.output_tokens
        t.cache_read_input_tokens += s.cache_read_input_tokens
        t.cache_creation_input_tokens += s.cache_creation_input_tokens
      }
      if (t.requests > 0) rows.push({ session: shortSession(id), client: entry.client, last_seen: new Date(entry.lastSeen).toISOString(), ...t, cache_hit_rate: cacheHitRate(t) })
    }
    return rows.sort((a, b) => b.requests - a.requests || b.last_seen.localeCompare(a.last_seen)).slice(0, limit)
  }
}
