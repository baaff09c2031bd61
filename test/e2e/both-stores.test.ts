/**
 * Issue 7: the relay behaves the same on the Redis store as on the memory store. Test files written for
 * the memory store run again with every relay they start on `state.store: redis` (test/helpers/relay.ts
 * withTestStore), against a real redis-server.
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { RedisServer } from '../helpers/redis-server.js'
import { needs } from '../helpers/requires.js'

const ROOT = join(import.meta.dirname, '..', '..')
const cleanEnv = (): NodeJS.ProcessEnv =>
  Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^_?TAP/i.test(name) && name !== 'NODE_OPTIONS'))

const FILES = ['test/e2e/failover.test.ts', 'test/e2e/health-check.test.ts', 'test/e2e/team-clients.test.ts', 'test/e2e/messages.test.ts']

t.test('failover, health checks, team clients and messages on the Redis store', { skip: needs(t, 'redis-server', 'apt-get install redis-server (.ci/run does it)') }, async (t) => {
  const redis = await new RedisServer().start()
  t.teardown(() => redis.stop())
  for (const file of FILES) {
    const run = spawnSync(process.execPath, [join(ROOT, 'test', 'helpers', 'run-tap.mjs'), file], {
      cwd: ROOT,
      // A fresh tap run, not a child of this one: none of this process's TAP_* variables.
      env: { ...cleanEnv(), CC_RELAY_TEST_REDIS_URL: redis.url },
      encoding: 'utf8',
      timeout: 170_000,
    })
    const tally = /^tests: (\d+) passed, (\d+) failed/m.exec(run.stdout)
    t.ok(tally && Number(tally[1]) > 0 && tally[2] === '0', `${file}: ${tally?.[0] ?? 'no tally'}`)
    if (!tally || tally[2] !== '0') t.comment(run.stdout.split('\n').filter((l) => /not ok/.test(l)).join('\n'))
  }
})
