/**
 * Team policy through the running relay (issue 23, CONTRACT §10): which client may use which model,
 * decided once, before any lease. Allowed; refused by an allow list; refused by a deny list (a deny wins
 * over an allow pattern); a `claude-haiku-*` pattern; a client narrowing its group; `[1m]` models;
 * count_tokens; a routing rule that would send the model elsewhere (still refused); `/v1/models` per
 * client; a reload that grants a model; and where refusals show (metrics, the log line, status, `cc-relay
 * route`). A refused request sends nothing upstream and books nothing.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { writeFileSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { MockUpstream } from '../helpers/mock-upstream.js'
import { BIN, startRelay } from '../helpers/relay.js'
import type { RunningRelay } from '../helpers/relay.js'
import { until } from '../helpers/wait.js'
import type { StatusSnapshot } from '../../src/admin/status.js'

const OPUS = 'claude-opus-4-1'
const SONNET = 'claude-sonnet-4-5'
const HAIKU = 'claude-haiku-4-5'
const LEGACY = 'claude-sonnet-4-5-legacy'

const upstream = await new MockUpstream().start()
upstream.handler = (_req, res, recorded) => {
  if (recorded.url.startsWith('/v1/messages/count_tokens')) return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"input_tokens":42}')
  const model = (JSON.parse(recorded.body.toString()) as { model: string }).model
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 'msg_1', type: 'message', role: 'assistant', model, content: [{ type: 'text', text: `answered by ${model}` }], stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 10, output_tokens: 2 } }))
}
const local = await new MockUpstream().start()
local.handler = upstream.handler

const config = (internModels: string): string => `
logging: { level: info, format: json }
server:
  auth:
    groups:
      - { name: engineering }
      - { name: interns, models: [${internModels}], deny_models: ["${LEGACY}"] }
    clients:
      - { name: eve, key: eve-key, group: engineering }
      - { name: dan, key: dan-key, group: engineering, deny_models: ["claude-opus-*"] }
      - { name: ian, key: ian-key, group: interns }
      - { name: nat, key: nat-key, group: interns, models: ["claude-haiku-*"] }
      - { name: solo, key: solo-key }
providers:
  - name: main
    type: anthropic
    base_url: "${upstream.url}"
    keys: [{ key: pooled }]
    models: ["${OPUS}", "${SONNET}", "${HAIKU}", "${LEGACY}"]
  - name: local
    type: anthropic
    base_url: "${local.url}"
    keys: [{ key: local-key }]
    models: ["qwen3-coder"]
routing:
  rules:
    # Would send Opus to the local model: the policy is decided before any rule, so it cannot widen it.
    - { name: cheap-opus, when: { model: "claude-opus-*" }, use: { providers: [local], model: "qwen3-coder" } }
`
const INTERNS = `"claude-haiku-*", "claude-sonnet-*"`

let relay: RunningRelay
t.before(async () => {
  relay = await startRelay(config(INTERNS))
})
t.teardown(async () => {
  await relay.stop()
  await upstream.close()
  await local.close()
})

interface Answer {
  readonly status: number
  readonly type: string | undefined
  readonly message: string | undefined
  readonly model: string | undefined
}

async function ask(key: string, model: string, route = '/v1/messages'): Promise<Answer> {
  const res = await fetch(`${relay.url}${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-cc-relay-key': key },
    body: JSON.stringify({ model, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }),
    signal: AbortSignal.timeout(20_000),
  })
  const body = (await res.json()) as { model?: string; error?: { type: string; message: string } }
  return { status: res.status, type: body.error?.type, message: body.error?.message, model: body.model }
}

const sentUpstream = (): number => upstream.requests.length + local.requests.length

/**
 * The CLI, run without blocking this process's event loop: a blocked loop keeps fetch's idle keep-alive
 * sockets past the relay's idle timeout, and the next request meets a socket the relay has just closed.
 */
async function cli(args: readonly string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 20_000 })
    return { status: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string }
    return { status: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) }
  }
}

