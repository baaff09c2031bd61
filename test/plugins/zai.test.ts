/**
 * The zai plugin through the running relay, against a mock of Z.AI's Anthropic-compatible endpoint
 * (`/api/anthropic/v1/messages`, GLM answers in Anthropic's shape). The seed's examples work as written;
 * Z.AI gets Claude Code's body byte for byte (no shaping rule has evidence, see plugins/zai), its own
 * key in both headers, and never the client's Anthropic credential.
 */
import t from 'tap'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { ProviderPlugin } from '../../plugins/sdk.js'
import { MockUpstream, sse } from '../helpers/mock-upstream.js'
import { startRelay } from '../helpers/relay.js'
import type { RunningRelay } from '../helpers/relay.js'
import { claudeCodeBody } from '../fixtures/anthropic.js'
import { post, requestLog } from '../helpers/shaping-client.js'
import { toolLoop } from '../helpers/shaping-bodies.js'

const ROOT = join(import.meta.dirname, '..', '..')
const zaiPlugin = ((await import(pathToFileURL(join(ROOT, 'dist', 'plugins', 'zai', 'index.js')).href)) as { default: ProviderPlugin }).default
const { bodyTools } = (await import(pathToFileURL(join(ROOT, 'dist', 'src', 'shared', 'json-edit.js')).href)) as typeof import('../../src/shared/json-edit.js')

// Z.AI's answers: Anthropic's shape, GLM model names, its own ids (a capture: `"id":"20251013104553f6d8961e92814310"`).
const GLM_MESSAGE = '{"id":"20251013104553f6d8961e92814310","type":"message","role":"assistant","model":"glm-4.7","content":[{"type":"text","text":"Hello! How can I assist you today?"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":9,"output_tokens":14,"cache_read_input_tokens":0}}'
const GLM_STREAM = sse([
  { type: 'message_start', message: { id: '20251013104600a1b2c3', type: 'message', role: 'assistant', model: 'glm-4.7', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 9, output_tokens: 0 } } },
  { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
  { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: '你好 — hello' } },
  { type: 'content_block_stop', index: 0 },
  { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 4 } },
  { type: 'message_stop' },
])
const ANTHROPIC_OK = '{"id":"msg_ok","type":"message","role":"assistant","model":"claude","content":[],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}'

async function mock(answer: 'glm' | 'anthropic'): Promise<MockUpstream> {
  const m = await new MockUpstream().start()
  m.handler = (_req, res, rec) => {
    if (answer === 'anthropic') return void res.writeHead(200, { 'content-type': 'application/json' }).end(ANTHROPIC_OK)
    const stream = (JSON.parse(rec.body.toString()) as { stream?: boolean }).stream
    if (stream) res.writeHead(200, { 'content-type': 'text/event-stream' }).end(GLM_STREAM)
    else res.writeHead(200, { 'content-type': 'application/json' }).end(GLM_MESSAGE)
  }
  return m
}

const zai = await mock('glm')
const claude = await mock('anthropic')
const local = await mock('anthropic')
const relays: RunningRelay[] = []
async function relay(yaml: string, env: NodeJS.ProcessEnv = {}): Promise<RunningRelay> {
  const r = await startRelay(yaml, { env })
  relays.push(r)
  return r
}
t.teardown(async () => {
  await Promise.all(relays.map((r) => r.stop()))
  await Promise.all([zai.close(), claude.close(), local.close()])
})

const ENV = { ZAI_API_KEY: 'zai-key-1234.abcdef', ANTHROPIC_API_KEY: 'sk-ant-api03-team-key' }

// The seed's Z.AI example, word for word, with base_url pointed at the mock (same path as Z.AI's).
const seed = await relay(
  `
providers:
  - name: "zai"
    type: "zai"
    enabled: true
    base_url: "${zai.url}/api/anthropic"  # 선택사항, 기본값 사용

    keys:
      - key: "\${ZAI_API_KEY}"
        priority: 1  # 장애 조치 시 Anthropic보다 낮은 우선순위

    # Claude 모델 이름을 Z.AI 모델에 매핑
    model_mapping:
      "claude-sonnet-4-5-20250514": "GLM-4.7"
      "claude-sonnet-4-5": "GLM-4.7"
      "claude-haiku-3-5-20241022": "GLM-4.5-Air"
      "claude-haiku-3-5": "GLM-4.5-Air"

    models:
      - "GLM-4.7"
      - "GLM-4.5-Air"
      - "GLM-4-Plus"
`,
  ENV,
)

