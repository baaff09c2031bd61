#!/usr/bin/env node
// `npm run bench [-- --quick] [--target URL] [--scenarios a,b] [--rounds N] [--seconds S] [--update-docs]`
// `npm run bench -- --soak-minutes N`: the soak (bench/soak.mjs), mixed traffic and reloads for N minutes
//
// Starts the mock upstream, cc-relay (pointed at the mock) and the plainest Node proxy as separate
// processes, then runs each scenario's load against every arm in the same run, interleaved round by
// round: direct to the mock, through cc-relay, through the plain proxy, and through `--target` if given.
// A scenario may bring its own arms instead (`setup` in scenarios.mjs: shared-redis compares relays on
// the memory store and on Redis).
// Exits 1 when any response was lost or corrupted, never because of speed.
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Histogram } from './lib/histogram.mjs'
import { freePort, relayListening, startProcess } from './lib/processes.mjs'
import { cpuSeconds, rssPeak } from './lib/procstat.mjs'
import { encodeParams } from './lib/shape.mjs'
import { renderMarkdown, renderTable, summarise } from './report.mjs'
import { SCENARIOS } from './scenarios.mjs'

const HERE = dirname(fileURLToPath(import.meta.url))
const ROOT = join(HERE, '..')
const args = process.argv.slice(2)
const flag = (name) => args.includes(`--${name}`)
const option = (name, fallback) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : fallback)

const quick = flag('quick')
const rounds = Number(option('rounds', quick ? 1 : 3))
const seconds = Number(option('seconds', quick ? 1.5 : 5))
const wanted = option('scenarios', '')
  .split(',')
  .filter(Boolean)
const target = option('target', '')
const outDir = option('out', join(HERE, 'results'))
/** `--variant NAME:ENV=VALUE[+ENV=VALUE]` (repeatable): extra cc-relay arms started with that environment. */
const variants = args
  .flatMap((a, i) => (a === '--variant' ? [args[i + 1]] : []))
  .map((spec) => {
    const [name, envText = ''] = spec.split(/:(.*)/s)
    return { name: `cc-relay[${name}]`, env: Object.fromEntries(envText.split('+').filter(Boolean).map((kv) => kv.split(/=(.*)/s).slice(0, 2))) }
  })

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
  auth: { api_key: "bench-relay-key" }
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
logging: { level: info, format: json }
`,
  )
  const relays = []
  for (const variant of [{ name: 'cc-relay', env: {} }, ...variants]) {
    const port = await freePort()
    const relay = await startProcess(join(ROOT, 'bin', 'cc-relay.js'), ['serve', '--config', config, '--listen', `127.0.0.1:${port}`], variant.env, relayListening)
    relays.push({ name: variant.name, url: `http://127.0.0.1:${port}`, headers: { 'x-api-key': 'bench-relay-key' }, pid: relay.child.pid, process: relay })
  }
  const plainPort = await freePort()
  const plain = await startProcess(join(HERE, 'plain-proxy.mjs'), ['--port', String(plainPort), '--upstream', mockUrl])
  const arms = [
    { name: 'direct', url: mockUrl, headers: {} },
    ...relays,
    { name: 'plain-proxy', url: `http://127.0.0.1:${plainPort}`, headers: {}, pid: plain.child.pid },
  ]
  if (target) arms.push({ name: 'target', url: target, headers: { 'x-api-key': process.env.BENCH_TARGET_KEY ?? 'bench' } })
  const stop = () => [mock, ...relays.map((r) => r.process), plain].forEach((p) => p.child.kill('SIGTERM'))
  return { arms, stop, mockUrl }
}

function runLoad(job) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(HERE, 'load.mjs'), JSON.stringify(job)], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`load generator exited with ${code}`))))
  })
}

/**
 * One scenario against one arm, with the arm's process cost measured around it. An arm of several
 * processes (`urls`, `pids`) gets the load split evenly across them; its CPU is their sum, its peak RSS
 * the largest one's.
 */
async function measure(scenario, arm) {
  const job = {
    urls: (arm.urls ?? [arm.url]).map((url) => `${url}/v1/messages`),
    headers: { ...arm.headers, 'x-bench': encodeParams(scenario.params) },
    concurrency: scenario.concurrency,
    mode: scenario.mode ?? 'closed',
    rate: scenario.rate,
    requests: scenario.requests,
    requestBytes: scenario.requestBytes,
    model: scenario.model,
    durationMs: seconds * 1000,
    warmupMs: scenario.requests ? 0 : Math.min(1000, seconds * 300),
  }
  const pids = arm.pids ?? (arm.pid ? [arm.pid] : [])
  const cpuOfArm = () => pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0)
  const cpuBefore = cpuOfArm()
  const stopRss = pids.map((pid) => rssPeak(pid))
  const result = await runLoad(job)
  const cpuS = pids.length ? cpuOfArm() - cpuBefore : null
  return { ...result, cpuS, peakRssMb: pids.length ? Math.max(...stopRss.map((stop) => stop())) : null }
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
      process.stdout.write(`${Math.round(r.rps)} req/s, ${r.errors} errors, ${r.corrupted} corrupted\n`)
    }
  }
  return { scenario: scenario.name, what: scenario.what, arms: Object.fromEntries(arms.map((a) => [a.name, summarise(merged[a.name])])) }
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
  if (!into) return { ...r, ttfe: new Histogram(r.ttfe), gaps: new Histogram(r.gaps), durations: new Histogram(r.durations), rounds: 1 }
  for (const k of ['requests', 'ok', 'errors', 'corrupted', 'events', 'bytes', 'elapsedS']) into[k] += r[k]
  for (const [k, v] of Object.entries(r.errorKinds)) into.errorKinds[k] = (into.errorKinds[k] ?? 0) + v
  into.ttfe.merge(new Histogram(r.ttfe))
  into.gaps.merge(new Histogram(r.gaps))
  into.durations.merge(new Histogram(r.durations))
  if (r.cpuS !== null) into.cpuS += r.cpuS
  into.peakRssMb = Math.max(into.peakRssMb ?? 0, r.peakRssMb ?? 0) || null
  into.rounds++
  return into
}

function machine() {
  const c = cpus()
  return { cpu: c[0]?.model ?? 'unknown', cores: c.length, memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version, platform: `${process.platform} ${process.arch}` }
}

async function main() {
  const scenarios = SCENARIOS.filter((s) => wanted.length === 0 || wanted.includes(s.name))
  const { arms, stop, mockUrl } = await startArms()
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
      results.push(scenario.setup ? await withOwnArms(scenario, mockUrl) : await runRounds(scenario, arms))
    }
  } finally {
    stop()
  }
  const report = { startedAt, mode: quick ? 'quick' : 'full', rounds, secondsPerRun: seconds, machine: machine(), results }
  process.stdout.write('\n' + renderTable(report) + '\n')
  mkdirSync(outDir, { recursive: true })
  writeFileSync(join(outDir, `${report.mode}.json`), JSON.stringify(report, null, 2) + '\n')
  const markdown = renderMarkdown(report)
  writeFileSync(join(outDir, `${report.mode}.md`), markdown)
  if (flag('update-docs')) updateDocs(markdown)
  const lost = results.flatMap((r) => Object.entries(r.arms ?? {}).filter(([name, a]) => name !== 'target' && (a.errors > 0 || a.corrupted > 0)).map(([name]) => `${r.scenario}/${name}`))
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
} else await main()
