import t from 'tap'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { CONFIG_DEFAULTS } from '../../src/config/defaults.js'
import { ConfigError, EMBEDDED_DEFAULT_YAML, findConfigFile, loadConfig } from '../../src/config/load.js'
import { discover, discoverCalls, MINIMAL, parse } from './fixtures/helpers.js'

const PROVIDER_DEFAULTS = {
  enabled: true,
  base_url: '',
  priority: null,
  weight: 1,
  keys: [],
  pooling: { strategy: 'least_loaded' },
  models: [],
  max_output_tokens: 0,
  model_mapping: {},
  options: {},
}

t.test('no file anywhere → the embedded default', async (t) => {
  const dir = t.testdir({ cwd: {}, home: {} })
  const { config, source } = await loadConfig({ cwd: join(dir, 'cwd'), home: join(dir, 'home'), env: {}, discover })
  t.equal(source, '(embedded default)')
  t.same(config, {
    ...CONFIG_DEFAULTS,
    server: { ...CONFIG_DEFAULTS.server, auth: { ...CONFIG_DEFAULTS.server.auth, allow_subscription: true } },
    providers: [{ name: 'anthropic', type: 'anthropic', ...PROVIDER_DEFAULTS }],
  })
  t.equal(config.server.listen, '127.0.0.1:8787')
  t.equal(config.providers[0]?.keys.length, 0)
  t.match(EMBEDDED_DEFAULT_YAML, /allow_subscription: true/)
})

t.test('a minimal file gets every CONTRACT §1 default', async (t) => {
  const config = await parse(MINIMAL)
  t.strictSame(config, { ...CONFIG_DEFAULTS, providers: [{ name: 'anthropic', type: 'anthropic', ...PROVIDER_DEFAULTS }] })
  // Spot-check the contract's numbers, not just the defaults table against itself.
  t.equal(config.server.max_body_bytes, 33554432)
  t.equal(config.server.keepalive_ms, 15000)
  t.equal(config.server.shutdown_timeout_ms, 30000)
  t.same(config.server.timeouts, { connect_ms: 10000, first_byte_ms: 300000, idle_ms: 300000, total_ms: 0 })
  t.equal(config.server.auth.allow_subscription, false)
  t.same(config.routing, {
    strategy: 'failover',
    model_mapping: {},
    default_provider: '',
    max_attempts: 3,
    failover_timeout_ms: 30000,
    queue_timeout_ms: 0,
    affinity: { enabled: true, ttl_ms: 3600000 },
    debug: false,
    rules: [],
  })
  t.same(config.health, {
    circuit_breaker: { failure_threshold: 5, open_duration_ms: 30000, half_open_probes: 3 },
    health_check: { enabled: true, interval_ms: 10000 },
  })
  t.same(config.state, { store: 'memory', redis: { url: '', key_prefix: 'cc-relay:', connect_timeout_ms: 2000, command_timeout_ms: 500 } })
  t.same(config.logging, { level: 'info', format: 'json' })
})

t.test('partial sections are merged key by key; keys and clients get their own defaults', async (t) => {
  const config = await parse(`
server:
  timeouts: { idle_ms: 5 }
  auth:
    clients:
      - { name: ci, key: k1, rpm_limit: 10 }
providers:
  - name: a
    type: anthropic
    priority: 7
    keys:
      - key: sk-1
        tpm_limit: 1000
routing: { affinity: { enabled: false } }
`)
  t.same(config.server.timeouts, { connect_ms: 10000, first_byte_ms: 300000, idle_ms: 5, total_ms: 0 })
  t.same(config.server.auth.clients, [{ name: 'ci', key: 'k1', group: '', models: [], deny_models: [], rpm_limit: 10, tpm_limit: 0, max_concurrent: 0 }])
  t.equal(config.providers[0]?.priority, 7)
  t.same(config.providers[0]?.keys, [
    { key: 'sk-1', rpm_limit: 0, tpm_limit: 1000, itpm_limit: 0, otpm_limit: 0, priority: 1, weight: 1 },
  ])
  t.same(config.routing.affinity, { enabled: false, ttl_ms: 3600000 })
})

t.test('the loaded config is deep-frozen', async (t) => {
  const config = await parse(MINIMAL + '    keys: [{ key: a }]\n')
  t.ok(Object.isFrozen(config))
  t.ok(Object.isFrozen(config.server.timeouts))
  t.ok(Object.isFrozen(config.providers))
  t.ok(Object.isFrozen(config.providers[0]?.keys[0]))
  t.ok(Object.isFrozen(config.providers[0]?.options))
  t.ok(Object.isFrozen(config.routing.model_mapping))
  t.throws(() => {
    ;(config.server as { listen: string }).listen = 'x'
  })
  // A second load is unaffected by the first (no shared mutable state).
  const again = await parse(MINIMAL)
  t.equal(again.server.listen, '127.0.0.1:8787')
})

t.test('findConfigFile: --config, then ./cc-relay.yaml, then ~/.config/cc-relay/config.yaml', async (t) => {
  const dir = t.testdir({ cwd: {}, home: {} })
  const cwd = join(dir, 'cwd')
  const home = join(dir, 'home')
  t.equal(findConfigFile({ cwd, home }), undefined)
  const homeFile = join(home, '.config', 'cc-relay', 'config.yaml')
  mkdirSync(join(home, '.config', 'cc-relay'), { recursive: true })
  writeFileSync(homeFile, MINIMAL)
  t.equal(findConfigFile({ cwd, home }), homeFile)
  writeFileSync(join(cwd, 'cc-relay.yaml'), MINIMAL)
  t.equal(findConfigFile({ cwd, home }), join(cwd, 'cc-relay.yaml'))
  t.equal(findConfigFile({ file: 'other.yaml', cwd, home }), join(cwd, 'other.yaml'), 'explicit, even if missing')
  t.equal(findConfigFile({ file: '/abs/x.yaml', cwd, home }), '/abs/x.yaml')
})

t.test('loadConfig reads the found file and passes plugin_dirs and its folder to discover', async (t) => {
  const dir = t.testdir({ 'cc-relay.yaml': `plugin_dirs: [./extra]\n${MINIMAL}` })
  discoverCalls.length = 0
  const { config, source } = await loadConfig({ cwd: dir, home: dir, env: {}, discover })
  t.equal(source, join(dir, 'cc-relay.yaml'))
  t.same(config.plugin_dirs, ['./extra'])
  t.same(discoverCalls, [{ pluginDirs: ['./extra'], configDir: dir }])
})

t.test('an explicit --config that does not exist is a ConfigError, not the default', async (t) => {
  const dir = t.testdir({})
  const error = await loadConfig({ file: 'nope.yaml', cwd: dir, home: dir, env: {}, discover }).catch((e: unknown) => e)
  t.ok(error instanceof ConfigError)
  if (!(error instanceof ConfigError)) return
  t.equal(error.source, join(dir, 'nope.yaml'))
  t.same(error.problems, [{ path: '', message: `config file not found: ${join(dir, 'nope.yaml')}` }])
})
