/**
 * A real redis-server (Debian's) on a free loopback port, per test, so a test can stop and restart it.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { within } from './wait.js'

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as { port: number }
  await new Promise<void>((r) => server.close(() => r()))
  return port
}

const START_MS = 20_000

export class RedisServer {
  #child: ChildProcess | undefined
  port = 0

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  async start(): Promise<this> {
    if (this.port === 0) this.port = await freePort()
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] })
    this.#child = child
    // A deadline: a redis-server that never says it is ready fails the test (and is killed) instead of hanging it.
    let timer: NodeJS.Timeout | undefined
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => {
        child.kill('SIGKILL')
        reject(new Error(`redis-server on port ${this.port}: not ready within ${START_MS} ms`))
      }, START_MS)
      let out = ''
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString()
        if (out.includes('Ready to accept connections')) resolve()
      })
      child.on('error', (err) => reject(new Error(`redis-server could not start (apt-get install redis-server): ${err.message}`)))
      child.on('exit', (code) => reject(new Error(`redis-server exited with ${code}:\n${out}`)))
    }).finally(() => clearTimeout(timer))
    return this
  }

  async stop(): Promise<void> {
    const child = this.#child
    if (!child || child.exitCode !== null) return
    const exited = new Promise((r) => child.on('exit', r))
    child.kill('SIGKILL')
    await within('redis-server exits after SIGKILL', exited, 10_000)
  }
}
