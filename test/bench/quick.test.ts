/**
 * The quick bench as CI runs it: every scenario, every arm, and every response must arrive complete and
 * in order (the load generator compares each body byte for byte). Speed is reported, never asserted.
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const ROOT = join(import.meta.dirname, '..', '..')

t.test('npm run bench -- --quick: no response lost or corrupted in any arm', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'cc-relay-bench-'))
  const run = spawnSync(process.execPath, [join(ROOT, 'bench', 'index.mjs'), '--quick', '--out', out], { encoding: 'utf8', timeout: 170_000 })
  t.equal(run.status, 0, run.stdout.slice(-2000) + run.stderr)
  t.match(run.stdout, /every response arrived complete and in order/)
  const report = JSON.parse(readFileSync(join(out, 'quick.json'), 'utf8')) as {
    results: { scenario: string; skipped?: string; arms?: Record<string, { ok: number; errors: number; corrupted: number }> }[]
  }
  const measured = report.results.filter((r) => r.arms)
  t.ok(measured.length >= 5, 'the available scenarios ran')
  for (const r of measured) {
    for (const [arm, a] of Object.entries(r.arms!)) {
      t.ok(a.ok > 0, `${r.scenario}/${arm} completed requests`)
      t.equal(a.errors + a.corrupted, 0, `${r.scenario}/${arm}: nothing lost or corrupted`)
    }
  }
  t.match(readFileSync(join(out, 'quick.md'), 'utf8'), /\| arm \| req\/s \|/, 'the markdown summary is written')
})
