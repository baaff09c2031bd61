// The `shared-redis` scenario's own arms (issue 7: "two relay instances with the Redis store against one
// with the memory store; admission through Redis should add ≤ 0.3 ms p50 to time to first event"):
//   memory    one relay, `state.store: memory` (the baseline the issue names)
//   memory-2  two relays on the memory store, the load alternating between them (the control: what two
//             processes cost without Redis; not in --quick)
//   redis-2   two relays, `state.store: redis`, sharing one redis-server on a free loopback port; the load
//             alternates between them request by request
// Every relay serves the same pooled key with an rpm limit far above anything the bench reaches: limited, so
// every lease under Redis pays the admission round trip, yet never binding, so no request waits.
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { freePort, relayListening, startProcess } from './processes.mjs'
import { NAME_THREADS } from './threads.mjs'

const RELAY_KEY = 'bench-relay-key'
const HEADERS = { 'x-api-key': RELAY_KEY }
/** How long the relays get to see each other's heartbeats (they beat every second). */
const SHARING_TIMEOUT_MS = 5000

/** Why the scenario cannot run here, or undefined when it can. */
export function sharedRedisUnavailable() {
  const probe = spawnSync('redis-server', ['--version'], { stdio: 'ignore' })
  return probe.error ? 'redis-server is not installed (apt-get install redis-server)' : undefined
}

/** A throwaway redis-server: no snapshots, no append-only file, loopback only. */
function startRedisServer(port) {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] })
  return new Promise((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (d) => {
      out += d
      if (out.includes('Ready to accept connections')) resolve(child)
    })
    child.on('error', reject)
    child.on('exit', (code) => reject(new Error(`redis-server exited with ${code} before it was ready:\n${out}`)))
  })
}

function relayConfig(mockUrl, state) {
  return `server:
  auth: { api_key: "${RELAY_KEY}" }
state: ${state}
providers:
  - name: mock
    type: anthropic
    base_url: "${mockUrl}"
    # Limited (so Redis admits every lease) but never binding. No token limits: one window, the rpm one.
    keys: [{ key: "bench-upstream-key", rpm_limit: 10000000 }]
logging: { level: info, format: json }
`
}

async function startRelay(root, config) {
  const port = await freePort()
  const relay = await startProcess(join(root, 'bin', 'cc-relay.js'), ['serve', '--config', config, '--listen', `127.0.0.1:${port}`], {}, relayListening, NAME_THREADS)
  return { url: `http://127.0.0.1:${port}`, child: relay.child }
}

/** Calls `onDegraded` if the relay ever logs that it lost Redis (its limits went local for a while). */
function watchForDegrading(child, onDegraded) {
  const warning = 'shared state (Redis) unavailable'
  let tail = '' // a warning may be split across two chunks
  child.stdout.on('data', (d) => {
    const text = tail + d
    if (text.includes(warning)) onDegraded()
    tail = text.slice(-warning.length)
  })
}

async function storeOf(url) {
  const res = await fetch(`${url}/status.json`)
  return (await res.json()).store
}

/** Both relays on Redis, each counting two instances: the arm measures what it says it measures. */
async function untilSharing(urls) {
  const deadline = Date.now() + SHARING_TIMEOUT_MS
  for (;;) {
    const stores = await Promise.all(urls.map(storeOf))
    if (stores.every((s) => s.kind === 'redis' && s.shared && s.instances === urls.length)) return
    if (Date.now() > deadline) throw new Error(`the Redis relays never shared state: ${JSON.stringify(stores)}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** Admission scripts Redis has run (EVALSHA, or EVAL when the script was not cached yet). */
async function admissionsRun(redisUrl) {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0 })
  try {
    await redis.connect()
    const stats = await redis.info('commandstats')
    return [...stats.matchAll(/^cmdstat_eval(?:sha)?:calls=(\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0)
  } finally {
    redis.disconnect()
  }
}

/** Starts relays in parallel; every one that started is in `children`, even when another failed. */
async function startRelays(root, configs, children) {
  const settled = await Promise.allSettled(configs.map((config) => startRelay(root, config)))
  for (const s of settled) if (s.status === 'fulfilled') children.push(s.value.child)
  const failed = settled.find((s) => s.status === 'rejected')
  if (failed) throw failed.reason
  return settled.map((s) => s.value)
}

/** An arm served by several relays: the load alternates between them. */
const splitArm = (name, relays) => ({ name, urls: relays.map((r) => r.url), headers: HEADERS, pids: relays.map((r) => r.child.pid), metricsUrls: relays.map((r) => `${r.url}/metrics`) })

/**
 * Starts redis-server and the relays; returns the arms, `stop` (kills everything started, also when
 * starting failed halfway) and `check`, which says after the runs whether Redis stayed shared throughout
 * and how many admissions it ran. `--quick` (CI: correctness, not speed) leaves out the control arm,
 * which saves two relay starts and one arm's runs.
 */
export async function startSharedRedisArms({ root, mockUrl, quick }) {
  const children = []
  const stop = () => children.forEach((c) => c.exitCode === null && c.kill('SIGTERM'))
  process.on('exit', stop) // also when the bench dies between start and stop
  try {
    const redisPort = await freePort()
    children.push(await startRedisServer(redisPort))
    const redisUrl = `redis://127.0.0.1:${redisPort}`
    const dir = mkdtempSync(join(tmpdir(), 'cc-relay-bench-redis-'))
    const memoryConfig = join(dir, 'memory.yaml')
    const redisConfig = join(dir, 'redis.yaml')
    writeFileSync(memoryConfig, relayConfig(mockUrl, '{ store: memory }'))
    writeFileSync(redisConfig, relayConfig(mockUrl, `{ store: redis, redis: { url: "${redisUrl}", key_prefix: "bench:" } }`))
    const controlConfigs = quick ? [] : [memoryConfig, memoryConfig]
    const [memory, redisA, redisB, ...control] = await startRelays(root, [memoryConfig, redisConfig, redisConfig, ...controlConfigs], children)
    const redisPair = [redisA, redisB]
    await untilSharing(redisPair.map((r) => r.url))
    let degraded = false
    for (const r of redisPair) watchForDegrading(r.child, () => (degraded = true))
    const arms = [
      { name: 'memory', url: memory.url, headers: HEADERS, pid: memory.child.pid, metricsUrls: [`${memory.url}/metrics`] },
      // The control: two processes on the memory store, so the Redis round trip can be told apart from
      // what splitting the load over two processes costs (on a small machine they contend for cores).
      ...(control.length ? [splitArm('memory-2', control)] : []),
      splitArm('redis-2', redisPair),
    ]
    const check = async () => ({ sharedThroughout: !degraded, redisAdmissions: await admissionsRun(redisUrl) })
    return { arms, stop, check }
  } catch (err) {
    stop()
    throw err
  }
}