t.test('allowed, refused by the allow list, refused by a deny list, a pattern, a narrowing client', async (t) => {
  const before = sentUpstream()
  t.match(await ask('eve-key', OPUS), { status: 200, model: 'qwen3-coder' }, 'engineering allows every model (the rule routes Opus locally)')
  t.match(await ask('ian-key', HAIKU), { status: 200, model: HAIKU }, 'interns: claude-haiku-* allows haiku')
  t.match(await ask('ian-key', SONNET), { status: 200, model: SONNET }, 'interns: claude-sonnet-* allows sonnet')
  t.match(await ask('solo-key', OPUS), { status: 200 }, 'a client with no group and no lists: every model')
  t.equal(sentUpstream(), before + 4, 'the allowed ones went upstream')

  const refusedBefore = sentUpstream()
  const opus = await ask('ian-key', OPUS)
  t.same(opus, { status: 400, type: 'invalid_request_error', message: `model "${OPUS}" is not allowed for ian (group interns)`, model: undefined }, 'outside the allow list: 400 naming client, group and model')
  t.match(await ask('ian-key', LEGACY), { status: 400, message: `model "${LEGACY}" is not allowed for ian (group interns)` }, 'the deny list wins over claude-sonnet-*')
  t.match(await ask('nat-key', SONNET), { status: 400, message: `model "${SONNET}" is not allowed for nat (group interns)` }, 'nat narrows interns to haiku')
  t.match(await ask('nat-key', HAIKU), { status: 200 }, 'nat: haiku')
  t.match(await ask('dan-key', OPUS), { status: 400, message: `model "${OPUS}" is not allowed for dan (group engineering)` }, "dan's own deny wins over engineering's allow-all")
  t.match(await ask('dan-key', SONNET), { status: 200 }, 'dan: sonnet')
  t.equal(sentUpstream(), refusedBefore + 2, 'only the two allowed requests reached an upstream')
})

