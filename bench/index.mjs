#!/usr/bin/env node
// `npm run bench [-- --quick] [--tls] [--target URL [--target-pid N] [--target-header 'name: value']…] [--scenarios a,b] [--rounds N] [--seconds S] [--update-docs]`
// `npm run bench -- … --arms cc-relay,cc-relay[tracing],target`: only the arms named (the others are started, not measured)
// `npm run bench -- --profile [--scenarios a,b]`: CPU profile of the relay under load (bench/profile.mjs)
// `npm run bench -- --profile --perf [--scenarios a,b]`: the main thread's CPU per event by part, with Linux perf (bench/perf.mjs)
// `npm run bench -- --soak-minutes N`: the soak (bench/soak.mjs), mixed traffic and reloads for N minutes
//
// Starts the mock upstream, cc-relay (pointed at the mock; also a second one with its upstream I/O in
// worker threads), the plainest Node proxy, the floor (the relay's architecture with no features) and
// nginx (when installed) as separate processes (bench/arms.mjs), then runs each scenario's load against
// every arm in the same run, interleaved round by round: direct to the mock, through each of them, and
// through `--target` if given. `--tls`: the mock serves HTTPS, and every arm's upstream leg pays TLS.
// A scenario may bring its own arms instead (`setup` in scenarios.mjs: shared-redis compares relays on
// the memory store and on Redis).
// Exits 1 when any response was lost or corrupted, never because of speed.
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startArms } from './arms.mjs'
import { Histogram } from './lib/histogram.mjs'
import { rssMb, rssPeak } from './lib/procstat.mjs'
import { encodeParams } from './lib/shape.mjs'
import { both, mergeSplit, threadSnapshot, threadSplit } from './lib/threads.mjs'
import { tlsUnavailable } from './lib/tls.mjs'
import { perfUnavailable, renderPerf, startPerf } from './perf.mjs'
import { renderProfiles } from './profile.mjs'
import { renderMarkdown, renderTable, summarise } from './report.mjs'
import { SCENARIOS } from './scenarios.mjs'

const HERE = dirname(fileURLToPath(import.meta.url))
const ROOT = join(HERE, '..')
const args = process.argv.slice(2)
const flag = (name) => args.includes(`--${name}`)
const option = (name, fallback) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : fallback)

const quick = flag('quick')
const rounds = Number(option('rounds', quick ? 1 : 3))
const seconds = Number(option('seconds', quick ? 1 : 5))
const wanted = option('scenarios', '')
  .split(',')
  .filter(Boolean)
const target = option('target', '')
/** `--tls`: the mock serves HTTPS with a fresh self-signed certificate every arm trusts. */
const tls = flag('tls')
const outDir = option('out', join(HERE, 'results'))
/** `--perf`: the profile is taken with Linux perf instead of V8's profiler (bench/perf.mjs). */
const perf = flag('perf')
/** `--profile`: only the relay arm (and direct), started under `node --cpu-prof`; `--profile-arm` picks another relay arm. */
const profile = flag('profile') || perf
const profileArm = option('profile-arm', 'cc-relay')
/** `--variant NAME:ENV=VALUE[+ENV=VALUE]` (repeatable): extra cc-relay arms started with that environment. */
const variant = (spec) => {
  const [name, envText = ''] = spec.split(/:(.*)/s)
  return { name: `cc-relay[${name}]`, env: Object.fromEntries(envText.split('+').filter(Boolean).map((kv) => kv.split(/=(.*)/s).slice(0, 2))) }
}
/** Always measured (unless `--no-workers-arm`): the relay with every upstream exchange in worker threads. */
const WORKERS_ARM = 'workers:CC_RELAY_UPSTREAM_IO=workers'
const variants = [...(flag('no-workers-arm') ? [] : [WORKERS_ARM]), ...args.flatMap((a, i) => (a === '--variant' ? [args[i + 1]] : []))]
  .map(variant)
  .filter((v, i, all) => all.findLastIndex((w) => w.name === v.name) === i) // a --variant of the same name replaces the default

