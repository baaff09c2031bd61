/**
 * Notices when the config file changes. The folder is watched, not the file: editors and config
 * management replace a file by renaming a new one over it, which ends a watch on the old inode. Bursts
 * of events (write, then chmod, then rename) are folded into one call, and a change that leaves the
 * bytes as they were is ignored.
 */
import { createHash } from 'node:crypto'
import { readFileSync, watch } from 'node:fs'
import type { FSWatcher } from 'node:fs'
import { basename, dirname } from 'node:path'

const SETTLE_MS = 150

const contentHash = (file: string): string | undefined => {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex')
  } catch {
    return undefined // gone for a moment mid-rename; the next event reads it
  }
}

export function watchConfigFile(file: string, changed: () => void): () => void {
  let last = contentHash(file)
  let timer: NodeJS.Timeout | undefined
  let watcher: FSWatcher
  try {
    watcher = watch(dirname(file), { persistent: false }, (_event, name) => {
      if (name !== null && name !== basename(file)) return
      clearTimeout(timer)
      timer = setTimeout(() => {
        const now = contentHash(file)
        if (now === undefined || now === last) return
        last = now
        changed()
      }, SETTLE_MS)
    })
  } catch {
    return () => {} // a folder that cannot be watched: SIGHUP still reloads
  }
  return () => {
    clearTimeout(timer)
    watcher.close()
  }
}
