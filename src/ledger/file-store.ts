/**
 * The ledger in a file on one host (`usage.db`, CONTRACT §9): an LMDB database (lmdb-js; prebuilt
 * binaries from the npm registry, no compiler). Chosen by the figures in docs/operations.md "Usage
 * ledger": a batch commits in well under a millisecond, a `kill -9` at any moment leaves the file
 * consistent (copy-on-write pages, the last commit or the one before), and several processes may write
 * one file at once — LMDB's writer lock lives in `usage.db-lock` and is shared between processes, so a
 * read-modify-write inside one transaction is atomic across relays.
 *
 * Layout: keys are arrays, so rows sort by day: `['row', day, client, provider, model, group]` → the
 * counters in COUNTERS order; `['meta', 'schema']` → the schema version, for migrations.
 */
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { open } from 'lmdb'
import type { Database, RootDatabase } from 'lmdb'
import type { LedgerStore } from './ledger.js'
import { addDays, COUNTERS, emptyRow } from './rows.js'
import type { LedgerRow } from './rows.js'

/** Bump with a migration in MIGRATIONS when the layout changes. */
export const SCHEMA_VERSION = 2
const SCHEMA_KEY = ['meta', 'schema']

type Counters = number[]

/** Migrations from version N to N + 1, run in order inside one write transaction at open. */
const MIGRATIONS: ReadonlyArray<(db: Database) => void> = [
  // 1 → 2 (issue 23): rows gain the team group; what was booked before groups existed had none.
  (db) => {
    for (const { key, value } of db.getRange({ start: ['row'], end: ['row\u0000'] })) {
      const k = key as string[]
      if (k.length !== 5) continue
      db.removeSync(k)
      db.putSync([...k, ''], value)
    }
  },
]

export class FileLedgerStore implements LedgerStore {
  readonly kind: string
  readonly #db: RootDatabase

  private constructor(path: string, db: RootDatabase) {
    this.kind = `file ${path}`
    this.#db = db
  }

  /** Opens (creating it and its folder) and brings the schema to SCHEMA_VERSION. */
  static open(path: string): FileLedgerStore {
    mkdirSync(dirname(path), { recursive: true })
    const db = open({ path, compression: false })
    try {
      db.transactionSync(() => {
        const found = db.get(SCHEMA_KEY) as number | undefined
        if (found !== undefined && found > SCHEMA_VERSION) throw new Error(`${path} has ledger schema ${found}; this relay knows ${SCHEMA_VERSION} (a newer relay wrote it)`)
        for (let v = found ?? SCHEMA_VERSION; v < SCHEMA_VERSION; v++) MIGRATIONS[v - 1]!(db)
        if (found !== SCHEMA_VERSION) db.putSync(SCHEMA_KEY, SCHEMA_VERSION)
      })
    } catch (err) {
      void db.close()
      throw err
    }
    return new FileLedgerStore(path, db)
  }

  async read(since: string, until: string): Promise<LedgerRow[]> {
    const rows: LedgerRow[] = []
    for (const { key, value } of this.#db.getRange({ start: ['row', since], end: ['row', addDays(until, 1)] })) {
      const [, day, client, provider, model, group] = key as [string, string, string, string, string, string]
      const row = emptyRow(day, client, provider, model, group ?? '')
      COUNTERS.forEach((c, i) => (row[c] = Number((value as Counters)[i] ?? 0)))
      rows.push(row)
    }
    return rows
  }

  async add(rows: readonly LedgerRow[]): Promise<void> {
    // One synchronous transaction: committed (to the OS) when it returns; LMDB's lock makes the
    // read-modify-write atomic against other processes on the same file.
    this.#db.transactionSync(() => {
      for (const row of rows) {
        const key = ['row', row.day, row.client, row.provider, row.model, row.group]
        const stored = (this.#db.get(key) as Counters | undefined) ?? []
        this.#db.putSync(key, COUNTERS.map((c, i) => Number(stored[i] ?? 0) + row[c]))
      }
    })
  }

  async prune(day: string): Promise<void> {
    this.#db.transactionSync(() => {
      for (const key of this.#db.getKeys({ start: ['row'], end: ['row', day] })) this.#db.removeSync(key)
    })
  }

  async close(): Promise<void> {
    await this.#db.close()
  }
}
