/**
 * Which store the usage ledger gets (CONTRACT §9): Redis when relays share state (no file is opened),
 * nothing with `usage.db: off`, else the file at `usage.db` — by default `$XDG_STATE_HOME/cc-relay/usage.db`
 * (`~/.local/state/cc-relay/usage.db`), a relative path being relative to the config file's folder. A file
 * that cannot be opened leaves the relay serving with the usage in memory only, and says so.
 */
import { homedir } from 'node:os'
import { isAbsolute, join, resolve } from 'node:path'
import type { RelayConfig } from '../config/types.js'
import type { Logger } from '../shared/log.js'
import { MemoryStore, UsageLedger } from './ledger.js'
import type { LedgerStore } from './ledger.js'

export function defaultLedgerPath(env: NodeJS.ProcessEnv = process.env): string {
  const state = env.XDG_STATE_HOME ? env.XDG_STATE_HOME : join(homedir(), '.local', 'state')
  return join(state, 'cc-relay', 'usage.db')
}

export function ledgerPath(config: RelayConfig, configDir: string): string | undefined {
  const db = config.usage.db
  if (db === 'off') return undefined
  if (db === '') return defaultLedgerPath()
  return isAbsolute(db) ? db : resolve(configDir, db)
}

export async function openLedger(config: RelayConfig, log: Logger, configDir: string): Promise<UsageLedger> {
  let store: LedgerStore
  const path = ledgerPath(config, configDir)
  if (config.state.store === 'redis') {
    // ioredis is loaded only for a relay that uses it (lazy, like the shared state's).
    store = new (await import('./redis-store.js')).RedisLedgerStore(config)
  } else if (path === undefined) {
    store = new MemoryStore()
  } else {
    try {
      // lmdb's native module is loaded only when a file is used.
      store = (await import('./file-store.js')).FileLedgerStore.open(path)
    } catch (err) {
      log.warn({ path, err: (err as Error).message }, 'usage ledger: the file cannot be opened; usage is kept in memory only until a restart')
      store = new MemoryStore()
    }
  }
  const ledger = new UsageLedger(store, log, config.usage.retention_days)
  await ledger.start()
  log.info({ store: store.kind }, 'usage ledger open')
  return ledger
}
