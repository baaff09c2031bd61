#!/usr/bin/env node
// `npm run soak -- [--minutes N | --seconds N] [--concurrency C] [--out FILE]` (issue 11)
//
// Runs mixed traffic through one relay for a long while and watches what it keeps: paced streams,
// non-streaming calls, failovers (a provider answering 529 to every 4th request), clients that hang up
// mid-stream, slow readers, and a config reload every few seconds. Samples the relay's RSS, its open
// file descriptors (client and upstream sockets) and Node's active resources (timers, handles) from
// /metrics. When the load stops, sockets and timers must fall back to where they started; after a
// run of 2 minutes or more, RSS at the end must be within 10 % of its level at minute 1; and every
// request must have ended as it should (a complete stream or message, or the hang-up the client chose).
// Exits 1 when any of that fails. Plain JavaScript: it runs as its own process, outside the build.
import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Agent, request } from 'undici'
import { freePort, startProcess } from './lib/processes.mjs'
import { rssMb } from './lib/procstat.mjs'
import { encodeParams, requestBody } from './lib/shape.mjs'

const HERE = dirname(fileURLToPath(import.meta.url))
const ROOT = join(HERE, '..')
const { values: opts } = parseArgs({
  options: { minutes: { type: 'string' }, seconds: { type: 'string' }, concurrency: { type: 'string', default: '32' }, out: { type: 'string' }, 'reload-every': { type: 'string', default: '3' } },
})
const seconds = opts.seconds !== undefined ? Number(opts.seconds) : Number(opts.minutes ?? 10) * 60
const concurrency = Number(opts.concurrency)
const reloadEveryS = Number(opts['reload-every'])