/**
 * The target's headers: `--target-header 'name: value'` (repeatable), else `x-api-key: $BENCH_TARGET_KEY`
 * (default `bench`); with headers given, x-api-key goes too only when BENCH_TARGET_KEY is set.
 */
function targetHeaders() {
  const given = args.flatMap((a, i) => (a === '--target-header' ? [args[i + 1] ?? ''] : []))
  const headers = {}
  if (given.length === 0 || process.env.BENCH_TARGET_KEY !== undefined) headers['x-api-key'] = process.env.BENCH_TARGET_KEY ?? 'bench'
  for (const line of given) {
    const colon = line.indexOf(':')
    if (colon < 1) throw new Error(`--target-header wants 'name: value', got ${JSON.stringify(line)}`)
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  return headers
}

/**
 * Runs the load generator; `onPhase(name)` runs when it reports a phase (`warm`: the warm-up is over and
 * counting starts when this returns; `done`: the last counted request has ended), and it waits for that.
 */
function runLoad(job, onPhase) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(HERE, 'load.mjs'), JSON.stringify(job)], { stdio: ['pipe', 'pipe', 'inherit'] })
    let out = ''
    let last = ''
    let chain = Promise.resolve()
    child.stdout.on('data', (d) => {
      out += d
      for (let nl = out.indexOf('\n'); nl !== -1; nl = out.indexOf('\n')) {
        const line = out.slice(0, nl)
        out = out.slice(nl + 1)
        const parsed = JSON.parse(line)
        if (parsed.phase === undefined) {
          last = parsed
          continue
        }
        chain = chain
          .then(() => onPhase(parsed.phase))
          .then(() => {
            child.stdin.write('go\n')
            if (parsed.phase === 'done') child.stdin.end()
          })
          .catch((err) => {
            child.kill()
            reject(err)
          })
      }
    })
    child.on('exit', (code) => (code === 0 && last ? resolve(last) : reject(new Error(`load generator exited with ${code}`))))
  })
}

/**
 * GC pauses so far in the arm's relays, from their Prometheus /metrics (prom-client's default metrics:
 * main-thread pauses only; worker threads' GC is not in them). null for an arm without relays.
 */
async function gcOf(arm) {
  if (!arm.metricsUrls) return null
  const total = { ms: 0, count: 0, byKind: {} }
  for (const url of arm.metricsUrls) {
    const text = await (await fetch(url)).text()
    for (const m of text.matchAll(/^cc_relay_nodejs_gc_duration_seconds_(sum|count)\{kind="(\w+)"\} ([\d.e+-]+)$/gm)) {
      const value = Number(m[3])
      if (m[1] === 'count') total.count += value
      else {
        total.ms += value * 1000
        total.byKind[m[2]] = (total.byKind[m[2]] ?? 0) + value * 1000
      }
    }
  }
  return total
}

const gcDelta = (after, before) =>
  after && before ? { ms: after.ms - before.ms, count: after.count - before.count, byKind: Object.fromEntries(Object.entries(after.byKind).map(([k, v]) => [k, v - (before.byKind[k] ?? 0)])) } : null

/**
 * One scenario against one arm, with the arm's process cost measured over exactly the counted requests
 * (between the load generator's `warm` and `done`). An arm of several processes (`urls`, `pids`) gets the
 * load split evenly across them; its CPU, GC and RSS growth are their sums, its peak RSS the largest one's.
 */