t.test("the seed's example: Z.AI's path, its key as Bearer and x-api-key, Claude Code's body byte for byte", async (t) => {
  for (const stream of [true, false]) {
    const body = claudeCodeBody('claude-sonnet-4-5-20250514', stream)
    const res = await post(seed, body)
    t.equal(res.status, 200)
    t.equal(res.text, stream ? GLM_STREAM : GLM_MESSAGE, "Z.AI's answer reaches the client unchanged")
    const sent = zai.last
    t.equal(sent.url, '/api/anthropic/v1/messages', 'base_url + /v1/messages; no client query string')
    t.equal(sent.body.toString(), body.replace('"claude-sonnet-4-5-20250514"', '"GLM-4.7"'), 'only the mapped model changed')
    t.equal(sent.headers.authorization, 'Bearer zai-key-1234.abcdef')
    t.equal(sent.headers['x-api-key'], 'zai-key-1234.abcdef')
    t.equal(sent.headers['anthropic-version'], '2023-06-01')
    t.equal(sent.headers['anthropic-beta'], 'claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27')
    t.notOk((await requestLog(seed, res.requestId)).shaped, 'no shaping notes')
  }
  await post(seed, '{"model":"claude-haiku-3-5","max_tokens":5,"messages":[]}')
  t.equal(zai.last.body.toString(), '{"model":"GLM-4.5-Air","max_tokens":5,"messages":[]}')
  await post(seed, '{"model":"GLM-4-Plus","max_tokens":5,"messages":[]}')
  t.equal(zai.last.body.toString(), '{"model":"GLM-4-Plus","max_tokens":5,"messages":[]}', 'a listed GLM model passes unchanged')
})

t.test('the default API root is https://api.z.ai/api/anthropic and the path /v1/messages', async (t) => {
  const base = zaiPlugin.defaultBaseUrl({})
  t.equal(base, 'https://api.z.ai/api/anthropic')
  const body = Buffer.from('{"model":"GLM-4.7","max_tokens":1}')
  const spec = zaiPlugin.prepare(
    { route: 'messages', requestId: 'r', body, model: 'GLM-4.7', stream: false, query: 'beta=true', headers: { 'anthropic-version': '2023-06-01' }, baseUrl: base, options: {} },
    bodyTools,
  )
  t.equal(spec.url, 'https://api.z.ai/api/anthropic/v1/messages')
  t.equal(spec.body, body, 'the very same bytes')
})

t.test("the seed's multi-provider failover: Anthropic, then Z.AI, then Ollama, each with its own credential", async (t) => {
  const anthropicDown = await mock('anthropic')
  anthropicDown.handler = (_req, res) => res.writeHead(529, { 'content-type': 'application/json' }).end('{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}')
  const zaiBusy = await mock('glm')
  zaiBusy.handler = (_req, res) => res.writeHead(429, { 'content-type': 'application/json' }).end('{"type":"error","error":{"type":"rate_limit_error","message":"Rate limit reached for requests"}}')
  t.teardown(async () => Promise.all([anthropicDown.close(), zaiBusy.close()]))
  const r = await relay(
    `
providers:
  # 기본: Anthropic (최고 품질)
  - name: "anthropic"
    type: "anthropic"
    enabled: true
    base_url: "${anthropicDown.url}"
    keys:
      - key: "\${ANTHROPIC_API_KEY}"
        priority: 2  # 먼저 시도

  # 보조: Z.AI (비용 효율적)
  - name: "zai"
    type: "zai"
    enabled: true
    base_url: "${zaiBusy.url}/api/anthropic"
    keys:
      - key: "\${ZAI_API_KEY}"
        priority: 1  # 폴백

  # 3차: Ollama (로컬, 무료)
  - name: "ollama"
    type: "ollama"
    enabled: true
    base_url: "${local.url}"
    keys:
      - key: "ollama"
        priority: 0  # 최후의 수단

routing:
  strategy: failover  # 우선순위 순서로 프로바이더 시도
  debug: true
`,
    ENV,
  )
  const body = claudeCodeBody('claude-sonnet-4-5', false)
  const res = await post(r, body)
  t.equal(res.status, 200)
  t.equal(res.headers.get('x-cc-relay-provider'), 'ollama')
  t.equal(res.headers.get('x-cc-relay-attempts'), '3')
  t.equal(anthropicDown.last.headers['x-api-key'], 'sk-ant-api03-team-key')
  t.equal(zaiBusy.last.headers.authorization, 'Bearer zai-key-1234.abcdef')
  t.notOk(local.last.headers.authorization ?? local.last.headers['x-api-key'], 'ollama gets no credential')
  for (const m of [anthropicDown, zaiBusy, local]) t.equal(m.last.body.toString(), body, 'each provider got the body as sent')
})

