/**
 * A port in use stops `serve` (issue 27, a new user's find): uWS listens with SO_REUSEPORT, so a second
 * relay on a taken port used to log "listening" and split the traffic. Now exit 1, unless every relay on
 * the port asked for a shared port with `--reuse-port`.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { BIN, writeConfig } from '../helpers/relay.js'
import { within } from '../helpers/wait.js'
import { closedPort } from '../helpers/ports.js'
import { dirname } from 'node:path'

/**
 * `serve` on `port` (fixed): resolves with its exit code, or with 'listening' once it took the port (the
 * process left running for the caller: `stop` ends it); 240 s deadline (a start on a loaded 2-core
 * machine shared with other suites has taken over 120 s).
 */
function serveOn(port: number, extra: readonly string[] = []): Promise<{ result: number | null | 'listening'; out: string; stop: () => Promise<void> }> {
  const file = writeConfig('providers: [{ name: a, type: anthropic }]\nhealth: { health_check: { enabled: false } }\n')
  const child = spawn(process.execPath, [BIN, 'serve', '--config', file, '--listen', `127.0.0.1:${port}`, ...extra], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CC_RELAY_WORKERS: '1', XDG_STATE_HOME: dirname(file) } })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGTERM')
    await within('the relay exits after SIGTERM', exited, 30_000).catch(() => void child.kill('SIGKILL'))
  }
  let out = ''
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      resolve({ result: null, out: `${out}\n(neither exited nor listened within 240 s)`, stop })
    }, 240_000)
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      if (/"msg":"listening"/.test(out)) {
        clearTimeout(timer)
        resolve({ result: 'listening', out, stop })
      }
    })
    child.stderr.on('data', (d: Buffer) => (out += d.toString()))
    void exited.then((code) => {
      clearTimeout(timer)
      resolve({ result: code, out, stop })
    })
  })
}

// Fixed ports: one the kernel picked for port 0 cannot be joined, even with SO_REUSEPORT.
t.test('a port another relay holds stops serve with exit 1, even with --reuse-port', async (t) => {
  const port = await closedPort()
  const first = await serveOn(port)
  t.teardown(first.stop)
  // Without a first relay holding the port the rest would test nothing.
  if (first.result !== 'listening') return void t.fail(`the first relay did not start: ${first.out}`)
  const second = await serveOn(port)
  await second.stop()
  t.equal(second.result, 1, `CONTRACT §2: exit 1 on a port in use; got ${String(second.result)}: ${second.out}`)
  t.match(second.out, /127\.0\.0\.1:\d+ is in use/)
  t.match(second.out, /--reuse-port/, 'the message says how to share a port on purpose')
  const asked = await serveOn(port, ['--reuse-port'])
  await asked.stop()
  t.equal(asked.result, 1, 'the first relay did not offer the port for sharing: --reuse-port alone cannot join it')
})

t.test('relays that all ask for --reuse-port share a port; one that did not ask is refused it', async (t) => {
  const port = await closedPort()
  const shared = await serveOn(port, ['--reuse-port'])
  t.teardown(shared.stop)
  if (shared.result !== 'listening') return void t.fail(`the first relay did not start: ${shared.out}`)
  const joined = await serveOn(port, ['--reuse-port'])
  await joined.stop()
  t.equal(joined.result, 'listening', `both asked for a shared port: the second listens too: ${joined.out}`)
  const refused = await serveOn(port)
  await refused.stop()
  t.equal(refused.result, 1, 'a relay that did not ask to share is refused a shared port')
})
