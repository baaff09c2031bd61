/**
 * What the docs promise an operator (issue 27): every answered request leaves a log line (404, 405,
 * /v1/models included), and /metrics has the internal-error series at 0 from the start and no
 * shared-state alarm on a memory store.
 */
import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { startRelay } from '../helpers/relay.js'
import type { RunningRelay } from '../helpers/relay.js'
import { within } from '../helpers/wait.js'

const ROOT = join(import.meta.dirname, '..', '..')
const signal = (): AbortSignal => AbortSignal.timeout(20_000)

/** Stops a relay, SIGKILL if it has not exited 20 s after SIGTERM. */
async function stopRelay(relay: RunningRelay | undefined): Promise<void> {
  if (!relay || relay.child.exitCode !== null) return
  try {
    await within('the relay exits after SIGTERM', relay.stop(), 20_000)
  } catch {
    relay.child.kill('SIGKILL')
  }
}

t.test('every answered request leaves one log line: 404, 405, /v1/models', async (t) => {
  const relay = await startRelay('providers: [{ name: a, type: anthropic, models: [claude-x] }]\nhealth: { health_check: { enabled: false } }\n')
  t.teardown(() => stopRelay(relay))
  for (const [method, path, status] of [['GET', '/v1/foo', 404], ['GET', '/v1/messages', 405], ['GET', '/v1/models', 200], ['GET', '/v1/models/claude-x', 200], ['DELETE', '/v1/models', 405]] as const) {
    const res = await fetch(relay.url + path, { method, signal: signal() })
    t.equal(res.status, status, `${method} ${path}`)
    await res.arrayBuffer()
    const id = res.headers.get('x-cc-relay-request-id')
    const line = await relay.waitForLog((l) => l.msg === 'request' && l.request_id === id, 10_000).catch(() => undefined)
    t.ok(line, `${method} ${path} (${status}) is logged`)
    if (line) {
      t.equal(line.status, status)
      t.equal(line.method, method)
      t.equal(line.path, path)
    }
  }
})

/** Literal `fault('where', …)` boundaries in src/ (dynamic ones, shutdown.<step>, are added when they happen). */
function faultBoundaries(): string[] {
  const found = new Set<string>()
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) walk(path)
      else if (entry.name.endsWith('.ts')) for (const m of readFileSync(path, 'utf8').matchAll(/(?:\bfault|#guard)\(\s*'([a-z_.]+)'/g)) found.add(m[1]!)
    }
  }
  walk(join(ROOT, 'src'))
  return [...found].sort()
}

t.test('/metrics: internal errors at 0 from the start; no shared-state alarm on a memory store', async (t) => {
  const relay = await startRelay('providers: [{ name: a, type: anthropic }]\nhealth: { health_check: { enabled: false } }\n')
  t.teardown(() => stopRelay(relay))
  const metrics = await (await fetch(relay.url + '/metrics', { signal: signal() })).text()
  const boundaries = faultBoundaries()
  t.ok(boundaries.length >= 10, `the boundaries in src/: ${boundaries.join(', ')}`)
  for (const where of boundaries) t.match(metrics, new RegExp(`^cc_relay_internal_errors_total\\{where="${where.replaceAll('.', '\\.')}"\\} 0$`, 'm'), `${where}: a series at 0`)
  t.notMatch(metrics, /^cc_relay_shared_state_up /m, 'state.store memory: nothing was ever shared, so no 0 to alarm on')
})
