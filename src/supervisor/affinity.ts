/**
 * Session affinity: a Claude Code session stays on the provider and key that served it while they stay
 * healthy, so the upstream's prompt cache (per organisation and key) keeps hitting. Entries expire
 * `routing.affinity.ttl_ms` after their last use. The map is kept in last-use order (delete + set), so
 * expired entries are always at its front and pruning costs nothing per request.
 */

export interface AffinityEntry {
  readonly provider: string
  /** Undefined for a lease without a pooled key (client credential, keyless provider). */
  readonly keyHash: string | undefined
  /** The thinking family of the provider that served the session last. */
  readonly family: string
  readonly expires: number
}

/** Beyond this many live sessions the least recently used are forgotten. */
const MAX_SESSIONS = 100_000

export class AffinityMap {
  readonly #entries = new Map<string, AffinityEntry>()

  get(session: string, now: number): AffinityEntry | undefined {
    this.#prune(now)
    return this.#entries.get(session)
  }

  remember(session: string, provider: string, keyHash: string | undefined, family: string, now: number, ttlMs: number): void {
    this.#entries.delete(session)
    this.#entries.set(session, { provider, keyHash, family, expires: now + ttlMs })
    if (this.#entries.size > MAX_SESSIONS) this.#entries.delete(this.#entries.keys().next().value!)
  }

  get size(): number {
    return this.#entries.size
  }

  #prune(now: number): void {
    for (const [session, entry] of this.#entries) {
      if (entry.expires > now) return
      this.#entries.delete(session)
    }
  }
}

/**
 * The session a request belongs to: Claude Code's `x-claude-code-session-id` header, else the session in
 * `metadata.user_id` — a JSON string `{"session_id": …}` since v2.1.78, or the legacy
 * `user_<hash>_account_<uuid>_session_<uuid>` (wire-protocols.md §2.4).
 */
export function sessionOf(header: string | undefined, userId: unknown): string | undefined {
  if (header) return header
  if (typeof userId !== 'string' || userId === '') return undefined
  if (userId.startsWith('{')) {
    try {
      const session = (JSON.parse(userId) as { session_id?: unknown }).session_id
      return typeof session === 'string' && session ? session : undefined
    } catch {
      return undefined
    }
  }
  return /_session_([\w-]+)$/.exec(userId)?.[1]
}
