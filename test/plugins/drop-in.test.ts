/**
 * "Adding a folder and restarting is all it takes": the plugin examples of plugins/README.md are copied
 * from the README itself into a temp folder, `plugin_dirs` points there, and the relay serves requests
 * through them — so the README's few-line MiniMax provider is a tested, working example.
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse, stringify } from 'yaml'
import { MockUpstream } from '../helpers/mock-upstream.js'
import { BIN, startRelay, writeConfig } from '../helpers/relay.js'
import type { RunningRelay } from '../helpers/relay.js'
import { claudeCodeBody } from '../fixtures/anthropic.js'
import { errorOf, post, requestLog } from '../helpers/shaping-client.js'

interface Example {
  readonly type: string
  readonly js: string
  readonly yaml: string
}

/** Each ```js block introduced (in the prose before it) by `plugins/<type>/index.mjs`, with the ```yaml block after it. */
function readmeExamples(): Example[] {
  const text = readFileSync(join(import.meta.dirname, '..', '..', 'plugins', 'README.md'), 'utf8')
  const blocks = [...text.matchAll(/^```(\w+)\n([^]*?)\n```$/gm)]
  const examples: Example[] = []
  blocks.forEach((block, i) => {
    const previousEnd = i === 0 ? 0 : blocks[i - 1]!.index! + blocks[i - 1]![0].length
    const prose = text.slice(previousEnd, block.index)
    const named = [...prose.matchAll(/`plugins\/([a-z][a-z0-9_-]*)\/index\.mjs`/g)].at(-1)
    const next = blocks[i + 1]
    if (block[1] === 'js' && named && next?.[1] === 'yaml') examples.push({ type: named[1]!, js: block[2]!, yaml: next[2]! })
  })
  return examples
}

const examples = readmeExamples()
const example = (type: string): Example => {
  const found = examples.find((e) => e.type === type)
  if (!found) throw new Error(`plugins/README.md has no ${type} example (found: ${examples.map((e) => e.type).join(', ')})`)
  return found
}

/** The README's YAML with `plugin_dirs` made absolute and each provider pointed at the mock. */
function configFrom(yaml: string, pluginDir: string, baseUrl: string): string {
  const config = parse(yaml) as { plugin_dirs?: string[]; providers: Record<string, unknown>[] }
  config.plugin_dirs = [pluginDir]
  for (const p of config.providers) p.base_url = baseUrl
  return `logging: { level: info, format: json }\n${stringify(config)}`
}

function validate(yaml: string, env: NodeJS.ProcessEnv) {
  const run = spawnSync(process.execPath, [BIN, 'config', 'validate', writeConfig(yaml)], { encoding: 'utf8', env: { ...process.env, ...env } })
  return { status: run.status, output: run.stdout + run.stderr }
}

const upstream = await new MockUpstream().start()
upstream.handler = (_req, res) =>
  res.writeHead(200, { 'content-type': 'application/json' }).end('{"id":"msg_mm","type":"message","role":"assistant","model":"MiniMax-M2.7","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":1}}')
const relays: RunningRelay[] = []
t.teardown(async () => {
  await Promise.all(relays.map((r) => r.stop()))
  await upstream.close()
})
const ENV = { MINIMAX_API_KEY: 'mm-key-42', ACME_KEY: 'acme-key-7' }

t.test('the README has the few-line MiniMax example and the ACME example', async (t) => {
  t.ok(example('minimax').js.split('\n').length <= 16, 'a new Anthropic-compatible provider is a few lines')
  t.ok(example('acme'))
})

t.test('adding a folder and restarting is all it takes (the README MiniMax plugin)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cc-relay-dropin-'))
  const plugins = join(dir, 'my-plugins')
  mkdirSync(plugins)
  const yaml = configFrom(example('minimax').yaml, plugins, upstream.url)

  const before = validate(yaml, ENV)
  t.equal(before.status, 1, 'without the folder the type is unknown')
  t.match(before.output, /unknown provider type "minimax"/)

  mkdirSync(join(plugins, 'minimax'))
  writeFileSync(join(plugins, 'minimax', 'index.mjs'), example('minimax').js)
  t.equal(validate(yaml, ENV).status, 0, 'with it, the config validates')

  const relay = await startRelay(yaml, { env: ENV })
  relays.push(relay)
  const body = claudeCodeBody('claude-sonnet-4-5', false)
  const res = await post(relay, body, { 'x-api-key': 'sk-ant-api03-client', authorization: 'Bearer sk-ant-oat01-client' })
  t.equal(res.status, 200)
  t.match(res.text, /"msg_mm"/)
  const sent = upstream.last
  t.equal(sent.url, '/v1/messages')
  t.equal(sent.body.toString(), body.replace('"claude-sonnet-4-5"', '"MiniMax-M2.7"'), 'the body byte for byte, the mapped model only')
  t.equal(sent.headers['x-api-key'], 'mm-key-42')
  t.equal(sent.headers.authorization, 'Bearer mm-key-42')
  t.notMatch(JSON.stringify(sent.headers), /sk-ant-/, "the client's Anthropic credentials stay at the relay")

  // A plugin_dirs entry may also be the plugin folder itself.
  const direct = await startRelay(configFrom(example('minimax').yaml, join(plugins, 'minimax'), upstream.url), { env: ENV })
  relays.push(direct)
  t.equal((await post(direct, '{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[]}')).status, 200)
  t.equal(upstream.last.body.toString(), '{"model":"MiniMax-M2.7","max_tokens":5,"messages":[]}')
})

t.test('the README ACME plugin: its own option, a body edit with a note, an error mapper', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cc-relay-dropin-'))
  mkdirSync(join(dir, 'acme'))
  writeFileSync(join(dir, 'acme', 'index.mjs'), example('acme').js)
  const yaml = configFrom(example('acme').yaml, dir, upstream.url)

  const missing = validate(yaml.replace(/\s*acme_tenant: .*\n/, '\n'), ENV)
  t.equal(missing.status, 1)
  t.match(missing.output, /providers\[0\]\.acme_tenant: is required/, "the plugin's options schema is enforced")

  const relay = await startRelay(yaml, { env: ENV })
  relays.push(relay)
  const res = await post(relay, '{"model":"acme-large","max_tokens":5,"metadata":{"user_id":"{\\"session_id\\":\\"s\\"}"},"messages":[]}')
  t.equal(res.status, 200)
  t.equal(upstream.last.body.toString(), '{"model":"acme-large","max_tokens":5,"messages":[]}')
  t.equal(upstream.last.headers['x-acme-tenant'], 'team-42')
  t.equal(upstream.last.headers.authorization, 'Bearer acme-key-7')
  t.same((await requestLog(relay, res.requestId)).shaped, ['removed metadata: ACME rejects a JSON user_id'])

  const original = upstream.handler
  upstream.handler = (_req, r) => r.writeHead(418, { 'content-type': 'text/plain' }).end('I am a teapot')
  const mapped = await post(relay, '{"model":"acme-large","max_tokens":5,"messages":[]}')
  upstream.handler = original
  t.equal(mapped.status, 400)
  t.same(errorOf(mapped.text), { type: 'invalid_request_error', message: 'I am a teapot' })
})
