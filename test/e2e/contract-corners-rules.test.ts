/**
 * Routing rules' untested corners (CONTRACT §8, issue 27 corner 6), through the running relay with one
 * mock upstream per provider (each answers with its own name and the model it was sent):
 * - a disabled provider in a rule is skipped; a rule left with none answers 404 naming the rule;
 * - several conditions in one `when` must all hold;
 * - `thinking: false` matches thinking off or absent, not thinking on;
 * - without `use.model`, each rule provider maps the model through its own `model_mapping`, whether or
 *   not its `models` name the model (a provider with neither gets the client's model as is).
 */
import t from 'tap'
import { MockUpstream } from '../helpers/mock-upstream.js'
import { startRelay } from '../helpers/relay.js'
import type { RunningRelay } from '../helpers/relay.js'

const NAMES = ['main', 'off', 'on', 'both', 'plain', 'mapped', 'listed'] as const
type Name = (typeof NAMES)[number]
const mocks = new Map<Name, MockUpstream>()
let relay: RunningRelay

t.before(async () => {
  for (const name of NAMES) {
    const m = await new MockUpstream().start()
    m.handler = (_req, res, recorded) => {
      const model = (JSON.parse(recorded.body.toString()) as { model: string }).model
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 'msg_1', type: 'message', role: 'assistant', model, content: [{ type: 'text', text: name }], stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 3, output_tokens: 1 } }))
    }
    mocks.set(name, m)
  }
  const url = (n: Name): string => mocks.get(n)!.url
  relay = await startRelay(`logging: { level: info, format: json }
providers:
  - { name: main, type: anthropic, base_url: "${url('main')}", keys: [{ key: k }] }
  - { name: off, type: anthropic, enabled: false, base_url: "${url('off')}", keys: [{ key: k }] }
  - { name: on, type: anthropic, base_url: "${url('on')}", keys: [{ key: k }], models: [nothing-we-ask-for] }
  - { name: both, type: anthropic, base_url: "${url('both')}", keys: [{ key: k }], models: [nothing-we-ask-for] }
  - { name: plain, type: anthropic, base_url: "${url('plain')}", keys: [{ key: k }], models: [nothing-we-ask-for] }
  - name: mapped
    type: anthropic
    base_url: "${url('mapped')}"
    keys: [{ key: k }]
    models: [nothing-we-ask-for]
    model_mapping: { "claude-mapme-*": "upstream-mapped", "claude-exact": "upstream-exact" }
  - { name: listed, type: anthropic, base_url: "${url('listed')}", keys: [{ key: k }], models: [nothing-we-ask-for] }
routing:
  debug: true
  rules:
    - { name: skip-disabled, when: { model: "claude-skip" }, use: { providers: [off, on] } }
    - { name: only-disabled, when: { model: "claude-dead" }, use: { providers: [off] } }
    - { name: haiku-thinking, when: { model: "claude-haiku-*", thinking: true, headers: { "x-team": "blue" } }, use: { providers: [both] } }
    - { name: no-thinking, when: { model: "claude-sonnet-*", thinking: false }, use: { providers: [plain] } }
    - { name: own-mapping, when: { model: "claude-mapme-*" }, use: { providers: [mapped] } }
    - { name: own-exact, when: { model: "claude-exact" }, use: { providers: [mapped] } }
    - { name: unmapped, when: { model: "claude-unmapped" }, use: { providers: [listed] } }
`)
})
t.teardown(async () => {
  await relay?.stop()
  await Promise.all([...mocks.values()].map((m) => m.close()))
})

async function send(model: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  const res = await fetch(`${relay.url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model, max_tokens: 64, messages: [{ role: 'user', content: 'hi' }], ...extra }),
    signal: AbortSignal.timeout(20_000),
  })
  const body = (await res.json()) as { model?: string; content?: { text: string }[]; error?: { type: string; message: string } }
  return { status: res.status, rule: res.headers.get('x-cc-relay-rule'), provider: res.headers.get('x-cc-relay-provider'), served: body.content?.[0]?.text, model: body.model, error: body.error }
}

t.test("a disabled provider in a rule is skipped; a rule left with none is a 404 naming the rule", async (t) => {
  const skip = await send('claude-skip')
  t.match(skip, { status: 200, rule: 'skip-disabled', provider: 'on', served: 'on' }, 'the enabled provider serves, though its models do not name the model')
  t.equal(mocks.get('off')!.requests.length, 0, 'the disabled provider was never asked')
  const dead = await send('claude-dead')
  t.equal(dead.status, 404)
  t.equal(dead.error?.type, 'not_found_error')
  t.match(dead.error?.message, /"only-disabled"/, `the message names the rule: ${dead.error?.message}`)
  t.equal(mocks.get('off')!.requests.length, 0, 'still nothing to the disabled provider')
})

t.test('several conditions together: every one must hold', async (t) => {
  const thinking = { thinking: { type: 'enabled', budget_tokens: 1024 } }
  const blue = { 'x-team': 'blue' }
  t.match(await send('claude-haiku-4-5', thinking, blue), { status: 200, rule: 'haiku-thinking', served: 'both' }, 'model, thinking and header: the rule')
  t.match(await send('claude-haiku-4-5', {}, blue), { status: 200, rule: null, served: 'main' }, 'no thinking: no rule')
  t.match(await send('claude-haiku-4-5', thinking, { 'x-team': 'red' }), { status: 200, rule: null, served: 'main' }, 'another header value: no rule')
  t.match(await send('claude-opus-4-8', thinking, blue), { status: 200, rule: null, served: 'main' }, 'another model: no rule')
  t.equal(mocks.get('both')!.requests.length, 1, 'the rule provider got only the request that met every condition')
})

t.test('thinking: false matches thinking off or absent, never thinking on', async (t) => {
  t.match(await send('claude-sonnet-4-5'), { rule: 'no-thinking', served: 'plain' }, 'absent')
  t.match(await send('claude-sonnet-4-5', { thinking: { type: 'disabled' } }), { rule: 'no-thinking', served: 'plain' }, 'type disabled')
  t.match(await send('claude-sonnet-4-5', { thinking: { type: 'enabled', budget_tokens: 1024 } }), { rule: null, served: 'main' }, 'enabled: not this rule')
  t.match(await send('claude-sonnet-4-5', { thinking: { type: 'adaptive' } }), { rule: null, served: 'main' }, 'adaptive: not this rule')
})

t.test("without use.model a rule provider maps the model through its own model_mapping", async (t) => {
  t.match(await send('claude-mapme-1'), { status: 200, rule: 'own-mapping', served: 'mapped', model: 'upstream-mapped' }, 'a wildcard mapping of the provider')
  t.match(await send('claude-exact'), { status: 200, rule: 'own-exact', served: 'mapped', model: 'upstream-exact' }, 'an exact mapping of the provider')
  t.same(mocks.get('mapped')!.requests.map((q) => (JSON.parse(q.body.toString()) as { model: string }).model), ['upstream-mapped', 'upstream-exact'], 'what the upstream was sent')
  t.match(await send('claude-unmapped'), { status: 200, rule: 'unmapped', served: 'listed', model: 'claude-unmapped' }, "a provider without a mapping for it: the client's model as is")
})
