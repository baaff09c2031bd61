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

/**
 * Spawns a node process and waits for the stdout line that says it is ready: by default its first line
 * (the mock's and the plain proxy's "I am listening"); `isReady` picks another, e.g. a relay's
 * `listening` log line when other log lines may come first.
 */
export function startProcess(file, argv, env = {}, isReady = () => true) {
  const child = spawn(process.execPath, [file, ...argv], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } })
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
