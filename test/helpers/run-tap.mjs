#!/usr/bin/env node
// Runs tap with its raw TAP reporter, passes the output through, and ends with the plain closing line
// CI reads: `tests: N passed, N failed, N skipped`, taken from tap's own final tally
// (`# { total: …, pass: …, fail: … }`). No tally (tap crashed, nothing ran) counts as a failure.
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const tapBin = join(root, 'node_modules', 'tap', 'dist', 'esm', 'run.mjs')
const child = spawn(process.execPath, [tapBin, '--reporter=tap', ...process.argv.slice(2)], {
  cwd: root,
  stdio: ['ignore', 'pipe', 'inherit'],
})

let tally = null
const lines = createInterface({ input: child.stdout })
lines.on('line', (line) => {
  process.stdout.write(line + '\n')
  const m = /^# (\{ total: .*\})$/.exec(line)
  if (m) tally = Object.fromEntries([...m[1].matchAll(/(\w+): (\d+)/g)].map(([, k, v]) => [k, Number(v)]))
})

child.on('close', (code) => {
  if (!tally) {
    process.stdout.write('tests: 0 passed, 1 failed, 0 skipped\n')
    process.exit(code || 1)
  }
  const skipped = (tally.skip ?? 0) + (tally.todo ?? 0)
  process.stdout.write(`tests: ${tally.pass ?? 0} passed, ${tally.fail ?? 0} failed, ${skipped} skipped\n`)
  process.exit(code ?? (tally.fail ? 1 : 0))
})
