/**
 * Starts the compiled relay as users run it (`bin/cc-relay.js serve`) on a free port, with a config
 * written to a temp folder, and collects its JSON log lines.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'

export const BIN = join(import.meta.dirname, '..', '..', 'bin', 'cc-relay.js')

export interface RunningRelay {
  readonly url: string
  /** The config file the relay was started with (rewrite it to test reloads). */
  readonly configFile: string
  readonly child: ChildProcess
  readonly logs: Record<string, unknown>[]
  readonly stderr: () => string
  /** Every byte the relay wrote to stdout and stderr, JSON or not (secrets must be absent from all of it). */
  readonly rawOutput: () => string
  /**
   * Resolves with the next log line that satisfies `match`, including ones already seen; rejects after
   * `ms` (20 s by default) with a message naming what was awaited, so a broken relay fails the test
   * instead of hanging the file until tap's timeout.
   */
  waitForLog(match: (line: Record<string, unknown>) => boolean, ms?: number): Promise<Record<string, unknown>>
  /**
   * SIGTERM, then the exit code; a relay still running `killAfterMs` (45 s by default, beyond the default
   * 30 s shutdown drain) later is SIGKILLed, so a hung drain ends the test instead of the file.
   */
  stop(killAfterMs?: number): Promise<number | null>
}

export function writeConfig(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'cc-relay-test-'))
  const file = join(dir, 'cc-relay.yaml')
  writeFileSync(file, yaml)
  return file
}

/**
 * `CC_RELAY_TEST_REDIS_URL` set: every relay a test starts uses `state.store: redis` there (each with
 * its own key prefix), so a whole test file can be run again against the shared store (test/e2e/on-redis/).
 */
function withTestStore(yaml: string): string {
  const url = process.env.CC_RELAY_TEST_REDIS_URL
  if (!url || /^state:/m.test(yaml)) return yaml
  // CC_RELAY_TEST_REDIS_PREFIX: set by test/helpers/on-redis-store.ts, which checks keys exist under it afterwards.
  const prefix = process.env.CC_RELAY_TEST_REDIS_PREFIX ?? 't'
  return `${yaml}\nstate: { store: redis, redis: { url: "${url}", key_prefix: "${prefix}${process.pid}-${++relaysStarted}:" } }\n`
}
let relaysStarted = 0

export function startRelay(yaml: string, opts: { env?: NodeJS.ProcessEnv; args?: string[]; bin?: string } = {}): Promise<RunningRelay> {
  const file = writeConfig(withTestStore(yaml))
  const child = spawn(process.execPath, [opts.bin ?? BIN, 'serve', '--config', file, '--listen', '127.0.0.1:0', ...(opts.args ?? [])], {
    // Each relay's usage ledger in its own folder (the default usage.db is under $XDG_STATE_HOME).
    env: { ...process.env, CC_RELAY_WORKERS: '1', XDG_STATE_HOME: dirname(file), ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const logs: Record<string, unknown>[] = []
  const waiters: { match: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = []
  let stderr = ''
  let raw = ''
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString()
    raw += d.toString()
  })
  child.stdout!.on('data', (d: Buffer) => (raw += d.toString()))
  createInterface({ input: child.stdout! }).on('line', (text) => {
    let line: Record<string, unknown>
    try {
      line = JSON.parse(text) as Record<string, unknown>
    } catch {
      return
    }
    logs.push(line)
    for (const w of [...waiters]) if (w.match(line)) waiters.splice(waiters.indexOf(w), 1) && w.resolve(line)
  })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const waitForLog = (match: (l: Record<string, unknown>) => boolean, ms = 20_000) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const seen = logs.find(match)
      if (seen) return resolve(seen)
      const waiter = {
        match,
        resolve: (line: Record<string, unknown>) => {
          clearTimeout(timer)
          resolve(line)
        },
      }
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(waiter), 1)
        reject(new Error(`no relay log line matching ${match.toString()} within ${ms} ms`))
      }, ms)
      waiters.push(waiter)
    })
  return new Promise((resolve, reject) => {
    exited.then((code) => reject(new Error(`relay exited with ${code} before listening:\n${stderr}`)))
    waitForLog((l) => l.msg === 'listening', 60_000).then((l) =>
      resolve({
        url: String(l.url),
        configFile: file,
        child,
        logs,
        stderr: () => stderr,
        rawOutput: () => raw,
        waitForLog,
        stop: async (killAfterMs = 45_000) => {
          if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
          child.kill('SIGTERM')
          const killer = setTimeout(() => child.kill('SIGKILL'), killAfterMs)
          try {
            return await exited
          } finally {
            clearTimeout(killer)
          }
        },
      }),
      (err: Error) => {
        // A relay that never said it listens must not outlive the test that started it.
        child.kill('SIGKILL')
        reject(err)
      },
    )
  })
}

/** A config with one provider of `type` pointed at `baseUrl`, plus any extra YAML for the provider. */
export function oneProvider(baseUrl: string, extra = '', top = ''): string {
  return `${top}
logging: { level: info, format: json }
providers:
  - name: upstream
    type: anthropic
    base_url: "${baseUrl}"
${extra}
`
}
