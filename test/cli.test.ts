/**
 * The command line as users run it: `cc-relay config validate`, and `serve` refusing bad starts.
 */
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { BIN, startRelay, writeConfig } from './helpers/relay.js'

const run = (args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string) =>
  spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, cwd })

t.test('config validate: a valid file exits 0', async (t) => {
  const file = writeConfig('providers:\n  - name: a\n    type: anthropic\n    keys: [{ key: "${KEY:-none}" }]\n')
  const r = run(['config', 'validate', file])
  t.equal(r.status, 0, r.stderr)
  t.match(r.stdout, /valid \(1 providers, 1 enabled\)/)
  t.equal(run(['config', 'validate', '--config', file]).status, 0)
})

t.test('config validate: every problem at once, with path and line, exit 1', async (t) => {
  const file = writeConfig(`server:
  listen: "nowhere"
providers:
  - name: a
    type: anthropic
    keys:
      - key: "\${UNSET_VAR_FOR_TEST}"
        rpm_limt: 5
        tpm_limit: -1
  - name: a
    type: nosuchtype
routing: { strategy: fastest }
`)
  const r = run(['config', 'validate', file], { UNSET_VAR_FOR_TEST: '' })
  t.equal(r.status, 1)
  t.match(r.stderr, /server\.listen: .*\(line 2\)/)
  t.match(r.stderr, /providers\[0\]\.keys\[0\]\.rpm_limt: unknown key "rpm_limt" \(line 8\)/)
  t.match(r.stderr, /providers\[0\]\.keys\[0\]\.tpm_limit: must be ≥ 0 \(line 9\)/)
  t.match(r.stderr, /providers\[1\]\.name: .*duplicate|providers\[1\]\.name: .*unique|name "a"/)
  t.match(r.stderr, /providers\[1\]\.type: unknown provider type "nosuchtype"/)
  t.match(r.stderr, /routing\.strategy: must be one of/)
})

t.test('config validate: an unset ${VAR} without default names the variable', async (t) => {
  const file = writeConfig('providers:\n  - name: a\n    type: anthropic\n    keys: [{ key: "${CC_RELAY_TEST_MISSING}" }]\n')
  const env = { ...process.env }
  delete env.CC_RELAY_TEST_MISSING
  const r = spawnSync(process.execPath, [BIN, 'config', 'validate', file], { encoding: 'utf8', env })
  t.equal(r.status, 1)
  t.match(r.stderr, /providers\[0\]\.keys\[0\]\.key: .*CC_RELAY_TEST_MISSING/)
})

t.test('usage errors exit 2', async (t) => {
  t.equal(run(['config', 'validate', 'a.yaml', '--config', 'b.yaml']).status, 2)
  t.equal(run(['serve', '--bogus']).status, 2)
  t.equal(run(['frobnicate']).status, 2)
})

t.test('serve: an invalid config exits 1 and says why', async (t) => {
  const file = writeConfig('providers: []\n')
  const r = run(['serve', '--config', file])
  t.equal(r.status, 1)
  t.match(r.stderr, /invalid config/)
})

t.test('serve: a port in use exits 1', async (t) => {
  const server = createServer().listen(0, '127.0.0.1')
  await new Promise((r) => server.once('listening', r))
  const port = (server.address() as AddressInfo).port
  const file = writeConfig('providers: [{ name: a, type: anthropic }]\n')
  const child = spawn(process.execPath, [BIN, 'serve', '--config', file, '--listen', `127.0.0.1:${port}`], { stdio: 'pipe' })
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  const code = await new Promise((r) => child.on('exit', r))
  server.close()
  t.equal(code, 1)
  t.match(out, /cannot listen on 127\.0\.0\.1:\d+/)
})

t.test('serve with no config file uses the embedded default; SIGTERM exits 0', async (t) => {
  const empty = mkdtempSync(join(tmpdir(), 'cc-relay-home-'))
  // No ./cc-relay.yaml in cwd and no ~/.config/cc-relay/config.yaml under HOME.
  const child = spawn(process.execPath, [BIN, 'serve', '--listen', '127.0.0.1:0'], { cwd: empty, env: { ...process.env, HOME: empty }, stdio: 'pipe' })
  let out = ''
  const listening = new Promise<string>((resolve) =>
    child.stdout.on('data', (d) => {
      out += d
      const m = /"url":"([^"]+)".*"msg":"listening"/.exec(out)
      if (m) resolve(m[1]!)
    }),
  )
  const url = await listening
  t.match(out, /"config":"\(embedded default\)"/)
  t.match(out, /"providers":\["anthropic \(anthropic\)"\]/)
  const health = await fetch(`${url}/health`)
  t.same(await health.json(), { status: 'ok' })
  child.kill('SIGTERM')
  t.equal(await new Promise((r) => child.on('exit', r)), 0)
})

