/**
 * `cc-relay claude-code setup` as users run it: the compiled CLI editing a settings.json under a
 * temp HOME (or CLAUDE_CONFIG_DIR), checked the way Claude Code reads it back.
 */
import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BIN, writeConfig } from './helpers/relay.js'

type Json = Record<string, unknown>

/** A long key, so a masked tail (last 4 characters) can never be mistaken for the key itself. */
const RELAY_KEY = 'relay-key-0123456789-abcdefghij-WXYZ'

interface Sandbox {
  readonly home: string
  readonly settings: string
}

function sandbox(): Sandbox {
  const home = mkdtempSync(join(tmpdir(), 'cc-relay-claude-'))
  return { home, settings: join(home, '.claude', 'settings.json') }
}

/** Runs in the sandbox HOME and cwd, so no real ~/.claude or stray ./cc-relay.yaml is ever read. */
function setup(box: Sandbox, args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [BIN, 'claude-code', 'setup', ...args], {
    encoding: 'utf8',
    cwd: box.home,
    env: { ...process.env, HOME: box.home, CLAUDE_CONFIG_DIR: '', ...env },
  })
}

function writeSettings(box: Sandbox, text: string): void {
  mkdirSync(join(box.home, '.claude'), { recursive: true })
  writeFileSync(box.settings, text)
}

const readJson = (file: string): Json => JSON.parse(readFileSync(file, 'utf8')) as Json
const envOf = (settings: Json): Json => settings['env'] as Json

/** The relay checks that a TLS pair parses and matches, so the https case needs a real one. */
function selfSignedCert(): { certFile: string; keyFile: string } {
  const dir = mkdtempSync(join(tmpdir(), 'cc-relay-tls-'))
  const keyFile = join(dir, 'key.pem')
  const certFile = join(dir, 'cert.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' })
  return { certFile, keyFile }
}

const configWith = (server: string) => writeConfig(`server:\n${server}\nproviders:\n  - name: a\n    type: anthropic\n`)

/** What a user already has: other settings, other env vars, a login token and their own headers. */
const EXISTING: Json = {
  model: 'opus',
  permissions: { allow: ['Bash(npm test)'], deny: [] },
  hooks: { PostToolUse: [{ matcher: 'Edit', hooks: [{ type: 'command', command: 'npx prettier --write' }] }] },
  apiKeyHelper: '~/bin/key.sh',
  env: {
    ANTHROPIC_AUTH_TOKEN: 'sk-ant-oat01-subscription-token',
    DISABLE_TELEMETRY: '1',
    ANTHROPIC_CUSTOM_HEADERS: 'X-Team: infra\nX-Trace: on',
  },
}

t.test('a fresh settings.json is created, 0600, pointing at the embedded default relay', async (t) => {
  const box = sandbox()
  const r = setup(box, [])
  t.equal(r.status, 0, r.stderr)
  t.same(readJson(box.settings), { env: { ANTHROPIC_BASE_URL: 'http://127.0.0.1:8787' } })
  t.equal(statSync(box.settings).mode & 0o777, 0o600)
  t.ok(readFileSync(box.settings, 'utf8').endsWith('}\n'), 'trailing newline')
  t.notOk(existsSync(`${box.settings}.bak`), 'nothing to back up')
  t.match(r.stdout, /created/)
  t.match(r.stdout, /ANTHROPIC_BASE_URL = http:\/\/127\.0\.0\.1:8787/)
})

t.test('existing settings keep every other key, env var, login and header line', async (t) => {
  const box = sandbox()
  writeSettings(box, JSON.stringify(EXISTING))
  const config = configWith(`  listen: "127.0.0.1:9100"\n  auth:\n    api_key: "${RELAY_KEY}"\n    allow_subscription: true`)
  const r = setup(box, ['--config', config])
  t.equal(r.status, 0, r.stderr)
  const after = readJson(box.settings)
  const env = envOf(after)
  t.same({ ...after, env: undefined }, { ...EXISTING, env: undefined }, 'other top-level keys untouched')
  t.equal(env['ANTHROPIC_AUTH_TOKEN'], 'sk-ant-oat01-subscription-token')
  t.equal(env['DISABLE_TELEMETRY'], '1')
  t.equal(env['ANTHROPIC_BASE_URL'], 'http://127.0.0.1:9100')
  t.equal(typeof env['ANTHROPIC_CUSTOM_HEADERS'], 'string', 'Claude Code reads the header list as one string')
  t.equal(env['ANTHROPIC_CUSTOM_HEADERS'], `X-Team: infra\nX-Trace: on\nx-cc-relay-key: ${RELAY_KEY}`)
  t.match(r.stdout, /note: env\.ANTHROPIC_AUTH_TOKEN is set/)
  t.notMatch(r.stdout, /apiKeyHelper/)
})

