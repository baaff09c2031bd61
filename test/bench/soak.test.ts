/**
 * The soak (bench/soak.mjs) as CI runs it: short, but with every kind of traffic it mixes — paced
 * streams, non-streaming calls, failovers, clients that hang up, slow readers, reloads every 2 s. Nothing
 * may be lost, and once the load stops the relay's sockets and timers must be back where they started.
 * The long run (`npm run soak`, 10 minutes) also holds RSS to within 10 % of minute 1.
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const ROOT = join(import.meta.dirname, '..', '..')

t.test('a short soak: nothing lost, nothing leaked', async (t) => {
  const out = join(mkdtempSync(join(tmpdir(), 'cc-relay-soak-')), 'soak.json')
  const run = spawnSync(process.execPath, [join(ROOT, 'bench', 'soak.mjs'), '--seconds', '20', '--concurrency', '16', '--reload-every', '2', '--out', out], { encoding: 'utf8', timeout: 120_000 })
  t.equal(run.status, 0, run.stdout + run.stderr)
  const report = JSON.parse(readFileSync(out, 'utf8')) as { reloads: number; tally: Record<string, { ok: number; lost: number }>; problems: string[] }
  t.same(report.problems, [])
  t.ok(report.reloads >= 5, `${report.reloads} reloads during the run`)
  for (const [kind, { ok, lost }] of Object.entries(report.tally)) {
    t.ok(ok > 0, `${kind}: ${ok} completed`)
    t.equal(lost, 0, `${kind}: nothing lost`)
  }
})
