#!/usr/bin/env node
// The cc-relay command. Plain JavaScript over the compiled dist/ (`npm ci` builds it through `prepare`).
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'src', 'cli.js')
if (!existsSync(cli)) {
  process.stderr.write('cc-relay: dist/ is missing; run `npm run build` (or `npm ci`, which builds) first\n')
  process.exit(1)
}
const { main } = await import(pathToFileURL(cli).href)
try {
  process.exit(await main(process.argv.slice(2)))
} catch (err) {
  process.stderr.write(`cc-relay: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
}