t.test('a key from server.auth.api_key is written; the key never appears in the output', async (t) => {
  const box = sandbox()
  const config = configWith(`  auth:\n    api_key: "${RELAY_KEY}"`)
  const r = setup(box, ['--config', config])
  t.equal(r.status, 0, r.stderr)
  t.equal(envOf(readJson(box.settings))['ANTHROPIC_CUSTOM_HEADERS'], `x-cc-relay-key: ${RELAY_KEY}`)
  t.match(r.stdout, /x-cc-relay-key: \*\*\*\*WXYZ/)
  t.notMatch(r.stdout + r.stderr, RELAY_KEY.slice(0, 12))
})

t.test('--key wins over the config and replaces an old key line in place, whatever its case', async (t) => {
  const box = sandbox()
  writeSettings(box, JSON.stringify({ env: { ANTHROPIC_CUSTOM_HEADERS: 'X-A: 1\nX-CC-Relay-Key: old-key\nX-B: 2' } }))
  const config = configWith('  auth:\n    api_key: "config-key-not-this-one"')
  const r = setup(box, ['--config', config, '--key', RELAY_KEY])
  t.equal(r.status, 0, r.stderr)
  t.equal(envOf(readJson(box.settings))['ANTHROPIC_CUSTOM_HEADERS'], `X-A: 1\nx-cc-relay-key: ${RELAY_KEY}\nX-B: 2`)
  t.notMatch(r.stdout + r.stderr, RELAY_KEY.slice(0, 12))
  t.notMatch(r.stdout + r.stderr, /old-key/)
})

t.test('named client keys without --key: exit 1 asking for the user\'s own key, nothing written', async (t) => {
  const box = sandbox()
  const config = configWith('  auth:\n    clients:\n      - name: alice\n        key: "alice-key-1234567890"')
  const r = setup(box, ['--config', config])
  t.equal(r.status, 1)
  t.match(r.stderr, /--key/)
  t.notMatch(r.stderr, /alice-key/)
  t.notOk(existsSync(box.settings))
  t.equal(setup(box, ['--config', config, '--key', RELAY_KEY]).status, 0, 'with --key it works')
})

t.test('a relay that needs no key drops a stale key line and keeps the others', async (t) => {
  const box = sandbox()
  writeSettings(box, JSON.stringify({ env: { ANTHROPIC_CUSTOM_HEADERS: 'X-A: 1\nx-cc-relay-key: stale' } }))
  const r = setup(box, [])
  t.equal(r.status, 0, r.stderr)
  t.same(envOf(readJson(box.settings)), { ANTHROPIC_CUSTOM_HEADERS: 'X-A: 1', ANTHROPIC_BASE_URL: 'http://127.0.0.1:8787' })
})

t.test('the URL follows server.listen: tls → https, wildcard hosts → loopback', async (t) => {
  const tls = selfSignedCert()
  const cases: [string, string][] = [
    ['  listen: "0.0.0.0:9001"', 'http://127.0.0.1:9001'],
    ['  listen: "[::]:9002"', 'http://[::1]:9002'],
    ['  listen: "relay.internal:9003"', 'http://relay.internal:9003'],
    [`  listen: "127.0.0.1:9443"\n  tls: { cert_file: "${tls.certFile}", key_file: "${tls.keyFile}" }`, 'https://127.0.0.1:9443'],
  ]
  for (const [server, url] of cases) {
    const box = sandbox()
    const r = setup(box, ['--config', configWith(server)])
    t.equal(r.status, 0, r.stderr)
    t.equal(envOf(readJson(box.settings))['ANTHROPIC_BASE_URL'], url, server)
  }
})

t.test('--url is used as given (trailing slash dropped) and must be http(s)', async (t) => {
  const box = sandbox()
  t.equal(setup(box, ['--url', 'https://relay.example.com:8443/']).status, 0)
  t.equal(envOf(readJson(box.settings))['ANTHROPIC_BASE_URL'], 'https://relay.example.com:8443')
  for (const bad of ['ftp://relay.example.com', 'not a url']) {
    const r = setup(box, ['--url', bad])
    t.equal(r.status, 2, bad)
    t.match(r.stderr, /--url/)
  }
})

t.test('an invalid config exits 1 with its message', async (t) => {
  const box = sandbox()
  const r = setup(box, ['--config', writeConfig('server:\n  listen: "nowhere"\nproviders: []\n')])
  t.equal(r.status, 1)
  t.match(r.stderr, /server\.listen/)
  t.notOk(existsSync(box.settings))
})