t.test('a mid-stream error event from Z.AI reaches the client as sent, then the stream ends', async (t) => {
  const original = zai.handler
  const partial = sse([
    { type: 'message_start', message: { id: '2025101310', type: 'message', role: 'assistant', model: 'glm-4.7', content: [], usage: { input_tokens: 9, output_tokens: 0 } } },
    { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } as { type: string },
  ])
  zai.handler = (_req, res) => res.writeHead(200, { 'content-type': 'text/event-stream' }).end(partial)
  const res = await post(seed, '{"model":"GLM-4.7","max_tokens":5,"stream":true,"messages":[]}')
  zai.handler = original
  t.equal(res.status, 200)
  t.equal(res.text, partial)
})

t.test('a Z.AI error reaches the client verbatim: its own wording, status and headers (the last request to the seed relay: its retry-after cools the key)', async (t) => {
  const original = zai.handler
  const answer = '{"type":"error","error":{"type":"1113","message":"Insufficient balance or no resource package. Please recharge."},"request_id":"20251013"}'
  zai.handler = (_req, res) => res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '7' }).end(answer)
  const res = await post(seed, '{"model":"GLM-4.7","max_tokens":5,"messages":[]}')
  zai.handler = original
  t.equal(res.status, 429)
  t.equal(res.headers.get('retry-after'), '7')
  t.equal(res.text, answer)
})

t.test("no credential reaches Z.AI but its own: not the client's Anthropic key or login, not another provider's key", async (t) => {
  const r = await relay(
    `
server: { auth: { allow_subscription: true } }
providers:
  - { name: claude, type: anthropic, base_url: "${claude.url}", keys: [{ key: "\${ANTHROPIC_API_KEY}" }], models: ["claude-opus-4-8"] }
  - { name: zai, type: zai, base_url: "${zai.url}/api/anthropic", keys: [{ key: "\${ZAI_API_KEY}" }], model_mapping: { "claude-sonnet-4-5": "GLM-4.7" } }
`,
    ENV,
  )
  const client = { 'x-api-key': 'sk-ant-api03-client-key', authorization: 'Bearer sk-ant-oat01-client-login' }
  const res = await post(r, '{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[]}', client)
  t.equal(res.status, 200)
  t.equal(zai.last.headers.authorization, 'Bearer zai-key-1234.abcdef')
  t.equal(zai.last.headers['x-api-key'], 'zai-key-1234.abcdef')
  t.notMatch(JSON.stringify(zai.last.headers) + zai.last.body.toString(), /sk-ant-/, 'nothing of the client or the anthropic provider')
  await post(r, '{"model":"claude-opus-4-8","max_tokens":5,"messages":[]}', client)
  t.equal(claude.last.headers.authorization, 'Bearer sk-ant-oat01-client-login', 'the login went to the anthropic provider')
  t.notMatch(JSON.stringify(claude.last.headers), /zai-key/, 'and no Z.AI key went there')
})

t.test('thinkingFamily zai: a session moving from Claude to Z.AI loses its earlier thinking blocks', async (t) => {
  const flaky = await mock('anthropic')
  let down = false
  flaky.handler = (_req, res) =>
    down ? res.writeHead(529, { 'content-type': 'application/json' }).end('{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}') : res.writeHead(200, { 'content-type': 'application/json' }).end(ANTHROPIC_OK)
  t.teardown(() => flaky.close())
  const r = await relay(
    `
routing: { debug: true }
providers:
  - { name: claude, type: anthropic, base_url: "${flaky.url}", priority: 2, keys: [{ key: k }] }
  - { name: zai, type: zai, base_url: "${zai.url}/api/anthropic", priority: 1, keys: [{ key: z }] }
`,
  )
  const session = { 'x-claude-code-session-id': 'moving-to-glm' }
  const turn = toolLoop('claude-sonnet-4-5', false)
  t.equal((await post(r, turn, session)).status, 200)
  t.equal(flaky.last.body.toString(), turn, 'Claude got the signed thinking as sent')
  down = true
  const moved = await post(r, turn, session)
  t.equal(moved.headers.get('x-cc-relay-provider'), 'zai')
  const sent = JSON.parse(zai.last.body.toString()) as { thinking?: unknown; messages: { content: { type: string }[] }[] }
  t.notOk(JSON.stringify(sent.messages).includes('"thinking"'), "Claude's signed thinking never reached Z.AI")
  t.same(sent.messages[1]!.content.map((b) => b.type), ['tool_use'])
})
