/**
 * Sign-in state in Redis (`state.store: redis`, CONTRACT §12): every relay sees the same device codes,
 * approvals, refresh sessions and revocations, so a sign-in started on relay A is approved through B and
 * polled on A. Keys are `{key_prefix}signin:{key}` with Redis's own expiry; take is GETDEL (Redis ≥ 6.2)
 * and swap a small Lua compare-and-set, both atomic.
 */
import { Redis } from 'ioredis'
import type { RedisConfig } from '../config/types.js'
import type { KvStore } from './kv.js'

const SWAP = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) return 1 else return 0 end`

/** A SCAN pattern matching `prefix` literally. */
const globEscape = (prefix: string): string => prefix.replace(/[*?[\]\\]/g, (c) => `\\${c}`)

export class RedisKv implements KvStore {
  readonly kind = 'redis'
  readonly #redis: Redis
  readonly #prefix: string

  constructor(config: RedisConfig) {
    this.#prefix = `${config.key_prefix}signin:`
    this.#redis = new Redis(config.url, {
      connectTimeout: config.connect_timeout_ms,
      commandTimeout: Math.max(config.command_timeout_ms, 2000),
      maxRetriesPerRequest: 1,
      retryStrategy: (times) => Math.min(100 * times, 2000),
    })
    this.#redis.on('error', () => {}) // a failing command answers the sign-in request with an error
  }

  async get(key: string): Promise<string | undefined> {
    return (await this.#redis.get(this.#prefix + key)) ?? undefined
  }

  async set(key: string, value: string, ttlS: number): Promise<void> {
    await this.#redis.set(this.#prefix + key, value, 'EX', Math.max(1, Math.ceil(ttlS)))
  }

  async take(key: string): Promise<string | undefined> {
    return (await this.#redis.getdel(this.#prefix + key)) ?? undefined
  }

  async swap(key: string, expected: string, value: string, ttlS: number): Promise<boolean> {
    return (await this.#redis.eval(SWAP, 1, this.#prefix + key, expected, value, Math.max(1, Math.ceil(ttlS)))) === 1
  }

  async delete(key: string): Promise<void> {
    await this.#redis.del(this.#prefix + key)
  }

  async entries(prefix: string): Promise<[string, string][]> {
    const keys: string[] = []
    let cursor = '0'
    do {
      const [next, batch] = await this.#redis.scan(cursor, 'MATCH', `${globEscape(this.#prefix + prefix)}*`, 'COUNT', 500)
      cursor = next
      keys.push(...batch)
    } while (cursor !== '0')
    if (keys.length === 0) return []
    const values = await this.#redis.mget(...keys)
    const out: [string, string][] = []
    keys.forEach((k, i) => {
      const v = values[i]
      if (v !== null && v !== undefined) out.push([k.slice(this.#prefix.length), v])
    })
    return out
  }

  async close(): Promise<void> {
    this.#redis.disconnect()
  }
}
