/**
 * Team policy and budgets as the real Claude Code CLI meets them (issue 23): a client key whose policy
 * allows the model works; one whose policy refuses it makes the CLI exit non-zero printing the relay's
 * message; with a budget at 80 % the answers carry the usage-limit headers (`allowed_warning`, `0.75`);
 * at the cap the CLI prints the relay's budget sentence.
 */
import t from 'tap'
import { Recorder } from '../../compat/recorder.js'
import { pinnedClaude, PINNED_CLAUDE, runClaude } from '../helpers/claude-cli.js'
import { MockUpstream, sse } from '../helpers/mock-upstream.js'
import { startRelay } from '../helpers/relay.js'
import type { RunningRelay } from '../helpers/relay.js'

t.setTimeout(600_000)
const cli = pinnedClaude(t)
const ANSWER = 'POLICY-ANSWER-7c1e'

const upstream = await new MockUpstream().start()
/** Every request the CLI makes (its turn and any side call) gets the same short answer: $0.10 of input. */
upstream.handler = (_req, res, recorded) => {
  const body = JSON.parse(recorded.body.toString()) as { model: string; stream?: boolean }
  const message = { id: 'msg_p', type: 'message', role: 'assistant', model: body.model, content: [] as unknown[], stop_reason: null, stop_sequence: null, usage: { input_tokens: 1000, output_tokens: 0 } }
  if (!body.stream) {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ...message, content: [{ type: 'text', text: ANSWER }], stop_reason: 'end_turn' }))
    return
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' }).end(sse([
    { type: 'message_start', message },
    { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
    { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: ANSWER } },
    { type: 'content_block_stop', index: 0 },
    { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 0 } },
    { type: 'message_stop' },
  ]))
}

let relay: RunningRelay
t.before(async () => {
  relay = await startRelay(`
logging: { level: info, format: json }
server:
  auth:
    groups:
      - { name: interns, models: ["claude-haiku-*", "claude-sonnet-*"] }
    clients:
      - { name: ian, key: ian-relay-key-0123456789, group: interns }
      - { name: carol, key: carol-relay-key-0123456789, budget: { usd: 1, period: day } }
      - { name: cap, key: cap-relay-key-0123456789, budget: { usd: 0.15, period: day } }
providers:
  - { name: main, type: anthropic, base_url: "${upstream.url}", keys: [{ key: pooled }] }
pricing:
  # What spend() asks for: $0.10 a request. The CLI's own requests cost what the built-in table says.
  "claude-sonnet-4-5": { input: 100, output: 0 }
`)
})
t.teardown(async () => {
  await relay?.stop()
  await upstream.close()
})

/** The CLI in print mode, its API key being the relay key (sent as x-api-key and consumed there). */
const claude = (baseUrl: string, key: string, model: string) => runClaude(cli.bin!, baseUrl, ['-p', 'Say hello.', '--model', model, '--output-format', 'text'], { ANTHROPIC_API_KEY: key })

/** Spends $0.10 per request as `key`, directly. */
async function spend(key: string, times: number): Promise<void> {
  for (let i = 0; i < times; i++) {
    const res = await fetch(`${relay.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-cc-relay-key': key },
      body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] }),
      signal: AbortSignal.timeout(20_000),
    })
    await res.text()
  }
}

t.test(`Claude Code ${PINNED_CLAUDE}: a model the policy allows works`, { skip: cli.skip }, async (t) => {
  const run = await claude(relay.url, 'ian-relay-key-0123456789', 'claude-sonnet-4-5')
  t.equal(run.code, 0, run.stderr)
  t.match(run.stdout, ANSWER, "the CLI prints the upstream's answer")
  t.ok(upstream.requests.every((r) => r.headers['x-api-key'] === 'pooled'), 'the upstream got the pooled key, never the relay key')
})

t.test(`Claude Code ${PINNED_CLAUDE}: a model the policy refuses ends the CLI with the relay's message`, { skip: cli.skip }, async (t) => {
  const before = upstream.requests.length
  const run = await claude(relay.url, 'ian-relay-key-0123456789', 'claude-opus-4-1')
  t.not(run.code, 0, 'the CLI exits non-zero')
  // The CLI may send a newer name for a retired model (2.1.332 sends claude-opus-5-5 for claude-opus-4-1).
  t.match(run.stdout + run.stderr, /API Error: 400 model "claude-opus-[^"]+" is not allowed for ian \(group interns\)/, "it prints the relay's message")
  const models = upstream.requests.slice(before).map((r) => (JSON.parse(r.body.toString()) as { model: string }).model)
  t.notOk(models.some((m) => m.startsWith('claude-opus')), `nothing for opus went upstream (${models.join(', ') || 'nothing'})`)
  t.ok(upstream.requests.length - before <= 2, 'at most the allowed side calls went upstream')
})

t.test(`Claude Code ${PINNED_CLAUDE}: a budget at 80 % gets the usage-limit headers`, { skip: cli.skip }, async (t) => {
  await spend('carol-relay-key-0123456789', 8)
  const recorder = await new Recorder(relay.url).start()
  t.teardown(() => recorder.close())
  const run = await claude(recorder.url, 'carol-relay-key-0123456789', 'claude-sonnet-4-5')
  t.equal(run.code, 0, run.stderr)
  t.match(run.stdout, ANSWER)
  const turn = recorder.sent.find((s) => s.path.startsWith('/v1/messages') && s.body.includes('Say hello.'))
  t.ok(turn, 'the turn went through the recorder')
  t.match(turn?.answer, {
    'anthropic-ratelimit-unified-status': 'allowed_warning',
    'anthropic-ratelimit-unified-representative-claim': 'overage',
    'anthropic-ratelimit-unified-overage-utilization': /^0\.[89]\d?$/,
    'anthropic-ratelimit-unified-overage-surpassed-threshold': '0.75',
  }, 'the answer Claude Code read carries the warning')
})

t.test(`Claude Code ${PINNED_CLAUDE}: at the cap the CLI prints the relay's budget sentence`, { skip: cli.skip }, async (t) => {
  await spend('cap-relay-key-0123456789', 2)
  const run = await claude(relay.url, 'cap-relay-key-0123456789', 'claude-sonnet-4-5')
  t.not(run.code, 0, 'the CLI exits non-zero')
  t.match(run.stdout + run.stderr, /client cap's budget of \$0\.15 per day \(UTC\) is used up \(\$0\.20 spent\); it resets at \d{4}-\d\d-\d\dT00:00:00\.000Z/, "the relay's sentence, as it is")
})
