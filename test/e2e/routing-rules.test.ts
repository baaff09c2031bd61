/**
 * Routing rules (issue 15, CONTRACT §8) through the running relay, one mock upstream per provider: each
 * condition alone, first match wins, `use.model` reaches the upstream, failover stays inside a rule's
 * providers, affinity is kept per rule, a session moving between thinking families loses the other
 * family's thinking, a reload replaces the rules at once, `cc-relay route` agrees with the relay, and
 * the rule shows in the log, the metrics, /status.json and `x-cc-relay-rule`.
 */
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { MockUpstream } from '../helpers/mock-upstream.js'
import { OpenAiMock } from '../helpers/openai-mock.js'
import { run } from '../helpers/run.js'
import { BIN, startRelay } from '../helpers/relay.js'
import type { RunningRelay } from '../helpers/relay.js'
import type { StatusSnapshot } from '../../src/admin/status.js'

const NAMES = ['main', 'cheap', 'long', 'reason', 'search', 'vision', 'team', 'cli', 'broken', 'backup', 'rr1', 'rr2'] as const
type Name = (typeof NAMES)[number]

const mocks = new Map<Name, MockUpstream>()
const relays: RunningRelay[] = []
let openai: OpenAiMock
t.teardown(async () => {
  await Promise.all(relays.map((r) => r.stop()))
  await Promise.all([...mocks.values()].map((m) => m.close()))
  await openai?.close()
})

/** Every provider answers with its own name as the text, and the model it was asked for. */
async function startMocks(): Promise<void> {
  for (const name of NAMES) {
    const m = await new MockUpstream().start()
    m.handler = (_req, res, recorded) => {
      if (name === 'broken') return void res.writeHead(529, { 'content-type': 'application/json' }).end('{"type":"error","error":{"type":"overloaded_error","message":"broken is overloaded"}}')
      const model = (JSON.parse(recorded.body.toString()) as { model: string }).model
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 'msg_1', type: 'message', role: 'assistant', model, content: [{ type: 'text', text: name }], stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 3, output_tokens: 1 } }))
    }
    mocks.set(name, m)
  }
  openai = await new OpenAiMock().start()
}

const RULES = `
    - { name: background, when: { model: "claude-haiku-*" }, use: { providers: [cheap], model: small-model } }
    - { name: long-context, when: { min_input_tokens: 20000 }, use: { providers: [long] } }
    - { name: thinking, when: { thinking: true }, use: { providers: [reason] } }
    - { name: web-search, when: { tools: ["web_search*"] }, use: { providers: [search] } }
    - { name: vision, when: { images: true }, use: { providers: [vision] } }
    - { name: alice, when: { client: alice }, use: { providers: [team] } }
    - { name: cli, when: { headers: { "user-agent": "claude-cli/*" } }, use: { providers: [cli] } }
    - { name: spill, when: { model: "claude-spill" }, use: { providers: [broken, backup] } }
    - { name: only-broken, when: { model: "claude-only-broken" }, use: { providers: [broken] } }
    - { name: gpt, when: { model: "claude-gpt" }, use: { providers: [gpt], model: gpt-5-mini } }
    - { name: pair, when: { model: "claude-pair" }, use: { providers: [rr1, rr2] } }`

function configYaml(rules: string, strategy = 'failover'): string {
  const providers = NAMES.map((n) => `  - { name: ${n}, type: anthropic, base_url: "${mocks.get(n)!.url}", keys: [{ key: k-${n} }] }`).join('\n')
  return `server:
  auth:
    api_key: shared-key
    clients: [{ name: alice, key: alice-key }]
providers:
${providers}
  - { name: gpt, type: openai, base_url: "${openai.url}/v1", keys: [{ key: k-gpt }] }
routing:
  strategy: ${strategy}
  debug: true
  rules:${rules}
logging: { level: info, format: json }
`
}

