/**
 * A port in use stops `serve` (issue 27, a new user's find): uWS listens with SO_REUSEPORT, so a second
 * relay on a taken port used to log "listening" and split the traffic. Now exit 1, unless every relay on
 * the port asked for a shared port with `--reuse-port`.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { BIN, startRelay, writeConfig } from '../helpers/relay.js'
import type { RunningRelay } from '../helpers/relay.js'
import { within } from '../helpers/wait.js'
import { closedPort } from '../helpers/ports.js'
import { dirname } from 'node:path'

/** Stops a relay, SIGKILL if it has not exited 20 s after SIGTERM. */
async function stopRelay(relay: RunningRelay | undefined): Promise<void> {
  if (!relay || relay.child.exitCode !== null) return
  try {
    await within('the relay exits after SIGTERM', relay.stop(), 20_000)
  } catch {
    relay.child.kill('SIGKILL')
  }
}

/**
 * `serve` as a second process on `port`: resolves with its exit code, or with 'listening' (and the
 * process killed) when it took the port; 120 s deadline (a start on a loaded machine takes a while).
 */
function secondServe(port: number, extra: readonly string[] = []): Promise<{ result: number | null | 'listening'; out: string }> {
  const file = writeConfig('providers: [{ name: a, type: anthropic }]\nhealth: { health_check: { enabled: false } }\n')
  const child = spawn(process.execPath, [BIN, 'serve', '--config', file, '--listen', `127.0.0.1:${port}`, ...extra], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CC_RELAY_WORKERS: '1', XDG_STATE_HOME: dirname(file) } })
  let out = ''
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      resolve({ result: null, out: `${out}\n(neither exited nor listened within 120 s)` })
    }, 120_000)
    const onData = (d: Buffer): void => {
      out += d.toString()
      if (/"msg":"listening"/.test(out)) {
        clearTimeout(timer)
        child.kill('SIGKILL')
        resolve({ result: 'listening', out })
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', (d: Buffer) => (out += d.toString()))
    child.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ result: code, out })
    })
  })
}

t.test('a port another relay holds stops serve with exit 1, unless both share it on purpose (--reuse-port)', async (t) => {
  const first = await startRelay('providers: [{ name: a, type: anthropic }]\nhealth: { health_check: { enabled: false } }\n')
  t.teardown(() => stopRelay(first))
  const port = Number(new URL(first.url).port)
  const second = await secondServe(port)
  t.equal(second.result, 1, `CONTRACT §2: exit 1 on a port in use; got ${String(second.result)}: ${second.out}`)
  t.match(second.out, /127\.0\.0\.1:\d+ is in use/)
  t.match(second.out, /--reuse-port/, 'the message says how to share a port on purpose')
  const asked = await secondServe(port, ['--reuse-port'])
  t.equal(asked.result, 1, 'the first relay did not offer the port for sharing: --reuse-port alone cannot join it')

  // A fixed port: one the kernel picked for port 0 cannot be joined, even with SO_REUSEPORT.
  const sharedPort = await closedPort()
  const shared = await startRelay('providers: [{ name: a, type: anthropic }]\nhealth: { health_check: { enabled: false } }\n', { args: ['--listen', `127.0.0.1:${sharedPort}`, '--reuse-port'] })
  t.teardown(() => stopRelay(shared))
  const joined = await secondServe(sharedPort, ['--reuse-port'])
  t.equal(joined.result, 'listening', `both asked for a shared port: the second listens too: ${joined.out}`)
  const refused = await secondServe(sharedPort)
  t.equal(refused.result, 1, 'a relay that did not ask to share is refused a shared port')
})
