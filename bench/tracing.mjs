#!/usr/bin/env node
// `node bench/tracing.mjs [--seconds S] [--protocol http/protobuf|http/json] [--per-turn N] [BUILD_DIR…]`:
// the CPU that tracing's own path costs per request (issue 25) — a TraceRecorder's whole life (caller
// context, sampling, an attempt, its spans built, encoded and exported in batches to an OTLP sink in its
// own process) — for this build and any other built checkout named (a `git worktree` of main, say), in
// one process, interleaved turn by turn with an arm that does nothing, so a busy machine's load falls on
// every arm alike and the loop's own cost can be taken off. The relay's CPU per request with and without
// tracing is the bench's `cc-relay[tracing]` arm; this isolates the part tracing adds.
// Runs against the compiled dist/ of each build (npm run build first).
import { spawn } from 'node:child_process'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { seconds: { type: 'string', default: '8' }, protocol: { type: 'string', default: 'http/protobuf' }, 'per-turn': { type: 'string', default: '20' } },
})
const builds = [ROOT, ...positionals.map((p) => resolve(p))]
const perTurn = Number(values['per-turn'])

const sink = spawn(process.execPath, [join(ROOT, 'bench', 'otlp-sink.mjs')], { stdio: ['ignore', 'pipe', 'ignore'] })
const port = await new Promise((ok) => sink.stdout.once('data', (d) => ok(JSON.parse(String(d)).listening)))

// A request as the bench's non-streaming scenario makes it: a caller's traceparent, one attempt, an answer with usage.
const provider = { name: 'mock', type: 'anthropic' }
const lease = { id: 1, keyId: 'mock#ab12cd34', provider: 0, key: 0, upstreamModel: 'claude-sonnet-4-5' }
const usage = { input_tokens: 12, output_tokens: 56, cache_read_input_tokens: 1000, cache_creation_input_tokens: 0 }
const reply = { model: 'claude-sonnet-4-5-20250929', id: 'msg_01XFDUDYJgAACzvnptvVoYEL', stopReason: 'end_turn' }
const outcome = { status: 200, usage, reply, ttfeMs: 3.2, clientAborted: false, provider: 'mock', upstreamModel: 'claude-sonnet-4-5' }
const headers = { 'x-claude-code-session-id': '5b2c0e0e-1111-2222-3333-444455556666', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }
const log = { info() {}, warn() {}, error() {}, debug() {} }
let id = 0

const arms = [{ name: 'nothing (the loop alone)', tracing: undefined, cpuUs: 0, requests: 0, dropped: 0 }]
for (const dir of builds) {
  const { tracingSettings } = await import(join(dir, 'dist/src/tracing/settings.js'))
  const { startTracing } = await import(join(dir, 'dist/src/tracing/tracing.js'))
  const telemetry = { otlp: { endpoint: `http://127.0.0.1:${port}`, headers: {}, protocol: values.protocol, timeout_ms: undefined }, propagate_upstream: true, service_name: undefined, sample_ratio: undefined }
  const arm = { name: dir === ROOT ? 'this build' : dir, cpuUs: 0, requests: 0, dropped: 0 }
  arm.tracing = startTracing(tracingSettings(telemetry, { OTEL_TRACES_SAMPLER: 'always_on' }), { log, version: '0.1.0', baseUrlOf: () => 'http://127.0.0.1:9000', costOf: () => 0.001234, dropped: (n) => (arm.dropped += n) })
  arms.push(arm)
}

function request(tracing) {
  const startedAt = performance.now()
  const trace = tracing.begin(headers)
  trace.attemptStarted(provider, lease)
  trace.attemptEnded(outcome)
  trace.end({ route: 'messages', model: 'claude-sonnet-4-5', client: 'bench', group: '', rule: '', requestId: `req_${id++}`, startedAt, status: 200, error: undefined, outcome, cost: 0.001234, clientAborted: false })
}

const turn = () => new Promise((ok) => setTimeout(ok, 2))
/** Each arm in turn: ten slices of `perTurn` requests, the event loop turning between them (the exports run there, counted to the arm whose spans they carry). */
async function round(counted) {
  for (const arm of arms) {
    const before = process.cpuUsage()
    for (let slice = 0; slice < 10; slice++) {
      if (arm.tracing) for (let i = 0; i < perTurn; i++) request(arm.tracing)
      await turn()
    }
    const used = process.cpuUsage(before)
    if (counted) {
      arm.cpuUs += used.user + used.system
      arm.requests += 10 * perTurn
    }
  }
}

for (let i = 0; i < 20; i++) await round(false)
const until = performance.now() + Number(values.seconds) * 1000
while (performance.now() < until) await round(true)
const loop = arms[0].cpuUs / arms[0].requests
process.stdout.write(`tracing's path per request (${values.protocol}, ${arms[0].requests} requests per arm, interleaved; the loop's ${loop.toFixed(2)} µs taken off):\n`)
for (const arm of arms.slice(1)) process.stdout.write(`  ${arm.name}: ${(arm.cpuUs / arm.requests - loop).toFixed(2)} µs${arm.dropped ? ` (${arm.dropped} spans dropped)` : ''}\n`)
await Promise.all(arms.map((a) => a.tracing?.shutdown(2000)))
sink.kill()
