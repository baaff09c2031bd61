#!/usr/bin/env node
// `npm run bench [-- --quick] [--target URL [--target-pid N]] [--scenarios a,b] [--rounds N] [--seconds S] [--update-docs]`
// `npm run bench -- --profile [--scenarios a,b]`: CPU profile of the relay under load (bench/profile.mjs)
// `npm run bench -- --soak-minutes N`: the soak (bench/soak.mjs), mixed traffic and reloads for N minutes
//
// Starts the mock upstream, cc-relay (pointed at the mock; also a second one with its upstream I/O in
// worker threads), the plainest Node proxy and the floor (the relay's architecture with no features) as
// separate processes, then runs each scenario's load against every arm in the same run, interleaved
// round by round: direct to the mock, through each of them, and through `--target` if given.
// A scenario may bring its own arms instead (`setup` in scenarios.mjs: shared-redis compares relays on
// the memory store and on Redis).
// Exits 1 when any response was lost or corrupted, never because of speed.
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Histogram } from './lib/histogram.mjs'
import { freePort, relayListening, startProcess, stopProcess } from './lib/processes.mjs'
import { cpuSeconds, rssMb, rssPeak } from './lib/procstat.mjs'
import { encodeParams } from './lib/shape.mjs'
import { profileNodeArgs, renderProfiles } from './profile.mjs'
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
const outDir = option('out', join(HERE, 'results'))
/** `--profile`: only the relay arm (and direct), started under `node --cpu-prof`; `--profile-arm` picks another relay arm. */
const profile = flag('profile')
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
 * Five rules in the order an operator would write them, none matching a bench request: the cheap checks
 * (model, the estimate, a header) and the ones that read the body (thinking, tool names, an image search
 * over the whole conversation).
 */
const RULES_YAML = `routing:
  rules:
    - { name: background, when: { model: "claude-haiku-*" }, use: { providers: [mock], model: small } }
    - { name: long-context, when: { min_input_tokens: 2000000 }, use: { providers: [mock] } }
    - { name: plain-turns, when: { thinking: false, tools: ["Bash"] }, use: { providers: [mock] } }
    - { name: web-search, when: { tools: ["web_search*"] }, use: { providers: [mock] } }
    - { name: vision, when: { images: true }, use: { providers: [mock] } }
`

/** The scenarios the cc-relay[tracing] arm runs: a small call (where a trace weighs most), a burst stream, a Claude Code turn. */
const TRACED_SCENARIOS = ['non-streaming', 'burst-64', 'claude-code']

/**
 * The openai provider's answers are shaped by its base_url path, not by x-bench: the plugin sends only the
 * headers Chat Completions takes. So the path carries the openai scenario's whole shape (`--quick`'s too).
 */
function openaiShape() {
  const scenario = SCENARIOS.find((s) => s.name === 'openai')
  return encodeParams({ ...scenario.params, ...(quick ? scenario.quick?.params : {}), format: 'openai' })
}