t.test('serve finds ./cc-relay.yaml in the working directory', async (t) => {
  const file = writeConfig('logging: { level: info, format: json }\nproviders: [{ name: from-cwd, type: anthropic }]\n')
  const dir = join(file, '..')
  const child = spawn(process.execPath, [BIN, 'serve', '--listen', '127.0.0.1:0'], { cwd: dir, stdio: 'pipe' })
  let out = ''
  await new Promise<void>((resolve) => child.stdout.on('data', (d) => ((out += d), /listening/.test(out) && resolve())))
  t.match(out, /from-cwd \(anthropic\)/)
  child.kill('SIGTERM')
  await new Promise((r) => child.on('exit', r))
})

t.test('--listen overrides server.listen; env expansion reaches the running relay', async (t) => {
  const relay = await startRelay('logging: { level: "${CC_RELAY_TEST_LEVEL:-info}" }\nproviders: [{ name: "${CC_RELAY_TEST_NAME}", type: anthropic }]\n', {
    env: { CC_RELAY_TEST_NAME: 'named-by-env' },
  })
  t.match(relay.url, /^http:\/\/127\.0\.0\.1:\d+$/)
  const line = await relay.waitForLog((l) => l.msg === 'listening')
  t.same(line.providers, ['named-by-env (anthropic)'])
  t.equal(await relay.stop(), 0)
})

t.test('config init writes a commented starter that validates, and never overwrites', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cc-relay-init-'))
  const file = join(dir, 'cc-relay.yaml')
  t.equal(run(['config', 'init', '--output', file]).status, 0)
  const check = run(['config', 'validate', file])
  t.equal(check.status, 0, check.stderr)
  t.equal(run(['config', 'init', '--output', file]).status, 1, 'an existing file is left alone')
  t.match(run(['config', 'init']).stdout, /^# cc-relay configuration/, 'without --output it prints')
})

t.test("the starter's team example (allow_ips, a group, a client in it) validates once uncommented", async (t) => {
  const starter = run(['config', 'init']).stdout
  const team = starter.split('\n').filter((l) => /^    # (allow_ips:|groups:|clients:|  - \{ name)/.test(l)).map((l) => l.replace(/^    # ?/, '    '))
  t.equal(team.length, 5, 'allow_ips, groups and a group, clients and a client')
  const file = writeConfig(`server:\n  auth:\n${team.join('\n')}\nproviders:\n  - { name: anthropic, type: anthropic }\n`)
  const check = spawnSync(process.execPath, [BIN, 'config', 'validate', file], { encoding: 'utf8', env: { ...process.env, ALICE_RELAY_KEY: 'k' }, timeout: 20_000 })
  t.equal(check.status, 0, check.stderr)
})

t.test("the starter's four example rules validate once uncommented, with the providers they name", async (t) => {
  const starter = run(['config', 'init']).stdout
  const rules = starter.split('\n').filter((l) => /^  #( rules:|   [ -] )/.test(l)).map((l) => l.replace(/^  # ?/, '  '))
  t.equal(rules.filter((l) => l.includes('- name:')).length, 4, 'background, long context, thinking, web search')
  const file = writeConfig(`providers:
  - { name: anthropic, type: anthropic }
  - { name: ollama, type: ollama }
  - { name: deepseek, type: openai, base_url: "https://api.deepseek.com/v1", keys: [{ key: k }] }
routing:
${rules.join('\n')}
`)
  const check = run(['config', 'validate', file])
  t.equal(check.status, 0, check.stderr)
})

t.test('config validate warns when budgets meet models without a price (valid all the same)', async (t) => {
  const file = writeConfig(`server:
  auth: { clients: [{ name: alice, key: k, budget: { usd: 10, period: month } }] }
providers:
  - { name: local, type: ollama, models: ["qwen3-coder:30b"] }
  - { name: main, type: anthropic, model_mapping: { "claude-sonnet-*": "claude-sonnet-4-5-20250929" } }
`)
  const r = run(['config', 'validate', file])
  t.equal(r.status, 0, 'a warning, not an error')
  t.match(r.stderr, /warning: budgets \(alice\): these models have no price.*: qwen3-coder:30b$/m)
  t.notMatch(r.stderr, /claude-sonnet/, 'built-in prices count')
})

t.test('plugins lists every provider type with where it came from, plugin_dirs included', async (t) => {
  const plugins = join(import.meta.dirname, 'fixtures', 'plugins')
  const file = writeConfig(`plugin_dirs: ["${plugins}"]\nproviders: [{ name: a, type: anthropic }]\n`)
  const r = run(['plugins', '--config', file])
  t.equal(r.status, 0)
  for (const type of ['anthropic', 'azure', 'bedrock', 'ollama', 'openai', 'vertex', 'zai']) t.match(r.stdout, new RegExp(`^${type} +\\S+dist/plugins/${type}/index\\.js$`, 'm'))
  t.match(r.stdout, /^shouty +\S+test\/fixtures\/plugins\/shouty\/index\.mjs$/m)
})
