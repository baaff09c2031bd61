/**
 * The quick bench as CI runs it: every scenario, every arm, and every response must arrive complete and
 * in order (the load generator compares each body byte for byte). Speed is reported, never asserted; that
 * the figures exist is (CPU per request and per event, split per thread, RSS per open stream, the relay's
 * GC pauses). The nginx arm runs when nginx is installed, and must then have run in every common scenario.
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as scenariosJs from '../../bench/scenarios.mjs'
import * as nginxJs from '../../bench/lib/nginx.mjs'
import { needs } from '../helpers/requires.js'

const ROOT = join(import.meta.dirname, '..', '..')
const { SCENARIOS } = scenariosJs as unknown as { SCENARIOS: { name: string; setup?: unknown; unavailable?: string; perStream?: boolean }[] }
const { nginxPath } = nginxJs as unknown as { nginxPath(): string | undefined }
const COMMON_ARMS = ['direct', 'cc-relay', 'cc-relay[workers]', 'plain-proxy', 'floor', 'nginx']
/** Scenarios that need a program beyond Node, and how to install it. */
const PROGRAMS: Record<string, [program: string, install: string]> = {
  'shared-redis': ['redis-server', 'apt-get install redis-server (.ci/run does it)'],
}
const RELAYS = ['cc-relay', 'cc-relay[workers]', 'cc-relay[rules]', 'cc-relay[memory-ledger]', 'cc-relay[tracing]']

interface Arm {
  ok: number
  errors: number
  corrupted: number
  cpuUsPerRequest: number | null
  cpuNsPerEvent: number | null
  kbPerStream: number | null
  threads: {
    total: { usPerRequest: number | null }
    main: { usPerRequest: number | null; nsPerEvent: number | null }
    workers: { usPerRequest: number | null; byName: Record<string, unknown> }
    shares: { main: number | null; workers: number | null; v8: number | null; other: number | null }
  } | null
  gc: { ms: number; pauses: number; msPerS: number; msPer1000: number } | null
}

// Every scenario × six arms runs here, on cores the rest of the suite shares: more than tap's default file time.
t.setTimeout(450_000)

t.test('npm run bench -- --quick: every scenario and every arm, no response lost or corrupted', async (t) => {
  // The nginx arm is left out, with one line saying so, on a machine without nginx.
  const noNginx = needs(t, nginxPath() ?? 'nginx', 'apt-get install nginx-light (.ci/run does it)')
  const common = noNginx ? COMMON_ARMS.filter((a) => a !== 'nginx') : COMMON_ARMS
  const out = mkdtempSync(join(tmpdir(), 'cc-relay-bench-'))
  const started = Date.now()
  const run = spawnSync(process.execPath, [join(ROOT, 'bench', 'index.mjs'), '--quick', '--out', out], { encoding: 'utf8', timeout: 420_000 })
  t.comment(`quick bench took ${((Date.now() - started) / 1000).toFixed(0)} s`)
  t.equal(run.status, 0, run.stdout.slice(-2000) + run.stderr)
  t.match(run.stdout, /every response arrived complete and in order/)
  if (noNginx) t.match(run.stdout, /nginx arm left out: nginx is not installed \(apt-get install nginx-light\)/, noNginx)
  const report = JSON.parse(readFileSync(join(out, 'quick.json'), 'utf8')) as { results: { scenario: string; skipped?: string; arms?: Record<string, Arm> }[] }
  t.same(
    report.results.map((r) => r.scenario),
    SCENARIOS.map((s) => s.name),
    'every scenario ran, in order',
  )
  for (const r of report.results) {
    const scenario = SCENARIOS.find((s) => s.name === r.scenario)!
    if (r.skipped) {
      // A scenario left out for a missing program is a skip (a failure under CC_RELAY_TEST_REQUIRE_ALL), never a pass.
      const program = PROGRAMS[r.scenario]
      if (!program) {
        t.fail(`${r.scenario} was skipped (${r.skipped}), but it needs no program the machine could lack`)
        continue
      }
      const why = needs(t, program[0], program[1])
      if (why) t.pass(`${r.scenario} not run`, { skip: why })
      else t.fail(`${r.scenario} was skipped (${r.skipped}) though ${program[0]} is installed`)
      continue
    }
    const arms = r.arms!
    // claude-code also runs the relay with five routing rules (issue 15), team with its ledger in memory
    // (issue 16), and four scenarios with every request traced to an OTLP sink (issue 25).
    const traced = ['non-streaming', 'paced-256', 'burst-64', 'claude-code'].includes(r.scenario) ? ['cc-relay[tracing]'] : []
    const extra = [...(r.scenario === 'claude-code' ? ['cc-relay[rules]'] : r.scenario === 'team' ? ['cc-relay[memory-ledger]'] : []), ...traced]
    const expected = [...common.slice(0, 3), ...extra, ...common.slice(3)]
    if (!scenario.setup) t.same(Object.keys(arms), expected, `${r.scenario}: every arm ran`)
    for (const [name, a] of Object.entries(arms)) {
      t.ok(a.ok > 0, `${r.scenario}/${name} completed requests`)
      t.equal(a.errors + a.corrupted, 0, `${r.scenario}/${name}: nothing lost or corrupted`)
      if (name === 'direct') continue
      t.ok(a.cpuUsPerRequest !== null && a.cpuUsPerRequest > 0, `${r.scenario}/${name}: CPU per request measured`)
      if (scenario.params.stream !== 0) t.ok(a.cpuNsPerEvent !== null && a.cpuNsPerEvent > 0, `${r.scenario}/${name}: CPU per event measured`)
      if (scenario.perStream) t.ok(a.kbPerStream !== null, `${r.scenario}/${name}: RSS per open stream measured`)
      // Per thread: the main thread's CPU (nginx: its worker process's) for every arm, per event in streams.
      t.ok(a.threads !== null && a.threads.main.usPerRequest !== null && a.threads.main.usPerRequest > 0, `${r.scenario}/${name}: main-thread CPU measured`)
      if (scenario.params.stream !== 0) t.ok(a.threads?.main.nsPerEvent != null && a.threads.main.nsPerEvent > 0, `${r.scenario}/${name}: main-thread CPU per event measured`)
      const shares = Object.values(a.threads?.shares ?? {}) as number[]
      // Threads' run times are exact; the process's total is in 10 ms ticks, which a 1 s run can feel.
      t.ok(shares.length === 4 && Math.abs(shares.reduce((x, y) => x + y, 0) - 1) <= 0.1, `${r.scenario}/${name}: main, workers, V8 and other add up to the whole (${shares.join(' + ')})`)
      // The worker arm's upstream exchanges run in its worker threads, so they have CPU of their own.
      if (name === 'cc-relay[workers]') t.ok((a.threads?.workers.usPerRequest ?? 0) > 0, `${r.scenario}/${name}: worker threads' CPU measured`)
      if (RELAYS.includes(name) || scenario.setup) t.ok(a.gc !== null && a.gc.pauses >= 0 && a.gc.ms >= 0, `${r.scenario}/${name}: GC pauses scraped from /metrics`)
    }
  }
  const markdown = readFileSync(join(out, 'quick.md'), 'utf8')
  t.match(markdown, /\| scenario \| relay\/direct events\/s \|/, 'the markdown has the headline table')
  if (!noNginx) t.match(markdown, /\| relay\/nginx CPU\/req \|/, 'with the ratios to nginx')
  t.match(markdown, /\| arm \| req\/s \|/, 'and the per-scenario tables')
})
