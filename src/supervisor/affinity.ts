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

/**
 * What affinity is kept under: the session, and the routing rule its turn matched (CONTRACT §8). A
 * session's turns that a rule sends elsewhere (its Haiku calls to a local model, say) stick there
 * without pulling its other turns along, which keep their own provider.
 */
export function affinityKey(session: string, rule: string | undefined): string {
  return rule === undefined ? session : `${session}\u0000rule:${rule}`
}

const sessionOfKey = (key: string): string => {
  const cut = key.indexOf('\u0000')
  return cut === -1 ? key : key.slice(0, cut)
}

/** A map kept in last-use order with a TTL per entry: expired entries are at its front. */
class ExpiringMap<T extends { readonly expires: number }> {
  readonly #entries = new Map<string, T>()

  get(key: string, now: number): T | undefined {
    for (const [k, entry] of this.#entries) {
      if (entry.expires > now) break
      this.#entries.delete(k)
    }
    return this.#entries.get(key)
  }

  set(key: string, entry: T): void {
    this.#entries.delete(key)
    this.#entries.set(key, entry)
    if (this.#entries.size > MAX_SESSIONS) this.#entries.delete(this.#entries.keys().next().value!)
  }

  get size(): number {
    return this.#entries.size
  }
}

export class AffinityMap {
  readonly #entries = new ExpiringMap<AffinityEntry>()
  /**
   * The thinking family that served each session's latest turn, whatever rule it matched: the history
   * the next turn carries has that family's thinking in it (reduce.ts strips it on a change of family).
   */
  readonly #families = new ExpiringMap<{ readonly family: string; readonly expires: number }>()

  /** The provider and key `key` (affinityKey) was served by last. */
  get(key: string, now: number): AffinityEntry | undefined {
    return this.#entries.get(key, now)
  }

  /** The family of the provider that served the session's latest turn. */
  lastFamily(session: string, now: number): string | undefined {
    return this.#families.get(session, now)?.family
  }

  remember(key: string, provider: string, keyHash: string | undefined, family: string, now: number, ttlMs: number): void {
    this.#entries.set(key, { provider, keyHash, family, expires: now + ttlMs })
    this.#families.set(sessionOfKey(key), { family, expires: now + ttlMs })
  }

  get size(): number {
    return this.#entries.size
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
