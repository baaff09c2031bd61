// Starting the bench's own processes: a free loopback port to give one, and a spawn that waits until
// the process says it is ready.
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'

export function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

/** Every process the bench started and that still runs: none outlives the bench, whatever ends it. */
const running = new Set()
process.on('exit', () => {
  for (const child of running) child.kill('SIGTERM')
})

/** Puts a child the bench spawned itself (nginx, redis-server) under the same rule. */
export function track(child) {
  running.add(child)
  child.on('exit', () => running.delete(child))
  return child
}

/**
 * Spawns a node process and waits for the stdout line that says it is ready: by default its first line
 * (the mock's and the plain proxy's "I am listening"); `isReady` picks another, e.g. a relay's
 * `listening` log line when other log lines may come first. `nodeArgs` go to node itself, before the
 * file (e.g. `--cpu-prof`).
 */
export function startProcess(file, argv, env = {}, isReady = () => true, nodeArgs = []) {
  const child = track(spawn(process.execPath, [...nodeArgs, file, ...argv], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } }))
  return new Promise((resolve, reject) => {
    let out = ''
    const onData = (d) => {
      out += d
      for (let nl = out.indexOf('\n'); nl !== -1; nl = out.indexOf('\n')) {
        const line = out.slice(0, nl)
        out = out.slice(nl + 1)
        if (!isReady(line)) continue
        child.stdout.off('data', onData)
        child.stdout.resume() // keep draining: a full pipe would stall the process
        return resolve({ child, first: line })
      }
    }
    child.stdout.on('data', onData)
    child.on('exit', (code) => reject(new Error(`${file} exited with ${code} before it was ready`)))
  })
}

/** A relay's JSON log line announcing it accepts connections. */
export const relayListening = (line) => line.includes('"msg":"listening"')

/**
 * Sends SIGTERM and resolves when the process has exited (a relay drains first; a profiled one writes
 * its profile on the way out). After `graceMs` it is killed.
 */
export function stopProcess(child, graceMs = 15_000) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode)
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
    child.once('exit', (code) => {
      clearTimeout(timer)
      resolve(code)
    })
    child.kill('SIGTERM')
  })
}
