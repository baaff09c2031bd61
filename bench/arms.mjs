// The processes the bench measures, started once for the whole run: the mock upstream (HTTPS with a
// fresh certificate under --tls), cc-relay (pointed at the mock; also with its upstream I/O in worker
// threads, and any --variant), the plainest Node proxy, the floor (the relay's architecture with no
// features), nginx (when installed) and `--target`. An arm is `{ name, url, headers, pids, mainPids }`:
// `pids` are measured for CPU and memory, `mainPids` name the threads counted as the main thread
// (a Node process's own pid; nginx's one worker process).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startNginx, nginxUnavailable } from './lib/nginx.mjs'
import { freePort, relayListening, startProcess, stopProcess } from './lib/processes.mjs'
import { encodeParams } from './lib/shape.mjs'
import { NAME_THREADS } from './lib/threads.mjs'
import { makeCertificate } from './lib/tls.mjs'
import { PERF_NODE_OPTIONS } from './perf.mjs'
import { profileNodeArgs } from './profile.mjs'
import { SCENARIOS } from './scenarios.mjs'

const HERE = dirname(fileURLToPath(import.meta.url))
const ROOT = join(HERE, '..')

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

/**
 * The scenarios the cc-relay[tracing] arm runs: a small call (where a trace weighs most), paced streams
 * (how a model really answers), a burst stream, a Claude Code turn.
 */
const TRACED_SCENARIOS = ['non-streaming', 'paced-256', 'burst-64', 'claude-code']

/**
 * The openai provider's answers are shaped by its base_url path, not by x-bench: the plugin sends only the
 * headers Chat Completions takes. So the path carries the openai scenario's whole shape (`--quick`'s too).
 */
function openaiShape(quick) {
  const scenario = SCENARIOS.find((s) => s.name === 'openai')
  return encodeParams({ ...scenario.params, ...(quick ? scenario.quick?.params : {}), format: 'openai' })
}

// A realistic relay: a relay key, a pooled upstream key, the default JSON request log.
// `flaky` serves only the failover scenario's model, ahead of `mock`, and answers 529 to every 4th request;
// `bedrock` serves only the bedrock scenario's model, and the mock answers it in Bedrock's event stream.
const relayYaml = (mockUrl, configDir, quick) => `server:
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
    base_url: "${mockUrl}/bench/${encodeURIComponent(openaiShape(quick))}/v1"
    keys: [{ key: "bench-openai-key" }]
    priority: 4
    models: ["claude-bench-openai"]
logging: { level: info, format: json }
`

/**
 * Under --tls every Node process the bench starts from here on (the relays, the proxies, the load
 * generator, shared-redis' relays) trusts the mock's certificate: NODE_EXTRA_CA_CERTS, read by Node at
 * start, added to whatever file it already named.
 */
function trust(cert, dir) {
  const before = process.env.NODE_EXTRA_CA_CERTS
  let file = cert
  if (before) {
    file = join(dir, 'extra-ca.pem')
    writeFileSync(file, `${readFileSync(before, 'utf8')}\n${readFileSync(cert, 'utf8')}`)
  }
  process.env.NODE_EXTRA_CA_CERTS = file
}

/**
 * `o`: { quick, tls, profile, perf, profileDir, profileArm, variants, extraArms, nginx, target, targetPid,
 * targetHeaders }. Resolves to `{ arms, stop, stopAndWait, mockUrl, leftOut }`; `leftOut` says which
 * arms could not run here and why.
 */