interface Sent {
  model?: string
  thinking?: unknown
  tools?: unknown[]
  content?: unknown
  messages?: unknown[]
  key?: string
  headers?: Record<string, string>
}

const bodyOf = (s: Sent): string =>
  JSON.stringify({
    model: s.model ?? 'claude-opus-4-8',
    max_tokens: 64,
    ...(s.thinking ? { thinking: s.thinking } : {}),
    ...(s.tools ? { tools: s.tools } : {}),
    messages: s.messages ?? [{ role: 'user', content: s.content ?? 'hi' }],
  })

async function send(r: RunningRelay, s: Sent) {
  const res = await fetch(`${r.url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-cc-relay-key': s.key ?? 'shared-key', 'user-agent': 'test-client/1', ...s.headers },
    body: bodyOf(s),
    signal: AbortSignal.timeout(20_000),
  })
  const text = await res.text()
  return { status: res.status, provider: res.headers.get('x-cc-relay-provider'), rule: res.headers.get('x-cc-relay-rule'), text }
}

const IMAGE = { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } }
const WEB_SEARCH = { type: 'web_search_20250305', name: 'web_search', max_uses: 5 }
const GET_WEATHER = { name: 'get_weather', description: 'd', input_schema: { type: 'object', properties: {} } }
/** About 26,000 tokens by the relay's estimate (body bytes / 4). */
const LONG = 'lorem ipsum '.repeat(8_700)

/** Each case: what is sent, and the provider and rule that must serve it. */
const CASES: [what: string, sent: Sent, provider: string, rule: string | null][] = [
  ['no rule matches: the strategy over every provider', {}, 'main', null],
  ['model glob', { model: 'claude-haiku-4-5-20251001' }, 'cheap', 'background'],
  ['a ~26k-token body against min_input_tokens 20000', { content: LONG }, 'long', 'long-context'],
  ['a short body is under the threshold', { content: 'short' }, 'main', null],
  ['thinking adaptive', { thinking: { type: 'adaptive' } }, 'reason', 'thinking'],
  ['thinking enabled', { thinking: { type: 'enabled', budget_tokens: 1024 } }, 'reason', 'thinking'],
  ['thinking disabled is off', { thinking: { type: 'disabled' } }, 'main', null],
  ['a web_search_20250305 tool', { tools: [GET_WEATHER, WEB_SEARCH] }, 'search', 'web-search'],
  ['client tools only', { tools: [GET_WEATHER] }, 'main', null],
  ['an image block', { content: [IMAGE, { type: 'text', text: 'what is it?' }] }, 'vision', 'vision'],
  ['an image inside a tool result', { messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: [IMAGE] }] }] }, 'vision', 'vision'],
  ['the word "image" in text is no image', { content: [{ type: 'text', text: '"image"' }, { type: 'text', text: 'image' }] }, 'main', null],
  ['a team client', { key: 'alice-key' }, 'team', 'alice'],
  ['a header', { headers: { 'user-agent': 'claude-cli/2.1.328 (external, cli)' } }, 'cli', 'cli'],
  ['first match wins: haiku with thinking and a web search tool', { model: 'claude-haiku-4-5', thinking: { type: 'adaptive' }, tools: [WEB_SEARCH] }, 'cheap', 'background'],
]

let relay: RunningRelay

t.before(async () => {
  await startMocks()
  relay = await startRelay(configYaml(RULES))
  relays.push(relay)
})

t.test('each condition alone, and the first match wins', async (t) => {
  for (const [what, sent, provider, rule] of CASES) {
    const before = mocks.get(provider as Name)!.requests.length
    const got = await send(relay, sent)
    t.equal(got.status, 200, `${what}: 200`)
    t.equal(got.provider, provider, `${what}: served by ${provider}`)
    t.equal(JSON.parse(got.text).content[0].text, provider, `${what}: the answer is ${provider}'s`)
    t.equal(got.rule, rule, `${what}: x-cc-relay-rule ${rule ?? 'absent'}`)
    t.equal(mocks.get(provider as Name)!.requests.length, before + 1, `${what}: ${provider}'s upstream got it`)
  }
})