t.test('running setup twice gives the same file, and the second run writes nothing', async (t) => {
  const box = sandbox()
  writeSettings(box, JSON.stringify(EXISTING))
  const args = ['--key', RELAY_KEY]
  t.equal(setup(box, args).status, 0)
  const first = readFileSync(box.settings, 'utf8')
  const r = setup(box, args)
  t.equal(r.status, 0)
  t.equal(readFileSync(box.settings, 'utf8'), first)
  t.match(r.stdout, /nothing changed/)
  t.same(readJson(`${box.settings}.bak`), EXISTING, 'the backup still holds the user\'s own version')
})

t.test('--remove restores the original settings exactly; again: "nothing to remove"', async (t) => {
  for (const original of [EXISTING, {}, { model: 'sonnet' }]) {
    const box = sandbox()
    writeSettings(box, JSON.stringify(original))
    t.equal(setup(box, ['--key', RELAY_KEY]).status, 0)
    const r = setup(box, ['--remove'])
    t.equal(r.status, 0, r.stderr)
    t.same(readJson(box.settings), original)
    t.notMatch(r.stdout + r.stderr, RELAY_KEY.slice(0, 12))
    const again = setup(box, ['--remove'])
    t.equal(again.status, 0)
    t.match(again.stdout, /nothing to remove/)
  }
})

t.test('--remove with no settings file at all exits 0 and creates nothing', async (t) => {
  const box = sandbox()
  const r = setup(box, ['--remove'])
  t.equal(r.status, 0, r.stderr)
  t.match(r.stdout, /nothing to remove/)
  t.notOk(existsSync(box.settings))
})

t.test('a settings.json that is not valid JSON is refused and left untouched', async (t) => {
  for (const text of ['{ "model": "opus", }', '[1, 2]']) {
    const box = sandbox()
    writeSettings(box, text)
    const r = setup(box, ['--key', RELAY_KEY])
    t.equal(r.status, 1, text)
    t.match(r.stderr, /settings\.json/)
    t.equal(readFileSync(box.settings, 'utf8'), text)
    t.notOk(existsSync(`${box.settings}.bak`))
  }
})

t.test('CLAUDE_CONFIG_DIR moves the settings file', async (t) => {
  const box = sandbox()
  const dir = join(box.home, 'elsewhere')
  const r = setup(box, [], { CLAUDE_CONFIG_DIR: dir })
  t.equal(r.status, 0, r.stderr)
  t.same(readJson(join(dir, 'settings.json')), { env: { ANTHROPIC_BASE_URL: 'http://127.0.0.1:8787' } })
  t.notOk(existsSync(box.settings), '~/.claude untouched')
})

t.test('changing an existing file writes settings.json.bak first and says so', async (t) => {
  const box = sandbox()
  const original = `${JSON.stringify({ model: 'opus' }, null, 4)}\n`
  writeSettings(box, original)
  writeFileSync(`${box.settings}.bak`, 'an older backup')
  const r = setup(box, ['--url', 'http://127.0.0.1:9999'])
  t.equal(r.status, 0, r.stderr)
  t.equal(readFileSync(`${box.settings}.bak`, 'utf8'), original, 'byte for byte, overwriting the older backup')
  t.match(r.stdout, /settings\.json\.bak/)
  t.equal(readFileSync(box.settings, 'utf8'), `${JSON.stringify({ model: 'opus', env: { ANTHROPIC_BASE_URL: 'http://127.0.0.1:9999' } }, null, 2)}\n`)
})

t.test('an empty settings.json counts as no settings; --remove with --url or --key is a usage error', async (t) => {
  const box = sandbox()
  writeSettings(box, '\n')
  t.equal(setup(box, []).status, 0)
  t.same(readJson(box.settings), { env: { ANTHROPIC_BASE_URL: 'http://127.0.0.1:8787' } })
  t.equal(setup(box, ['--remove', '--url', 'http://127.0.0.1:1']).status, 2)
  t.equal(setup(box, ['--remove', '--key', RELAY_KEY]).status, 2)
  t.same(readJson(box.settings), { env: { ANTHROPIC_BASE_URL: 'http://127.0.0.1:8787' } }, 'left as it was')
})

t.test('--model-discovery also sets CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY; --remove takes it away again', async (t) => {
  const box = sandbox()
  writeSettings(box, JSON.stringify(EXISTING))
  const r = setup(box, ['--url', 'http://127.0.0.1:8787', '--model-discovery'])
  t.equal(r.status, 0, r.stderr)
  t.equal(envOf(readJson(box.settings))['CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY'], '1')
  t.match(r.stdout, /CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY = 1/)
  const removed = setup(box, ['--remove'])
  t.equal(removed.status, 0, removed.stderr)
  t.same(readJson(box.settings), EXISTING, 'the original settings, exactly')
  t.equal(setup(box, ['--remove', '--model-discovery']).status, 2, 'a usage error with --remove')
})
