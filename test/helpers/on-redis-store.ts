/**
 * Issue 7: the relay behaves the same on the Redis store as on the memory store. A test file written for
 * the memory store runs again with every relay it starts on `state.store: redis` (test/helpers/relay.ts
 * withTestStore), against a real redis-server of its own. One file per suite (test/e2e/on-redis/), so
 * each stays well inside tap's per-file limit and they run in parallel.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { RedisServer } from './redis-server.js'
import { needs } from './requires.js'

const ROOT = join(import.meta.dirname, '..', '..')
const cleanEnv = (): NodeJS.ProcessEnv =>
  Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^_?TAP/i.test(name) && name !== 'NODE_OPTIONS'))

export function onRedisStore(file: string): void {
  t.test(`${file} on the Redis store`, { skip: needs(t, 'redis-server', 'apt-get install redis-server (.ci/run does it)') }, async (t) => {
    const redis = await new RedisServer().start()
    t.teardown(() => redis.stop())
    // A fresh tap run, not a child of this one: none of this process's TAP_* variables.
    const child = spawn(process.execPath, [join(ROOT, 'test', 'helpers', 'run-tap.mjs'), file], { cwd: ROOT, env: { ...cleanEnv(), CC_RELAY_TEST_REDIS_URL: redis.url } })
    let stdout = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.resume()
    const timer = setTimeout(() => child.kill('SIGKILL'), 170_000)
    await new Promise((resolve) => child.on('close', resolve))
    clearTimeout(timer)
    const tally = /^tests: (\d+) passed, (\d+) failed/m.exec(stdout)
    t.ok(tally && Number(tally[1]) > 0 && tally[2] === '0', `${file}: ${tally?.[0] ?? 'no tally (killed after 170 s?)'}`)
    if (!tally || tally[2] !== '0') t.comment(stdout.split('\n').filter((l) => /not ok/.test(l)).join('\n'))
  })
}
