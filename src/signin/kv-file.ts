/**
 * Sign-in state in the usage ledger's database file (CONTRACT §12: "the usage database on one relay"):
 * a named LMDB database, `signin`, beside the ledger's rows in the same file, so one file holds
 * everything a single relay must keep across a restart. LMDB's write lock is shared between processes,
 * so take and swap (each one write transaction) are atomic across relays on one host too. Expired
 * entries read as absent and are pruned once a minute.
 */
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { open } from 'lmdb'
import type { Database, RootDatabase } from 'lmdb'
import type { KvStore } from './kv.js'

interface Stored {
  readonly v: string
  /** Expiry, ms since the epoch. */
  readonly e: number
}

const PRUNE_MS = 60_000

export class FileKv implements KvStore {
  readonly kind: string
  readonly #root: RootDatabase
  readonly #db: Database<Stored, string>
  readonly #pruner: NodeJS.Timeout

  constructor(path: string) {
    mkdirSync(dirname(path), { recursive: true })
    this.kind = `file ${path}`
    // The ledger opens the same file in this process; lmdb-js shares one environment per path.
    this.#root = open({ path, compression: false })
    this.#db = this.#root.openDB<Stored, string>('signin', {})
    this.#pruner = setInterval(() => this.#prune(), PRUNE_MS).unref()
  }

  #live(key: string): Stored | undefined {
    const s = this.#db.get(key)
    return s && s.e > Date.now() ? s : undefined
  }

  async get(key: string): Promise<string | undefined> {
    return this.#live(key)?.v
  }

  async set(key: string, value: string, ttlS: number): Promise<void> {
    this.#db.putSync(key, { v: value, e: Date.now() + ttlS * 1000 })
  }

  async take(key: string): Promise<string | undefined> {
    return this.#db.transactionSync(() => {
      const s = this.#live(key)
      if (this.#db.get(key) !== undefined) this.#db.removeSync(key)
      return s?.v
    })
  }

  async swap(key: string, expected: string, value: string, ttlS: number): Promise<boolean> {
    return this.#db.transactionSync(() => {
      if (this.#live(key)?.v !== expected) return false
      this.#db.putSync(key, { v: value, e: Date.now() + ttlS * 1000 })
      return true
    })
  }

  async delete(key: string): Promise<void> {
    this.#db.removeSync(key)
  }

  async entries(prefix: string): Promise<[string, string][]> {
    const now = Date.now()
    const out: [string, string][] = []
    for (const { key, value } of this.#db.getRange({ start: prefix, end: `${prefix}\uffff` })) {
      if (value.e > now) out.push([key, value.v])
    }
    return out
  }

  #prune(): void {
    const now = Date.now()
    try {
      this.#db.transactionSync(() => {
        for (const { key, value } of this.#db.getRange({})) if (value.e <= now) this.#db.removeSync(key)
      })
    } catch {
      // A failed prune leaves expired entries that read as absent anyway; the next one tries again.
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#pruner)
    await this.#root.close()
  }
}