async function measure(scenario, arm) {
  const s = quick && scenario.quick ? { ...scenario, ...scenario.quick, params: { ...scenario.params, ...scenario.quick.params } } : scenario
  const job = {
    urls: (arm.urls ?? [arm.url]).map((url) => `${url}/v1/messages`),
    // A scenario of a team client sends its key to the relays (the others take no key).
    headers: { ...arm.headers, ...(s.clientKey && arm.name.startsWith('cc-relay') ? { 'x-api-key': s.clientKey } : {}), 'x-bench': encodeParams(s.params) },
    concurrency: s.concurrency,
    mode: s.mode ?? 'closed',
    rate: s.rate,
    requests: s.requests,
    requestBytes: s.requestBytes,
    requestShape: s.requestShape,
    model: s.model,
    // A relay arm whose provider translates (openai) sends the translation of the mock's stream.
    expect: s.translated && arm.name.startsWith('cc-relay') ? s.translated : undefined,
    durationMs: seconds * 1000,
    // Connections, JIT and caches; a short one under --quick (a correctness smoke).
    warmupMs: s.requests ? 0 : quick ? 200 : Math.min(1000, seconds * 300),
  }
  const pids = arm.pids ?? (arm.pid ? [arm.pid] : [])
  const idleRss = pids.map((pid) => rssMb(pid))
  const stopRss = pids.map((pid) => rssPeak(pid))
  let threadsBefore = null
  let threads = null
  let gcBefore = null
  let gc = null
  /** When the counted requests ran, in µs of the monotonic clock V8's profiler stamps samples with. */
  const window = []
  // --perf: the profiled relay is recorded over exactly its counted requests.
  const perfFile = perf && arm.name === profileArm ? join(profileDir, `perf-${scenario.name}-${recordings.length}.data`) : undefined
  let recording
  const result = await runLoad(job, async (phase) => {
    if (phase === 'warm') {
      gcBefore = await gcOf(arm) // first: a scrape costs the relay some CPU
      if (pids.length) threadsBefore = threadSnapshot(pids)
      window.push(Number(process.hrtime.bigint() / 1000n))
      if (perfFile) recording = startPerf(pids[0], perfFile)
    } else if (phase === 'done') {
      await recording?.stop()
      window.push(Number(process.hrtime.bigint() / 1000n))
      // Every thread's CPU over the counted requests: the process total and who spent it.
      if (pids.length) threads = threadSplit(threadsBefore, threadSnapshot(pids), arm.mainPids ?? pids)
      gc = gcDelta(await gcOf(arm), gcBefore)
    }
  })
  const peaks = stopRss.map((stop) => stop())
  if (perfFile) recordings.push({ scenario: scenario.name, file: perfFile, events: result.events })
  return {
    ...result,
    cpuS: threads ? both(threads.total) : null,
    threads,
    windows: [window],
    gc,
    peakRssMb: pids.length ? Math.max(...peaks) : null,
    rssGrowthMb: pids.length ? peaks.reduce((sum, peak, i) => sum + peak - idleRss[i], 0) : null,
  }
}

/** Every round of one scenario against `arms`; the merged figures per arm. */
async function runRounds(scenario, arms) {
  const merged = {}
  for (let round = 0; round < rounds; round++) {
    // Rotate the arm order each round, so no arm always runs first (warmer or colder machine).
    const order = arms.map((_, i) => arms[(i + round) % arms.length])
    for (const arm of order) {
      process.stdout.write(`  ${scenario.name} round ${round + 1}/${rounds} ${arm.name} … `)
      const r = await measure(scenario, arm)
      merged[arm.name] = merge(merged[arm.name], r)
      const main = r.threads ? ` (main thread ${Math.round((both(r.threads.main) / r.ok) * 1e6)})` : ''
      const cpu = r.cpuS !== null && r.ok ? `, ${Math.round((r.cpuS / r.ok) * 1e6)} µs CPU/req${main}` : ''
      process.stdout.write(`${Math.round(r.rps)} req/s${cpu}, ${r.errors} errors, ${r.corrupted} corrupted\n`)
    }
  }
  const streams = scenario.perStream ? scenario.concurrency : undefined
  const figures = Object.fromEntries(arms.map((a) => [a.name, summarise(merged[a.name], { streams })]))
  // A profile run keeps when each arm's counted requests ran, to read only those samples.
  const windows = profile ? { windows: Object.fromEntries(arms.map((a) => [a.name, merged[a.name].windows])) } : {}
  return { scenario: scenario.name, what: scenario.what, arms: figures, ...windows }
}