t.test("use.model reaches the upstream; without it, the client's model goes as it is", async (t) => {
  await send(relay, { model: 'claude-haiku-4-5' })
  t.equal(JSON.parse(mocks.get('cheap')!.last.body.toString()).model, 'small-model')
  await send(relay, { thinking: { type: 'adaptive' } })
  t.equal(JSON.parse(mocks.get('reason')!.last.body.toString()).model, 'claude-opus-4-8')
  const gpt = await send(relay, { model: 'claude-gpt' })
  t.equal(gpt.provider, 'gpt')
  t.equal(openai.last.body.model, 'gpt-5-mini', 'a translating provider gets the rule model too')
})

t.test("failover stays inside a rule's providers; when they all fail, the last answer verbatim", async (t) => {
  const mainBefore = mocks.get('main')!.requests.length
  const spill = await send(relay, { model: 'claude-spill' })
  t.equal(spill.provider, 'backup', 'broken (529) → backup, the next of the rule')
  t.equal(spill.rule, 'spill')
  const only = await send(relay, { model: 'claude-only-broken' })
  t.equal(only.status, 529, "the rule's only provider failed: its answer, not another provider's")
  t.match(only.text, /broken is overloaded/)
  t.equal(mocks.get('main')!.requests.length, mainBefore, 'nothing spilled to the other providers')
})

t.test('affinity is kept per rule: a background call does not pull the session off its provider', async (t) => {
  const session = { 'x-claude-code-session-id': 'sess-rules-1' }
  t.equal((await send(relay, { headers: session })).provider, 'main')
  t.equal((await send(relay, { headers: session, model: 'claude-haiku-4-5' })).provider, 'cheap', 'the background turn moves to its rule')
  t.equal((await send(relay, { headers: session })).provider, 'main', 'the next main turn is back on main')
})

t.test('a session moving from the openai family to anthropic by rule loses the openai thinking', async (t) => {
  const session = { 'x-claude-code-session-id': 'sess-rules-family' }
  openai.script = [{ reasoning: 'openai reasoning', text: 'First answer.' }]
  const first = await send(relay, { headers: session, model: 'claude-gpt' })
  t.equal(first.provider, 'gpt')
  const content = JSON.parse(first.text).content
  t.match(content, [{ type: 'thinking', thinking: 'openai reasoning' }, { type: 'text' }])
  const messages = [{ role: 'user', content: 'hi' }, { role: 'assistant', content }, { role: 'user', content: 'and again' }]
  const second = await send(relay, { headers: session, messages })
  t.equal(second.provider, 'main', 'no rule: main')
  const sent = mocks.get('main')!.last.body.toString()
  t.notOk(sent.includes('openai reasoning'), 'no openai thinking reaches the anthropic provider')
  t.match(sent, /First answer\./, 'the text of the turn is kept')
})

t.test('the rule is on the log line, in the metrics and in /status.json', async (t) => {
  await send(relay, { model: 'claude-haiku-4-5' })
  const line = await relay.waitForLog((l) => l.msg === 'request' && l.rule === 'background')
  t.equal(line.provider, 'cheap')
  const plain = await relay.waitForLog((l) => l.msg === 'request' && l.provider === 'main')
  t.notOk('rule' in plain, 'a request no rule matched has no rule on its line')
  const metrics = await (await fetch(`${relay.url}/metrics`)).text()
  t.match(metrics, /cc_relay_requests_total\{[^}]*rule="background"[^}]*\} [1-9]/)
  const status = (await (await fetch(`${relay.url}/status.json`)).json()) as StatusSnapshot
  t.same(status.rules.map((r) => r.name), ['background', 'long-context', 'thinking', 'web-search', 'vision', 'alice', 'cli', 'spill', 'only-broken', 'gpt', 'pair'])
  // Every request cheap has served came through the background rule (log lines are written in batches).
  const served = mocks.get('cheap')!.requests.length
  t.same(status.rules[0], { name: 'background', providers: ['cheap'], model: 'small-model', hits: served }, 'hits per rule')
  const cli = await run(process.execPath, [BIN, 'status', '--url', relay.url])
  t.equal(cli.status, 0, cli.stderr)
  t.match(cli.stdout, new RegExp(`routing rules \\(first match wins\\):\\n  background  → cheap as small-model  ${served} hits?`), 'cc-relay status lists the rules with their hits')
  t.equal(status.rules.find((r) => r.name === 'spill')?.hits, 1, 'one request matched spill')
})