async function startArms() {
  const mock = await startProcess(join(HERE, 'mock-upstream.mjs'), [])
  const mockUrl = `http://127.0.0.1:${JSON.parse(mock.first).listening}`
  const configDir = mkdtempSync(join(tmpdir(), 'cc-relay-bench-'))
  const config = join(configDir, 'cc-relay.yaml')
  // A realistic relay: a relay key, a pooled upstream key, the default JSON request log.
  // `flaky` serves only the failover scenario's model, ahead of `mock`, and answers 529 to every 4th request;
  // `bedrock` serves only the bedrock scenario's model, and the mock answers it in Bedrock's event stream.
  writeFileSync(
    config,
    `server:
  auth:
    api_key: "bench-relay-key"
    # The team scenario's client: a budget that never binds, checked on every request.
    clients: [{ name: bench-team, key: bench-team-key, budget: { usd: 1000000, period: month } }]
usage: { db: "${join(configDir, 'usage.db')}" }
providers:
  - name: mock
    type: anthropic
    base_url: "${mockUrl}"
    keys: [{ key: "bench-upstream-key" }]
  - name: flaky
    type: anthropic
    base_url: "${mockUrl}/bench/fail=529:4"
    priority: 2
    keys: [{ key: "bench-flaky-key" }]
    models: ["claude-bench-failover"]
  - name: bedrock
    type: bedrock
    base_url: "${mockUrl}/bench/format=bedrock"
    aws_region: us-east-1
    aws_access_key_id: AKIDBENCHEXAMPLE
    aws_secret_access_key: bench-secret-access-key
    priority: 3
    models: ["claude-bench-bedrock"]
  - name: openai
    type: openai
    base_url: "${mockUrl}/bench/${encodeURIComponent(openaiShape())}/v1"
    keys: [{ key: "bench-openai-key" }]
    priority: 4
    models: ["claude-bench-openai"]
logging: { level: info, format: json }
`,
  )
  // The same relay with five routing rules that the bench's requests never match, so each request runs
  // every one of them to its last check (issue 15: rules must add no measurable CPU on a large body).
  const rulesConfig = join(configDir, 'cc-relay-rules.yaml')
  writeFileSync(rulesConfig, `${readFileSync(config, 'utf8')}${RULES_YAML}`)
  const rulesArm = { name: 'cc-relay[rules]', env: {}, config: rulesConfig, only: ['claude-code'] }
  // The same relay with its usage ledger in memory (usage.db: off) beside the file one (issue 16).
  const memoryLedgerConfig = join(configDir, 'cc-relay-memory-ledger.yaml')
  writeFileSync(memoryLedgerConfig, readFileSync(config, 'utf8').replace(/^usage: .*$/m, 'usage: { db: "off" }'))
  const memoryLedgerArm = { name: 'cc-relay[memory-ledger]', env: {}, config: memoryLedgerConfig, only: ['team'] }
  // The same relay exporting a trace of every request (issue 25) to an OTLP sink in its own process.
  const children = [mock.child]
  const tracingConfig = join(configDir, 'cc-relay-tracing.yaml')
  const tracingArm = { name: 'cc-relay[tracing]', env: {}, config: tracingConfig, only: TRACED_SCENARIOS }
  const relayNames = profile ? [profileArm] : ['cc-relay', ...variants.map((v) => v.name), ...(flag('no-extra-arms') ? [] : [rulesArm.name, memoryLedgerArm.name, tracingArm.name])]
  if (relayNames.includes(tracingArm.name)) {
    const sink = await startProcess(join(HERE, 'otlp-sink.mjs'), [])
    children.push(sink.child)
    writeFileSync(tracingConfig, `${readFileSync(config, 'utf8')}telemetry: { otlp: { endpoint: "http://127.0.0.1:${JSON.parse(sink.first).listening}" } }\n`)
  }
  const specs = [{ name: 'cc-relay', env: {} }, ...variants, rulesArm, memoryLedgerArm, tracingArm].filter((v) => relayNames.includes(v.name))
  if (specs.length === 0) throw new Error(`--profile-arm ${profileArm}: no such relay arm (cc-relay, or a --variant's cc-relay[NAME])`)
  const relays = []
  for (const spec of specs) {
    const port = await freePort()
    const nodeArgs = profile ? profileNodeArgs(profileDir) : []
    const relay = await startProcess(join(ROOT, 'bin', 'cc-relay.js'), ['serve', '--config', spec.config ?? config, '--listen', `127.0.0.1:${port}`], spec.env, relayListening, nodeArgs)
    children.push(relay.child)
    const url = `http://127.0.0.1:${port}`
    // /metrics answers loopback clients without a key (no server.admin.api_key in this config).
    relays.push({ name: spec.name, url, headers: { 'x-api-key': 'bench-relay-key' }, pid: relay.child.pid, metricsUrls: [`${url}/metrics`], child: relay.child, only: spec.only })
  }
  const others = []
  if (!profile) {
    for (const [name, file] of [
      ['plain-proxy', 'plain-proxy.mjs'],
      ['floor', 'floor-proxy.mjs'],
    ]) {
      const port = await freePort()
      const started = await startProcess(join(HERE, file), ['--port', String(port), '--upstream', mockUrl])
      children.push(started.child)
      others.push({ name, url: `http://127.0.0.1:${port}`, headers: {}, pid: started.child.pid })
    }
  }
  const arms = [{ name: 'direct', url: mockUrl, headers: {} }, ...relays, ...others]
  // `--target-pid N`: the target's process, so its CPU and memory are measured like the others' (a
  // before/after comparison against another build of the relay on this machine).
  const targetPid = Number(option('target-pid', '')) || undefined
  if (target && !profile) arms.push({ name: 'target', url: target, headers: { 'x-api-key': process.env.BENCH_TARGET_KEY ?? 'bench' }, pid: targetPid })
  const stop = () => children.forEach((c) => c.exitCode === null && c.signalCode === null && c.kill('SIGTERM'))
  /** Stops every process and waits until they have exited (a profiled relay writes its profile then). */
  const stopAndWait = () => Promise.all(children.map((c) => stopProcess(c)))
  return { arms, stop, stopAndWait, mockUrl }
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
  const cpuOfArm = () => pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0)
  const idleRss = pids.map((pid) => rssMb(pid))
  const stopRss = pids.map((pid) => rssPeak(pid))
  let cpuBefore = 0
  let cpuS = null
  let gcBefore = null
  let gc = null
  const result = await runLoad(job, async (phase) => {
    if (phase === 'warm') {
      gcBefore = await gcOf(arm) // first: a scrape costs the relay some CPU
      cpuBefore = cpuOfArm()
    } else if (phase === 'done') {
      if (pids.length) cpuS = cpuOfArm() - cpuBefore
      gc = gcDelta(await gcOf(arm), gcBefore)
    }
  })
  const peaks = stopRss.map((stop) => stop())
  return {
    ...result,
    cpuS,
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
      const cpu = r.cpuS !== null && r.ok ? `, ${Math.round((r.cpuS / r.ok) * 1e6)} µs CPU/req` : ''
      process.stdout.write(`${Math.round(r.rps)} req/s${cpu}, ${r.errors} errors, ${r.corrupted} corrupted\n`)
    }
  }
  const streams = scenario.perStream ? scenario.concurrency : undefined
  return { scenario: scenario.name, what: scenario.what, arms: Object.fromEntries(arms.map((a) => [a.name, summarise(merged[a.name], { streams })])) }
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
  if (!into) return { ...r, ttfe: new Histogram(r.ttfe), gaps: new Histogram(r.gaps), durations: new Histogram(r.durations), gc: r.gc && { ...r.gc, byKind: { ...r.gc.byKind } }, rounds: 1 }
  for (const k of ['requests', 'ok', 'errors', 'corrupted', 'events', 'bytes', 'elapsedS']) into[k] += r[k]
  for (const [k, v] of Object.entries(r.errorKinds)) into.errorKinds[k] = (into.errorKinds[k] ?? 0) + v
  into.ttfe.merge(new Histogram(r.ttfe))
  into.gaps.merge(new Histogram(r.gaps))
  into.durations.merge(new Histogram(r.durations))
  if (r.cpuS !== null) into.cpuS += r.cpuS
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