/** A scenario with its own arms (`setup`): started before its rounds, stopped after them, also on failure. */
async function withOwnArms(scenario, mockUrl) {
  const own = await scenario.setup({ root: ROOT, mockUrl, quick })
  try {
    const result = await runRounds(scenario, own.arms)
    return { ...result, compare: scenario.compare, checks: own.check ? await own.check() : undefined }
  } finally {
    own.stop()
  }
}

function merge(into, r) {
  if (!into) return { ...r, ttfe: new Histogram(r.ttfe), gaps: new Histogram(r.gaps), durations: new Histogram(r.durations), gc: r.gc && { ...r.gc, byKind: { ...r.gc.byKind } }, threads: r.threads && mergeSplit(null, r.threads), rounds: 1 }
  for (const k of ['requests', 'ok', 'errors', 'corrupted', 'events', 'bytes', 'elapsedS']) into[k] += r[k]
  for (const [k, v] of Object.entries(r.errorKinds)) into.errorKinds[k] = (into.errorKinds[k] ?? 0) + v
  into.ttfe.merge(new Histogram(r.ttfe))
  into.gaps.merge(new Histogram(r.gaps))
  into.durations.merge(new Histogram(r.durations))
  if (r.cpuS !== null) into.cpuS += r.cpuS
  if (r.threads) into.threads = mergeSplit(into.threads, r.threads)
  into.windows = [...into.windows, ...r.windows]
  if (r.gc && into.gc) {
    into.gc.ms += r.gc.ms
    into.gc.count += r.gc.count
    for (const [k, v] of Object.entries(r.gc.byKind)) into.gc.byKind[k] = (into.gc.byKind[k] ?? 0) + v
  }
  into.peakRssMb = Math.max(into.peakRssMb ?? 0, r.peakRssMb ?? 0) || null
  // The largest growth: later rounds start from a heap the earlier ones already grew.
  if (r.rssGrowthMb !== null) into.rssGrowthMb = Math.max(into.rssGrowthMb ?? -Infinity, r.rssGrowthMb)
  into.rounds++
  return into
}

function machine() {
  const c = cpus()
  return { cpu: c[0]?.model ?? 'unknown', cores: c.length, memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version, platform: `${process.platform} ${process.arch}` }
}

/** --perf: what perf recorded, one file per scenario and round of the profiled relay. */
const recordings = []

/** Where `--profile` leaves its .cpuprofile files: a fresh directory under `--out` (or the temp dir). */
const profileDir = profile ? mkdtempSync(join(args.includes('--out') ? (mkdirSync(outDir, { recursive: true }), outDir) : tmpdir(), 'cc-relay-profile-')) : ''

/** `--arms a,b`: only these arms run (by name: direct, cc-relay, cc-relay[tracing], target, …), for a focused comparison. */
const onlyArms = option('arms', '').split(',').filter(Boolean)