t.test('[1m] models are judged without the marker; count_tokens is refused the same way', async (t) => {
  t.match(await ask('ian-key', `${OPUS}[1m]`), { status: 400, message: `model "${OPUS}[1m]" is not allowed for ian (group interns)` })
  t.match(await ask('ian-key', `${SONNET}[1m]`), { status: 200, model: SONNET })
  const before = sentUpstream()
  t.match(await ask('ian-key', OPUS, '/v1/messages/count_tokens'), { status: 400, type: 'invalid_request_error', message: `model "${OPUS}" is not allowed for ian (group interns)` })
  t.equal(sentUpstream(), before, 'a refused count is not sent')
  const counted = await fetch(`${relay.url}/v1/messages/count_tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-cc-relay-key': 'ian-key' },
    body: JSON.stringify({ model: HAIKU, messages: [{ role: 'user', content: 'hi' }] }),
    signal: AbortSignal.timeout(20_000),
  })
  t.same(await counted.json(), { input_tokens: 42 }, 'an allowed count is answered by the upstream')
})

t.test('/v1/models lists to each client exactly what it may use', async (t) => {
  const models = async (key: string): Promise<string[]> => {
    const res = await fetch(`${relay.url}/v1/models?limit=100`, { headers: { 'x-cc-relay-key': key }, signal: AbortSignal.timeout(20_000) })
    t.equal(res.status, 200)
    return ((await res.json()) as { data: { id: string }[] }).data.map((m) => m.id).sort()
  }
  const every = [OPUS, SONNET, HAIKU, LEGACY, 'qwen3-coder'].sort()
  t.same(await models('eve-key'), every, 'engineering: everything served')
  t.same(await models('solo-key'), every, 'no group: everything served')
  t.same(await models('ian-key'), [HAIKU, SONNET], 'interns: haiku and sonnet, not the denied legacy one')
  t.same(await models('nat-key'), [HAIKU], 'nat: haiku only')
  t.same(await models('dan-key'), [HAIKU, SONNET, LEGACY, 'qwen3-coder'].sort(), 'dan: everything but opus')
  const one = await fetch(`${relay.url}/v1/models/${OPUS}`, { headers: { 'x-cc-relay-key': 'ian-key' }, signal: AbortSignal.timeout(20_000) })
  t.equal(one.status, 404, 'a model outside the policy is not found for that client')
  const unknownKey = await fetch(`${relay.url}/v1/models`, { headers: { 'x-cc-relay-key': 'nobody' }, signal: AbortSignal.timeout(20_000) })
  t.equal(unknownKey.status, 401)
})

t.test('refusals are counted by reason, named in the log line and not booked', async (t) => {
  const metrics = await (await fetch(`${relay.url}/metrics`)).text()
  const refused = Number(/^cc_relay_refused_total\{reason="model_policy"\} (\d+)$/m.exec(metrics)?.[1])
  t.equal(refused, 6, 'six policy refusals so far (four messages, a [1m] one, a count)')
  t.match(metrics, /^cc_relay_refused_total\{reason="budget"\} 0$/m, 'every reason has a series')
  const line = await relay.waitForLog((l) => l.msg === 'request' && l.refused === 'model_policy' && l.client === 'dan')
  t.match(line, { status: 400, error: 'model_not_allowed', group: 'engineering', model: OPUS })
  const usage = (await (await fetch(`${relay.url}/usage.json?by=client,model`)).json()) as { client: string; model: string; requests: number }[]
  t.notOk(usage.some((r) => r.client === 'ian' && r.model === OPUS), 'nothing booked for the refused requests')
  t.ok(usage.some((r) => r.client === 'ian' && r.model === HAIKU), 'the served ones are booked')
  const byGroup = (await (await fetch(`${relay.url}/usage.json?by=group`)).json()) as { group: string; requests: number }[]
  t.same(byGroup.map((r) => r.group).sort(), ['', 'engineering', 'interns'], 'usage by group: the groups that granted requests, and none for solo')
  const table = await cli(['usage', '--url', relay.url, '--by', 'group'])
  t.equal(table.status, 0, table.stderr)
  t.match(table.stdout, /^(client\s+)?group\s+requests\b/m, 'cc-relay usage --by group: a group column')
  // Five served requests, one of them a count_tokens call, which the ledger does not book (docs/operations.md).
  t.match(table.stdout, /\binterns\s+4\s/, "the interns' four booked requests")
  t.match(table.stdout, /\(no group\)\s+1\s/, "solo's request, booked to no group")
})

t.test('status shows groups, members and each client effective policy', async (t) => {
  const status = (await (await fetch(`${relay.url}/status.json`)).json()) as StatusSnapshot
  const interns = status.groups.find((g) => g.name === 'interns')!
  t.same(interns.members, ['ian', 'nat'])
  t.same(interns.allowed, [SONNET, HAIKU, 'claude-haiku-*', 'claude-sonnet-*'], 'what the group allows of the served names and the config patterns')
  t.equal(status.groups.find((g) => g.name === 'engineering')!.allowed, null, 'every model')
  const nat = status.clients.find((c) => c.name === 'nat')!
  t.equal(nat.group, 'interns')
  t.same(nat.policy, { models: ['claude-haiku-*'], deny_models: [], allowed: [HAIKU, 'claude-haiku-*'] })
  const status2 = await cli(['status', '--url', relay.url])
  t.equal(status2.status, 0, status2.stderr)
  t.match(status2.stdout, /interns/, 'cc-relay status names the groups')
  t.match(status2.stdout, /nat\b.*interns/, "and each client's group")
})

t.test('cc-relay route says when the policy refuses', async (t) => {
  const body = join(dirname(relay.configFile), 'opus.json')
  writeFileSync(body, JSON.stringify({ model: OPUS, max_tokens: 8, messages: [] }))
  const route = (client: string) => cli(['route', body, '--config', relay.configFile, '--client', client])
  const refused = await route('ian')
  t.equal(refused.status, 0, refused.stderr)
  t.match(refused.stdout, /refused: model "claude-opus-4-1" is not allowed for ian \(group interns\)/)
  const allowed = await route('eve')
  t.match(allowed.stdout, /allowed by group engineering/)
  t.match(allowed.stdout, /cheap-opus/, 'and the rule it would take')
})

t.test('a reload that grants a model applies to the next request', async (t) => {
  t.equal((await ask('ian-key', OPUS)).status, 400)
  writeFileSync(relay.configFile, config(`${INTERNS}, "${OPUS}"`))
  await until('the reload grants ian opus', async () => (await ask('ian-key', OPUS)).status === 200)
  t.match(await ask('ian-key', OPUS), { status: 200, model: 'qwen3-coder' }, 'granted, and the rule now routes it')
  t.match(await ask('ian-key', LEGACY), { status: 400 }, 'the deny list still holds')
})