/** Where `--profile` leaves its .cpuprofile files: a fresh directory under `--out` (or the temp dir). */
const profileDir = profile ? mkdtempSync(join(args.includes('--out') ? (mkdirSync(outDir, { recursive: true }), outDir) : tmpdir(), 'cc-relay-profile-')) : ''

async function main() {
  const scenarios = SCENARIOS.filter((s) => (wanted.length === 0 || wanted.includes(s.name)) && !(profile && s.setup))
  const { arms, stop, stopAndWait, mockUrl } = await startArms()
  process.on('exit', stop)
  const startedAt = new Date().toISOString()
  const results = []
  try {
    for (const scenario of scenarios) {
      if (scenario.unavailable) {
        process.stdout.write(`- ${scenario.name}: skipped (${scenario.unavailable})\n`)
        results.push({ scenario: scenario.name, what: scenario.what, skipped: scenario.unavailable })
        continue
      }
      const forScenario = arms.filter((a) => !a.only || a.only.includes(scenario.name))
      results.push(scenario.setup ? await withOwnArms(scenario, mockUrl) : await runRounds(scenario, forScenario))
    }
  } finally {
    // Waited for: a profiled relay writes its profiles (every thread's) as it exits.
    await stopAndWait()
  }
  const report = { startedAt, mode: quick ? 'quick' : 'full', rounds, secondsPerRun: seconds, machine: machine(), results }
  process.stdout.write('\n' + renderTable(report) + '\n')
  const lost = results.flatMap((r) => Object.entries(r.arms ?? {}).filter(([name, a]) => name !== 'target' && (a.errors > 0 || a.corrupted > 0)).map(([name]) => `${r.scenario}/${name}`))
  if (profile) {
    // A profile run is not a measurement: its figures stay beside the profiles, bench/results is untouched.
    writeFileSync(join(profileDir, 'report.json'), JSON.stringify(report, null, 2) + '\n')
    const text = renderProfiles(profileDir, ROOT)
    writeFileSync(join(profileDir, 'top.txt'), text)
    process.stdout.write(`\n${text}`)
  } else {
    mkdirSync(outDir, { recursive: true })
    writeFileSync(join(outDir, `${report.mode}.json`), JSON.stringify(report, null, 2) + '\n')
    const markdown = renderMarkdown(report)
    writeFileSync(join(outDir, `${report.mode}.md`), markdown)
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