t.test('cc-relay route says what the relay does', async (t) => {
  const dir = dirname(relay.configFile)
  for (const [what, sent, provider, rule] of CASES) {
    const file = join(dir, 'body.json')
    writeFileSync(file, bodyOf(sent))
    const args = [BIN, 'route', file, '--config', relay.configFile, '--json']
    if (sent.key === 'alice-key') args.push('--client', 'alice')
    for (const [name, value] of Object.entries(sent.headers ?? {})) args.push('--header', `${name}: ${value}`)
    const r = await run(process.execPath, args)
    t.equal(r.status, 0, `${what}: exit 0 ${r.stderr}`)
    const out = JSON.parse(r.stdout) as { rule: string | null; candidates: { provider: string; upstream_model: string }[] }
    t.equal(out.rule, rule, `${what}: the same rule`)
    t.equal(out.candidates[0]?.provider, provider, `${what}: the same first provider`)
  }
  const text = await run(process.execPath, [BIN, 'route', '-', '--config', relay.configFile], { input: bodyOf({ model: 'claude-haiku-4-5' }) })
  t.equal(text.status, 0)
  t.match(text.stdout, /rule\s+background/)
  t.match(text.stdout, /1\. cheap → small-model/)
  const bad = await run(process.execPath, [BIN, 'route', '-', '--config', relay.configFile], { input: '{"model": 1}' })
  t.equal(bad.status, 1, 'an invalid body exits 1')
  t.match(bad.stderr, /model/)
})

t.test('affinity holds inside a rule with several providers (round_robin)', async (t) => {
  const rr = await startRelay(configYaml(RULES, 'round_robin'))
  relays.push(rr)
  const session = { 'x-claude-code-session-id': 'sess-rules-rr' }
  const first = (await send(rr, { model: 'claude-pair', headers: session })).provider
  t.ok(first === 'rr1' || first === 'rr2')
  for (let i = 0; i < 3; i++) t.equal((await send(rr, { model: 'claude-pair', headers: session })).provider, first, 'the session stays')
  const others = new Set<string | null>()
  for (let i = 0; i < 4; i++) others.add((await send(rr, { model: 'claude-pair' })).provider)
  t.same([...others].sort(), ['rr1', 'rr2'], 'without a session the strategy rotates within the rule')
})

t.test('a reload removes a rule and traffic moves at once', async (t) => {
  t.equal((await send(relay, { model: 'claude-haiku-4-5' })).provider, 'cheap')
  const reloads = relay.logs.filter((l) => String(l.msg).startsWith('config reload')).length
  writeFileSync(relay.configFile, configYaml(RULES.split('\n').filter((l) => !l.includes('name: background')).join('\n')))
  await relay.waitForLog(() => relay.logs.filter((l) => String(l.msg).startsWith('config reload')).length > reloads)
  const after = await send(relay, { model: 'claude-haiku-4-5' })
  t.equal(after.provider, 'main', 'the haiku call goes to the strategy now')
  t.equal(after.rule, null)
  const status = (await (await fetch(`${relay.url}/status.json`)).json()) as StatusSnapshot
  t.notOk(status.rules.some((r) => r.name === 'background'), 'the rule is gone from the status')
})
