/**
 * Programs a test file needs from the machine beyond Node (Debian's chromium, redis-server). On a
 * machine without one, `npm test` skips those tests with one line saying what to install; under
 * `.ci/run` (CC_RELAY_TEST_REQUIRE_ALL=1) a missing program is a failure, so CI never passes by skipping.
 */
import { accessSync, constants } from 'node:fs'
import { delimiter, isAbsolute, join } from 'node:path'

function found(program: string): boolean {
  const candidates = isAbsolute(program) ? [program] : (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, program))
  return candidates.some((path) => {
    try {
      accessSync(path, constants.X_OK)
      return true
    } catch {
      return false
    }
  })
}

/** The part of tap's `Test` this uses. */
interface Failable {
  fail(message: string): unknown
}

/**
 * `false` when `program` is there; otherwise the skip reason to pass as `t.test(name, { skip }, …)`
 * (and, when every program is required, a failure recorded on `t`).
 */
export function needs(t: Failable, program: string, install: string): string | false {
  if (found(program)) return false
  const reason = `needs ${program}: ${install}`
  if (process.env.CC_RELAY_TEST_REQUIRE_ALL === '1') t.fail(`${reason} (CC_RELAY_TEST_REQUIRE_ALL=1: every program is required)`)
  return reason
}

/**
 * Like `needs`, for the npm registry: `false` when `npm ping` answers within 20 s; otherwise the skip
 * reason (and, under CC_RELAY_TEST_REQUIRE_ALL=1, a failure). For tests that install something once.
 */
export async function needsRegistry(t: Failable, what: string): Promise<string | false> {
  const { run } = await import('./run.js')
  const ping = await run('npm', ['ping', '--loglevel', 'error'], { timeoutMs: 20_000 }).catch((err: Error) => ({ status: null, stderr: err.message }))
  if (ping.status === 0) return false
  const reason = `needs the npm registry: ${what}`
  if (process.env.CC_RELAY_TEST_REQUIRE_ALL === '1') t.fail(`${reason} (CC_RELAY_TEST_REQUIRE_ALL=1: every program is required)`)
  return reason
}