async function main() {
  const scenarios = SCENARIOS.filter((s) => (wanted.length === 0 || wanted.includes(s.name)) && !(profile && s.setup))
  if (tls && tlsUnavailable()) throw new Error(`--tls: ${tlsUnavailable()}`)
  if (perf && perfUnavailable()) throw new Error(`--perf: ${perfUnavailable()}`)
  const started = await startArms({
    quick,
    tls,
    profile,
    perf,
    profileDir,
    profileArm,
    variants,
    extraArms: !flag('no-extra-arms'),
    nginx: !flag('no-nginx'),
    target,
    targetPid: Number(option('target-pid', '')) || undefined,
    targetHeaders: target ? targetHeaders() : {},
  })
  const { arms, stop, stopAndWait, mockUrl, leftOut } = started
  process.on('exit', stop)
  for (const { arm, why } of leftOut) process.stdout.write(`- ${arm} arm left out: ${why}\n`)
  const startedAt = new Date().toISOString()
  const results = []
  try {
    for (const scenario of scenarios) {
      if (scenario.unavailable) {
        process.stdout.write(`- ${scenario.name}: skipped (${scenario.unavailable})\n`)
        results.push({ scenario: scenario.name, what: scenario.what, skipped: scenario.unavailable })
        continue
      }
      const forScenario = arms.filter((a) => (!a.only || a.only.includes(scenario.name)) && (onlyArms.length === 0 || onlyArms.includes(a.name)))
      results.push(scenario.setup ? await withOwnArms(scenario, mockUrl) : await runRounds(scenario, forScenario))
    }
  } finally {
    // Waited for: a profiled relay writes its profiles (every thread's) as it exits.
    await stopAndWait()
  }
  const report = { startedAt, mode: quick ? 'quick' : 'full', tls, rounds, secondsPerRun: seconds, machine: machine(), leftOut, results }
  process.stdout.write('\n' + renderTable(report) + '\n')
  const lost = results.flatMap((r) => Object.entries(r.arms ?? {}).filter(([name, a]) => name !== 'target' && (a.errors > 0 || a.corrupted > 0)).map(([name]) => `${r.scenario}/${name}`))
  if (profile) {
    // A profile run is not a measurement: its figures stay beside the profiles, bench/results is untouched.
    writeFileSync(join(profileDir, 'report.json'), JSON.stringify(report, null, 2) + '\n')
    // Only the profiled relay's counted requests: not its start, the warm-ups, or direct's turns.
    const windows = results.flatMap((r) => r.windows?.[profileArm] ?? [])
    const relayPid = arms.find((a) => a.name === profileArm).pids[0]
    const text = perf ? renderPerf(profileDir, relayPid, recordings) : renderProfiles(profileDir, ROOT, 25, windows.length ? windows : undefined)
    writeFileSync(join(profileDir, 'top.txt'), text)
    process.stdout.write(`\n${text}`)
  } else {
    mkdirSync(outDir, { recursive: true })
    // --tls figures are kept beside the plain ones, not over them.
    const name = `${report.mode}${tls ? '-tls' : ''}`
    writeFileSync(join(outDir, `${name}.json`), JSON.stringify(report, null, 2) + '\n')
    const markdown = renderMarkdown(report)
    writeFileSync(join(outDir, `${name}.md`), markdown)
    if (flag('update-docs')) updateDocs(markdown)
  }
  if (lost.length) {
    process.stdout.write(`LOST OR CORRUPTED RESPONSES: ${lost.join(', ')}\n`)
    process.exitCode = 1
  } else process.stdout.write('every response arrived complete and in order\n')
}

function updateDocs(markdown) {
  const file = join(ROOT, 'docs', 'performance.md')
  const text = readFileSync(file, 'utf8')
  const begin = '<!-- bench-results:begin -->'
  const end = '<!-- bench-results:end -->'
  if (!text.includes(begin)) throw new Error('docs/performance.md has no bench-results markers')
  writeFileSync(file, text.slice(0, text.indexOf(begin) + begin.length) + '\n' + markdown + text.slice(text.indexOf(end)))
}

// `--soak-minutes N`: the long mixed-traffic run (bench/soak.mjs) instead of the scenarios.
if (args.includes('--soak-minutes')) {
  const soak = spawn(process.execPath, [join(HERE, 'soak.mjs'), '--minutes', option('soak-minutes', '10')], { stdio: 'inherit' })
  soak.on('exit', (code) => process.exit(code ?? 1))
} else {
  // A process that failed to start (a relay refusing its config) must not leave the others holding the
  // bench open: report it and end, taking every child along (startProcess kills them on exit).
  await main().catch((err) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exit(1)
  })
}