export async function startArms(o) {
  const configDir = mkdtempSync(join(tmpdir(), 'cc-relay-bench-'))
  const tls = o.tls ? makeCertificate(join(configDir, 'tls')) : null
  if (tls) trust(tls.cert, configDir)
  const mock = await startProcess(join(HERE, 'mock-upstream.mjs'), tls ? ['--tls-cert', tls.cert, '--tls-key', tls.key] : [])
  const mockUrl = `${tls ? 'https' : 'http'}://127.0.0.1:${JSON.parse(mock.first).listening}`
  const children = [mock.child]
  const stop = () => children.forEach((c) => c.exitCode === null && c.signalCode === null && c.kill('SIGTERM'))
  try {
    const config = join(configDir, 'cc-relay.yaml')
    writeFileSync(config, relayYaml(mockUrl, configDir, o.quick))
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
    const tracingConfig = join(configDir, 'cc-relay-tracing.yaml')
    const tracingArm = { name: 'cc-relay[tracing]', env: { OTEL_TRACES_SAMPLER: 'always_on' }, config: tracingConfig, only: TRACED_SCENARIOS }
    const relayNames = o.profile ? [o.profileArm] : ['cc-relay', ...o.variants.map((v) => v.name), ...(o.extraArms ? [rulesArm.name, memoryLedgerArm.name, tracingArm.name] : [])]
    if (relayNames.includes(tracingArm.name)) {
      const sink = await startProcess(join(HERE, 'otlp-sink.mjs'), [])
      children.push(sink.child)
      writeFileSync(tracingConfig, `${readFileSync(config, 'utf8')}telemetry: { otlp: { endpoint: "http://127.0.0.1:${JSON.parse(sink.first).listening}" } }\n`)
    }
    const specs = [{ name: 'cc-relay', env: {} }, ...o.variants, rulesArm, memoryLedgerArm, tracingArm].filter((v) => relayNames.includes(v.name))
    if (specs.length === 0) throw new Error(`--profile-arm ${o.profileArm}: no such relay arm (cc-relay, or a --variant's cc-relay[NAME])`)
    const relays = []
    for (const spec of specs) {
      const port = await freePort()
      // Profiled: under V8's profiler, or (--perf) with its JIT code named for Linux perf.
      const nodeArgs = [...NAME_THREADS, ...(o.profile && !o.perf ? profileNodeArgs(o.profileDir) : [])]
      const env = o.perf ? { ...spec.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} ${PERF_NODE_OPTIONS}`.trim() } : spec.env
      // A variant with BENCH_RELAY_ROOT=DIR runs another checkout's build (built, with its node_modules):
      // the before/after arms of a change in one run (`--variant main:BENCH_RELAY_ROOT=/path/to/main`).
      const root = spec.env.BENCH_RELAY_ROOT ?? ROOT
      const relay = await startProcess(join(root, 'bin', 'cc-relay.js'), ['serve', '--config', spec.config ?? config, '--listen', `127.0.0.1:${port}`], env, relayListening, nodeArgs)
      children.push(relay.child)
      const url = `http://127.0.0.1:${port}`
      // /metrics answers loopback clients without a key (no server.admin.api_key in this config).
      relays.push({ name: spec.name, url, headers: { 'x-api-key': 'bench-relay-key' }, pids: [relay.child.pid], metricsUrls: [`${url}/metrics`], child: relay.child, only: spec.only })
    }
    const others = []
    const leftOut = []
    if (!o.profile) {
      for (const [name, file] of [
        ['plain-proxy', 'plain-proxy.mjs'],
        ['floor', 'floor-proxy.mjs'],
      ]) {
        const port = await freePort()
        const started = await startProcess(join(HERE, file), ['--port', String(port), '--upstream', mockUrl], {}, undefined, NAME_THREADS)
        children.push(started.child)
        others.push({ name, url: `http://127.0.0.1:${port}`, headers: {}, pids: [started.child.pid] })
      }
      const why = o.nginx ? nginxUnavailable() : undefined
      if (why) leftOut.push({ arm: 'nginx', why })
      else if (o.nginx) {
        const nginx = await startNginx(mockUrl, tls?.cert)
        children.push(nginx.child)
        // Master and worker are measured (the master idles); the worker is nginx's "main thread".
        others.push({ name: 'nginx', url: nginx.url, headers: {}, pids: [nginx.pid, nginx.workerPid], mainPids: [nginx.workerPid] })
      }
    }
    const arms = [{ name: 'direct', url: mockUrl, headers: {} }, ...relays, ...others]
    // `--target-pid N`: the target's process, so its CPU and memory are measured like the others' (a
    // before/after comparison against another build of the relay on this machine).
    if (o.target && !o.profile) arms.push({ name: 'target', url: o.target, headers: o.targetHeaders, pids: o.targetPid ? [o.targetPid] : [] })
    /** Stops every process and waits until they have exited (a profiled relay writes its profile then). */
    const stopAndWait = () => Promise.all(children.map((c) => stopProcess(c)))
    return { arms, stop, stopAndWait, mockUrl, leftOut }
  } catch (err) {
    stop()
    throw err
  }
}