const mock = await startProcess(join(HERE, 'mock-upstream.mjs'), [])
const mockUrl = `http://127.0.0.1:${JSON.parse(mock.first).listening}`
const configFile = join(mkdtempSync(join(tmpdir(), 'cc-relay-soak-')), 'cc-relay.yaml')
const config = (keepaliveMs) => `server: { keepalive_ms: ${keepaliveMs} }
providers:
  - name: flaky
    type: anthropic
    base_url: "${mockUrl}/bench/fail=529:4"
    priority: 2
    keys: [{ key: "soak-flaky-key" }]
    models: ["claude-soak-failover"]
  - name: main
    type: anthropic
    base_url: "${mockUrl}"
    keys: [{ key: "soak-key-1" }, { key: "soak-key-2" }]
logging: { level: warn, format: json }
`
writeFileSync(configFile, config(15000))
const port = await freePort()
const relayProcess = spawn(process.execPath, [join(ROOT, 'bin', 'cc-relay.js'), 'serve', '--config', configFile, '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] })
const relayUrl = `http://127.0.0.1:${port}`
let relayLog = ''
relayProcess.stdout.on('data', (d) => (relayLog = (relayLog + d).slice(-20000)))
relayProcess.stderr.on('data', (d) => (relayLog = (relayLog + d).slice(-20000)))
for (let i = 0; ; i++) {
  try {
    await (await fetch(`${relayUrl}/health`)).text()
    break
  } catch {
    if (i > 200) throw new Error(`the relay did not start:\n${relayLog}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

const dispatcher = new Agent({ connections: concurrency * 2, keepAliveTimeout: 4000 })
const STREAM = encodeParams({ events: 40, bytes: 48, gap_ms: 10, thinking: 1, tool: 1 })
const SLOW = encodeParams({ events: 200, bytes: 2000, gap_ms: 0 })
const WHOLE = encodeParams({ events: 20, bytes: 48, stream: 0 })
const body = (stream, model = 'claude-soak') => requestBody(2000, stream, model)

/** Each kind of request and what its complete answer ends with. */
const KINDS = [
  { name: 'stream', weight: 4, header: STREAM, body: body(true), ends: 'event: message_stop' },
  { name: 'non-streaming', weight: 3, header: WHOLE, body: body(false), ends: '}' },
  { name: 'failover', weight: 2, header: STREAM, body: body(true, 'claude-soak-failover'), ends: 'event: message_stop' },
  { name: 'hang-up', weight: 1, header: STREAM, body: body(true), hangUp: true },
  { name: 'slow reader', weight: 1, header: SLOW, body: body(true), ends: 'event: message_stop', slow: true },
]
const pickKind = (() => {
  const bag = KINDS.flatMap((k) => Array(k.weight).fill(k))
  return () => bag[Math.floor(Math.random() * bag.length)]
})()

const tally = Object.fromEntries(KINDS.map((k) => [k.name, { ok: 0, lost: 0 }]))
const lost = []

async function one(kind) {
  const controller = new AbortController()
  try {
    const res = await request(`${relayUrl}/v1/messages`, {
      method: 'POST',
      dispatcher,
      signal: controller.signal,
      headers: { 'content-type': 'application/json', 'x-bench': kind.header },
      body: kind.body,
    })
    if (kind.hangUp) {
      // Read a little, then hang up mid-stream.
      for await (const _chunk of res.body) break
      controller.abort()
      tally[kind.name].ok++
      return
    }
    let text = ''
    for await (const chunk of res.body) {
      text += chunk
      if (kind.slow) await new Promise((r) => setTimeout(r, 5))
    }
    const complete = kind.ends === '}' ? text.endsWith('}') : text.includes(kind.ends) && !text.includes('event: error')
    if (res.statusCode === 200 && complete) tally[kind.name].ok++
    else {
      tally[kind.name].lost++
      if (lost.length < 5) lost.push(`${kind.name}: ${res.statusCode} ${text.slice(-200)}`)
    }
  } catch (err) {
    if (kind.hangUp && controller.signal.aborted) return void tally[kind.name].ok++
    tally[kind.name].lost++
    if (lost.length < 5) lost.push(`${kind.name}: ${err.message}`)
  }
}

/**
 * The relay's open descriptors, and how many are sockets. Only sockets can leak with a request: a worker
 * thread the pool starts under load brings its own event loop's descriptors (epoll, eventfd) and keeps them
 * while it idles, which is not a leak.
 */
function descriptors(pid) {
  const dir = `/proc/${pid}/fd`
  const names = readdirSync(dir)
  const kinds = {}
  for (const name of names) {
    let target = 'gone'
    try {
      target = readlinkSync(`${dir}/${name}`).replace(/\[\d+\]$/, '').replace(/^\/.*/, 'file')
    } catch {}
    kinds[target] = (kinds[target] ?? 0) + 1
  }
  return { fds: names.length, sockets: kinds['socket:'] ?? 0, fd_kinds: kinds }
}

/** What the relay holds right now: RSS, open descriptors, and Node's active resources by type. */
async function sample() {
  const text = await (await fetch(`${relayUrl}/metrics`)).text()
  const resources = {}
  for (const m of text.matchAll(/^cc_relay_nodejs_active_resources\{type="(\w+)"\} (\d+)/gm)) resources[m[1]] = Number(m[2])
  return { at_s: Math.round((Date.now() - startedAt) / 1000), rss_mb: Number(rssMb(relayProcess.pid).toFixed(1)), ...descriptors(relayProcess.pid), resources }
}

const startedAt = Date.now()
const idle = await sample()
const samples = [idle]
const deadline = startedAt + seconds * 1000
let reloads = 0
const reloader = setInterval(() => {
  // A harmless change, so each rewrite is a real reload (the watcher ignores identical bytes).
  writeFileSync(configFile, config(15000 + (++reloads % 2)))
}, reloadEveryS * 1000)
const sampler = setInterval(async () => samples.push(await sample().catch(() => ({ error: true }))), 5000)
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (Date.now() < deadline) await one(pickKind())
  }),
)
clearInterval(reloader)
clearInterval(sampler)
// Let idle keep-alive sockets and finished requests' timers go (upstream keep-alive is 4 s).
await dispatcher.close()
await new Promise((r) => setTimeout(r, 6000))
const after = await sample()
samples.push(after)
relayProcess.kill('SIGTERM')
const exitCode = await new Promise((r) => relayProcess.on('exit', r))
mock.child.kill('SIGTERM')

const atMinute1 = samples.find((s) => s.at_s >= 60 && !s.error)
const lastLoaded = samples.filter((s) => !s.error && s !== after).at(-1)
const problems = []
const totalLost = Object.values(tally).reduce((n, k) => n + k.lost, 0)
if (totalLost > 0) problems.push(`${totalLost} requests lost: ${lost.join(' | ')}`)
if (after.sockets > idle.sockets + 2) problems.push(`open sockets ${idle.sockets} before the load, ${after.sockets} after it (leaked sockets; descriptors by kind before ${JSON.stringify(idle.fd_kinds)}, after ${JSON.stringify(after.fd_kinds)})`)
const timers = (s) => s.resources.Timeout ?? 0
if (timers(after) > timers(idle) + 2) problems.push(`active timers ${timers(idle)} before the load, ${timers(after)} after it`)
if (atMinute1 && seconds >= 120 && lastLoaded.rss_mb > atMinute1.rss_mb * 1.1) problems.push(`RSS ${atMinute1.rss_mb} MB at minute 1, ${lastLoaded.rss_mb} MB at the end (more than 10 % growth)`)
if (exitCode !== 0) problems.push(`the relay exited ${exitCode} after SIGTERM:\n${relayLog.slice(-2000)}`)
if (/"msg":"internal error"/.test(relayLog)) problems.push('the relay logged an internal error')

const report = { seconds, concurrency, reloads, tally, idle, minute1: atMinute1 ?? null, end_of_load: lastLoaded, after, samples, problems }
if (opts.out) writeFileSync(opts.out, JSON.stringify(report, null, 2))
const rssLine = atMinute1 ? `RSS ${idle.rss_mb} MB idle, ${atMinute1.rss_mb} at minute 1, ${lastLoaded.rss_mb} at the end` : `RSS ${idle.rss_mb} MB idle, ${lastLoaded.rss_mb} at the end`
console.log(`soak: ${seconds} s, ${concurrency} clients, ${reloads} reloads; ${Object.entries(tally).map(([k, v]) => `${k} ${v.ok}`).join(', ')}`)
console.log(`${rssLine}; descriptors ${idle.fds} → ${lastLoaded.fds} under load → ${after.fds} after (sockets ${idle.sockets} → ${after.sockets}); timers ${timers(idle)} → ${timers(after)}`)
console.log(problems.length ? `soak FAILED:\n- ${problems.join('\n- ')}` : 'soak passed: nothing lost, nothing leaked')
process.exit(problems.length ? 1 : 0)
