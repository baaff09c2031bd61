/**
 * `npm run bench -- --profile`: the relay runs under `node --cpu-prof`, exits cleanly on SIGTERM so its
 * profiles are written, and the bench prints the functions with the most self time per thread.
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const ROOT = join(import.meta.dirname, '..', '..')

t.test('--profile --quick --scenarios non-streaming: a .cpuprofile and the top-functions table', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'cc-relay-bench-profile-'))
  const run = spawnSync(process.execPath, [join(ROOT, 'bench', 'index.mjs'), '--profile', '--quick', '--scenarios', 'non-streaming', '--out', out], { encoding: 'utf8', timeout: 55_000 })
  t.equal(run.status, 0, run.stdout.slice(-2000) + run.stderr)
  t.match(run.stdout, /every response arrived complete and in order/)
  t.match(run.stdout, /main thread \(CPU\.[\d.]+\.cpuprofile\): [\d.]+ s profiled/, 'a table for the main thread')
  t.match(run.stdout, /%\s+self ms\s+function\s+where/, 'with its header')
  const rows = run.stdout.split('\n').filter((l) => /^\s+\d+\.\d\s+\d+\.\d\s+\S/.test(l))
  t.ok(rows.length >= 10, `function rows are printed (${rows.length})`)
  t.ok(
    rows.some((l) => /dist\/src\//.test(l)),
    "the relay's own functions appear, their paths shortened to the repository",
  )
  const where = /profiles: (\S+)/.exec(run.stdout)?.[1]
  t.ok(where, 'says where the profiles are')
  const files = readdirSync(where!).filter((f) => f.endsWith('.cpuprofile'))
  t.ok(files.length >= 1, `a .cpuprofile was written (${files.join(', ')})`)
  const profile = JSON.parse(readFileSync(join(where!, files[0]!), 'utf8')) as { nodes: unknown[]; samples: number[] }
  t.ok(profile.nodes.length > 0 && profile.samples.length > 0, 'with samples in it')
  t.same(
    readdirSync(out).filter((f) => f.endsWith('.json') && !f.startsWith('cc-relay-profile-')),
    [],
    'a profile run writes no bench results beside the profiles',
  )
})

t.test('self time: a sample lasts until the next one (the last until the profile ends), summed per function', async (t) => {
  const { selfTimes, shortUrl } = (await import('../../bench/profile.mjs')) as unknown as {
    selfTimes(p: unknown, root: string): { functions: { name: string; where: string; ms: number }[]; totalMs: number; idleMs: number }
    shortUrl(url: string, root: string): string
  }
  const frame = (functionName: string, url = '', lineNumber = 0) => ({ functionName, url, lineNumber, columnNumber: 0, scriptId: '0' })
  const profile = {
    nodes: [
      { id: 1, callFrame: frame('(root)') },
      { id: 2, callFrame: frame('write', 'file:///repo/dist/src/a.js', 9) },
      { id: 3, callFrame: frame('write', 'file:///repo/dist/src/a.js', 9) }, // the same function by another path
      { id: 4, callFrame: frame('(idle)') },
    ],
    startTime: 0,
    endTime: 100_000,
    samples: [2, 4, 3],
    timeDeltas: [5_000, 10_000, 20_000], // samples at 5, 15 and 35 ms
  }
  const { functions, totalMs, idleMs } = selfTimes(profile, '/repo')
  t.same(functions[0], { name: 'write', where: 'dist/src/a.js:10', ms: 10 + 65 })
  t.equal(idleMs, 20)
  t.equal(totalMs, 95)
  t.equal(shortUrl('file:///repo/node_modules/undici/lib/core/util.js', '/repo'), 'node_modules/undici/lib/core/util.js')
  t.equal(shortUrl('node:internal/streams/writable', '/repo'), 'node:internal/streams/writable')
})
