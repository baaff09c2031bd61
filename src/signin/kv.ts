/**
 * Where sign-in state lives (CONTRACT §12): one small key-value interface with three backends — memory
 * (tests, `usage.db: off`), the usage ledger's database file (one relay, or several on one host), Redis
 * (relays that share state: a sign-in started on relay A is approved through B and polled on A). Values
 * are opaque strings (sealed by seal.ts where they hold anything secret); every entry has a lifetime.
 */
export interface KvStore {
  readonly kind: string
  get(key: string): Promise<string | undefined>
  set(key: string, value: string, ttlS: number): Promise<void>
  /** Reads and removes at once: of two callers racing for one key, exactly one gets the value. */
  take(key: string): Promise<string | undefined>
  /** Replaces the value only while it is still `expected` (compare-and-set); false when it changed. */
  swap(key: string, expected: string, value: string, ttlS: number): Promise<boolean>
  delete(key: string): Promise<void>
  /** Every live entry whose key starts with `prefix`. */
  entries(prefix: string): Promise<[string, string][]>
  close(): Promise<void>
}

interface Entry {
  readonly value: string
  readonly expiresAt: number
}

export class MemoryKv implements KvStore {
  readonly kind = 'memory'
  readonly #map = new Map<string, Entry>()

  #live(key: string): Entry | undefined {
    const entry = this.#map.get(key)
    if (entry && entry.expiresAt <= Date.now()) {
      this.#map.delete(key)
      return undefined
    }
    return entry
  }

  async get(key: string): Promise<string | undefined> {
    return this.#live(key)?.value
  }

  async set(key: string, value: string, ttlS: number): Promise<void> {
    this.#map.set(key, { value, expiresAt: Date.now() + ttlS * 1000 })
  }

  async take(key: string): Promise<string | undefined> {
    const entry = this.#live(key)
    this.#map.delete(key)
    return entry?.value
  }

  async swap(key: string, expected: string, value: string, ttlS: number): Promise<boolean> {
    if (this.#live(key)?.value !== expected) return false
    this.#map.set(key, { value, expiresAt: Date.now() + ttlS * 1000 })
    return true
  }

  async delete(key: string): Promise<void> {
    this.#map.delete(key)
  }

  async entries(prefix: string): Promise<[string, string][]> {
    const out: [string, string][] = []
    for (const key of [...this.#map.keys()]) {
      const entry = key.startsWith(prefix) ? this.#live(key) : undefined
      if (entry) out.push([key, entry.value])
    }
    return out
  }

  async close(): Promise<void> {}
}
