/**
 * Issue 7: the relay behaves the same on the Redis store as on the memory store. A test file written for
 * the memory store runs again with every relay it starts on `state.store: redis` (test/helpers/relay.ts
 * withTestStore), against a real redis-server of its own. One file per suite (test/e2e/on-redis/), so
 * each stays well inside tap's per-file limit and they run in parallel.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { RedisServer } from './redis-server.js'
import { needs } from './requires.js'
import { within } from './wait.js'

const ROOT = join(import.meta.dirname, '..', '..')
const cleanEnv = (): NodeJS.ProcessEnv =>
  Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^_?TAP/i.test(name) && name !== 'NODE_OPTIONS'))

export function onRedisStore(file: string): void {
  t.test(`${file} on the Redis store`, { skip: needs(t, 'redis-server', 'apt-get install redis-server (.ci/run does it)') }, async (t) => {
    const redis = await new RedisServer().start()
    t.teardown(() => redis.stop())
    // A fresh tap run, not a child of this one: none of this process's TAP_* variables.
    // Every relay of the nested run puts its keys under this prefix (relay.ts withTestStore), so what is
    // there afterwards shows the run used Redis, not a memory store that passed the same tests.
    const prefix = `on-redis-${randomBytes(4).toString('hex')}-`
    const child = spawn(process.execPath, [join(ROOT, 'test', 'helpers', 'run-tap.mjs'), file], { cwd: ROOT, env: { ...cleanEnv(), CC_RELAY_TEST_REDIS_URL: redis.url, CC_RELAY_TEST_REDIS_PREFIX: prefix } })
    let stdout = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.resume()
    const timer = setTimeout(() => child.kill('SIGKILL'), 170_000)
    await new Promise((resolve) => child.on('close', resolve))
    clearTimeout(timer)
    const tally = /^tests: (\d+) passed, (\d+) failed/m.exec(stdout)
    t.ok(tally && Number(tally[1]) > 0 && tally[2] === '0', `${file}: ${tally?.[0] ?? 'no tally (killed after 170 s?)'}`)
    if (!tally || tally[2] !== '0') t.comment(stdout.split('\n').filter((l) => /not ok/.test(l)).join('\n'))
    const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 })
    try {
      await within('connecting to the test redis-server', client.connect(), 10_000)
      const keys = await within(`listing the keys under ${prefix}`, client.keys(`${prefix}*`), 10_000)
      t.ok(keys.length > 0, `${file}: the relays kept state in Redis (${keys.length} keys under ${prefix}*)`)
    } finally {
      client.disconnect()
    }
  })
}
