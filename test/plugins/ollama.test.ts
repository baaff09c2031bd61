/**
 * The ollama plugin through the running relay, against a mock speaking Ollama's Anthropic layer
 * (`anthropic/anthropic.go`: unsigned thinking, no cache usage fields, errors as HTTP status with an
 * Anthropic envelope). The seed's example works as written; each capability-shaping rule is shown by
 * the exact bytes Ollama received (or by Ollama never being called).
 */
import t from 'tap'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { ProviderPlugin } from '../../plugins/sdk.js'
import { MockUpstream, sse } from '../helpers/mock-upstream.js'
import { startRelay } from '../helpers/relay.js'
import type { RunningRelay } from '../helpers/relay.js'
import { claudeCodeBody } from '../fixtures/anthropic.js'
import { errorOf, post, requestLog } from '../helpers/shaping-client.js'
import { BASE64_IMAGE_BLOCK, PDF_BLOCK, TEXT_DOCUMENT_BLOCK, toolLoop, toolResultWithUrlImage, URL_IMAGE_BLOCK, userTurn } from '../helpers/shaping-bodies.js'

const ROOT = join(import.meta.dirname, '..', '..')
const ollamaPlugin = ((await import(pathToFileURL(join(ROOT, 'dist', 'plugins', 'ollama', 'index.js')).href)) as { default: ProviderPlugin }).default
const { bodyTools } = (await import(pathToFileURL(join(ROOT, 'dist', 'src', 'shared', 'json-edit.js')).href)) as typeof import('../../src/shared/json-edit.js')

/** What Ollama streams for a thinking model (StreamConverter.Process): no signature anywhere. */
const OLLAMA_EVENTS = [
  { type: 'message_start', message: { id: 'msg_7f3a9c', type: 'message', role: 'assistant', model: 'qwen3:32b', content: [], usage: { input_tokens: 42, output_tokens: 0 } } },
  { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '' } },
  { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'Short answer.' } },
  { type: 'content_block_stop', index: 0 },
  { type: 'content_block_start', index: 1, content_block: { type: 'text', text: '' } },
  { type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: 'Hello from qwen ✓' } },
  { type: 'content_block_stop', index: 1 },
  { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { input_tokens: 42, output_tokens: 7 } },
  { type: 'message_stop' },
]
const OLLAMA_STREAM = sse(OLLAMA_EVENTS)
const OLLAMA_MESSAGE = '{"id":"msg_7f3a9d","type":"message","role":"assistant","model":"qwen3:32b","content":[{"type":"text","text":"Hello"}],"stop_reason":"end_turn","usage":{"input_tokens":42,"output_tokens":3}}'

function ollamaMock(): Promise<MockUpstream> {
  const mock = new MockUpstream()
  mock.handler = (_req, res, rec) => {
    const body = JSON.parse(rec.body.toString()) as { stream?: boolean }
    if (body.stream) res.writeHead(200, { 'content-type': 'text/event-stream' }).end(OLLAMA_STREAM)
    else res.writeHead(200, { 'content-type': 'application/json' }).end(OLLAMA_MESSAGE)
  }
  return mock.start()
}

const ollama = await ollamaMock()
const backup = await new MockUpstream().start()
backup.handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"id":"msg_backup","type":"message","role":"assistant","model":"claude","content":[],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}')

// The seed's Ollama example, word for word, with base_url pointed at the mock.
const seedYaml = `
providers:
  - name: "ollama"
    type: "ollama"
    enabled: true
    base_url: "${ollama.url}"  # 선택사항, 기본값 사용

    keys:
      - key: "ollama"  # Ollama는 API 키를 받지만 무시함
        priority: 0    # 장애 조치의 최저 우선순위

    # Claude 모델 이름을 로컬 Ollama 모델에 매핑
    model_mapping:
      "claude-sonnet-4-5-20250514": "qwen3:32b"
      "claude-sonnet-4-5": "qwen3:32b"
      "claude-haiku-3-5-20241022": "qwen3:8b"
      "claude-haiku-3-5": "qwen3:8b"

    models:
      - "qwen3:32b"
      - "qwen3:8b"
      - "codestral:latest"
`
const relays: RunningRelay[] = []
async function relay(yaml: string): Promise<RunningRelay> {
  const r = await startRelay(yaml)
  relays.push(r)
  return r
}
const seed = await relay(seedYaml)
t.teardown(async () => {
  await Promise.all(relays.map((r) => r.stop()))
  await Promise.all([ollama.close(), backup.close()])
})

const CREDENTIAL_HEADERS = ['authorization', 'x-api-key', 'api-key', 'x-cc-relay-key']

t.test("the seed's example: mapped model, Ollama's path, no credential, the body byte for byte, the stream byte for byte", async (t) => {
  const body = claudeCodeBody('claude-sonnet-4-5-20250514', true)
  const before = ollama.requests.length
  const res = await post(seed, body)
  t.equal(res.status, 200)
  t.equal(res.text, OLLAMA_STREAM, "Ollama's stream reaches the client unchanged")
  t.equal(ollama.requests.length, before + 1)
  const sent = ollama.last
  t.equal(sent.url, '/v1/messages', 'API root + /v1/messages; the client query string stays at the relay')
  t.equal(sent.body.toString(), body.replace('"claude-sonnet-4-5-20250514"', '"qwen3:32b"'), 'only the model changed: context_management, output_config, defer_loading, cache_control, metadata all kept')
  for (const name of CREDENTIAL_HEADERS) t.notOk(sent.headers[name], `no ${name}: the key "ollama" is a pool slot, not a credential`)
  t.equal(sent.headers['anthropic-version'], '2023-06-01')
  const log = await requestLog(seed, res.requestId)
  t.equal(log.provider, 'ollama')
  t.equal(log.upstream_model, 'qwen3:32b')
  t.notOk(log.shaped, 'nothing was shaped')

  const haiku = await post(seed, '{"model":"claude-haiku-3-5","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}')
  t.equal(haiku.status, 200)
  t.equal(haiku.text, OLLAMA_MESSAGE)
  t.equal(ollama.last.body.toString(), '{"model":"qwen3:8b","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}')
  const direct = await post(seed, '{"model":"codestral:latest","max_tokens":100,"messages":[]}')
  t.equal(direct.status, 200)
  t.equal(ollama.last.body.toString(), '{"model":"codestral:latest","max_tokens":100,"messages":[]}', 'a listed model passes unchanged')
})

t.test('prepare: default root, and an untouched request is the very same bytes (nothing parsed, nothing copied)', async (t) => {
  t.equal(ollamaPlugin.defaultBaseUrl({}), 'http://localhost:11434')
  const cases: [string, string[] | undefined][] = [
    [claudeCodeBody('qwen3:32b', true), undefined],
    [userTurn('qwen3:32b', BASE64_IMAGE_BLOCK), undefined],
    [toolLoop('qwen3:32b', true), ['thinking.budget_tokens 10000 is not enforced by Ollama (sent unchanged)']],
  ]
  for (const [text, notes] of cases) {
    const body = Buffer.from(text)
    const spec = ollamaPlugin.prepare(
      { route: 'messages', requestId: 'r', body, model: 'qwen3:32b', stream: true, query: 'beta=true', headers: { 'anthropic-version': '2023-06-01' }, baseUrl: 'http://localhost:11434', options: {} },
      bodyTools,
    )
    t.equal(spec.url, 'http://localhost:11434/v1/messages')
    t.equal(spec.body, body, 'the input buffer itself')
    t.same(spec.notes, notes)
  }
})

t.test('an Ollama provider without any key entry is served (auth none: keys are optional)', async (t) => {
  const r = await relay(`providers:\n  - { name: local, type: ollama, base_url: "${ollama.url}" }\n`)
  const res = await post(r, '{"model":"llama3.2:3b","max_tokens":10,"messages":[]}')
  t.equal(res.status, 200)
  t.equal(ollama.last.body.toString(), '{"model":"llama3.2:3b","max_tokens":10,"messages":[]}')
  for (const name of CREDENTIAL_HEADERS) t.notOk(ollama.last.headers[name])
})

t.test('shaping: tool_choice is removed, every other byte kept, and the request log says so', async (t) => {
  const body = `{"model": "claude-sonnet-4-5", "max_tokens": 1024, "tool_choice": {"type": "tool", "name": "get_weather"},
 "tools": [{"name":"get_weather","input_schema":{"type":"object"}}], "messages": [{"role":"user","content":"weather?"}]}`
  const res = await post(seed, body)
  t.equal(res.status, 200)
  t.equal(
    ollama.last.body.toString(),
    `{"model": "qwen3:32b", "max_tokens": 1024,
 "tools": [{"name":"get_weather","input_schema":{"type":"object"}}], "messages": [{"role":"user","content":"weather?"}]}`,
  )
  const log = await requestLog(seed, res.requestId)
  t.same(log.shaped, ['removed tool_choice {"type":"tool","name":"get_weather"}: Ollama cannot force or forbid tool use'])
})

t.test('shaping: thinking.budget_tokens is sent unchanged and logged as not enforced', async (t) => {
  const body = '{"model":"claude-sonnet-4-5","max_tokens":16000,"thinking":{"type":"enabled","budget_tokens":10000},"messages":[{"role":"user","content":"think"}]}'
  const res = await post(seed, body)
  t.equal(res.status, 200)
  t.equal(ollama.last.body.toString(), body.replace('"claude-sonnet-4-5"', '"qwen3:32b"'))
  const log = await requestLog(seed, res.requestId)
  t.same(log.shaped, ['thinking.budget_tokens 10000 is not enforced by Ollama (sent unchanged)'])
})

t.test('shaping: a PDF is refused with 400 before Ollama is called, naming the block', async (t) => {
  const before = ollama.requests.length
  for (const [blocks, wanted] of [
    [PDF_BLOCK, /^provider ollama cannot serve this request: messages\[0\]\.content\[0\] is a PDF document block; Ollama's Anthropic API cannot read documents/],
    [`${BASE64_IMAGE_BLOCK}, ${TEXT_DOCUMENT_BLOCK}`, /messages\[0\]\.content\[1\] is a document \(text source\) block/],
  ] as const) {
    for (const stream of [false, true]) {
      const res = await post(seed, userTurn('claude-sonnet-4-5', blocks, ` "stream": ${stream},`))
      t.equal(res.status, 400)
      t.equal(res.headers.get('content-type'), 'application/json')
      const error = errorOf(res.text)
      t.equal(error.type, 'invalid_request_error')
      t.match(error.message, wanted)
    }
  }
  t.equal(ollama.requests.length, before, 'Ollama never saw those requests')
})

t.test('shaping: image URLs are refused (top level and inside tool_result); base64 images go byte for byte', async (t) => {
  const before = ollama.requests.length
  const url = await post(seed, userTurn('claude-sonnet-4-5', URL_IMAGE_BLOCK))
  t.equal(url.status, 400)
  t.match(errorOf(url.text).message, "messages[0].content[0] is an image given by url; Ollama's Anthropic API takes base64 images only")
  const nested = await post(seed, toolResultWithUrlImage('claude-sonnet-4-5'))
  t.equal(nested.status, 400)
  t.match(errorOf(nested.text).message, 'messages[2].content[0].content[1] is an image given by url')
  t.equal(ollama.requests.length, before, 'Ollama never saw them')

  const base64 = userTurn('claude-sonnet-4-5', BASE64_IMAGE_BLOCK)
  const ok = await post(seed, base64)
  t.equal(ok.status, 200)
  t.equal(ollama.last.body.toString(), base64.replace('"claude-sonnet-4-5"', '"qwen3:32b"'))
  t.notOk((await requestLog(seed, ok.requestId)).shaped)
})

t.test('a PDF fails over to a second provider that can read it; Ollama is never called', async (t) => {
  const r = await relay(`
routing: { debug: true }
providers:
  - name: local
    type: ollama
    base_url: "${ollama.url}"
    priority: 2
  - name: claude
    type: anthropic
    base_url: "${backup.url}"
    priority: 1
    keys: [{ key: "sk-ant-team" }]
`)
  const before = ollama.requests.length
  const body = userTurn('claude-sonnet-4-5', PDF_BLOCK)
  const res = await post(r, body)
  t.equal(res.status, 200)
  t.equal(res.headers.get('x-cc-relay-provider'), 'claude')
  t.equal(res.headers.get('x-cc-relay-attempts'), '2')
  t.equal(backup.last.body.toString(), body, 'the PDF request reached the second provider byte for byte')
  t.equal(ollama.requests.length, before)
  // Without a PDF, Ollama (the higher priority) serves as usual: the refusal did not open its circuit.
  const plain = await post(r, '{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[]}')
  t.equal(plain.headers.get('x-cc-relay-provider'), 'local')
})

t.test('max_output_tokens clamps the max_tokens Claude Code asks for, and nothing else', async (t) => {
  const r = await relay(`providers:\n  - { name: local, type: ollama, base_url: "${ollama.url}", max_output_tokens: 8192 }\n`)
  await post(r, '{"model":"qwen3:8b", "max_tokens": 32000, "messages":[]}')
  t.equal(ollama.last.body.toString(), '{"model":"qwen3:8b", "max_tokens": 8192, "messages":[]}')
  await post(r, '{"model":"qwen3:8b", "max_tokens": 4096, "messages":[]}')
  t.equal(ollama.last.body.toString(), '{"model":"qwen3:8b", "max_tokens": 4096, "messages":[]}')
})

t.test('count_tokens is never sent to Ollama (it has no such route)', async (t) => {
  const before = ollama.requests.length
  const res = await post(seed, '{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"count these words please"}]}', {}, '/v1/messages/count_tokens')
  t.equal(ollama.requests.length, before, 'Ollama was not asked')
  // CONTRACT §4: "provider's counter, else a local estimate flagged by x-cc-relay-estimate: true".
  t.test('the relay answers with its own estimate', async (t) => {
    t.equal(res.status, 200)
    t.equal(res.headers.get('x-cc-relay-estimate'), 'true')
    const { input_tokens } = JSON.parse(res.text) as { input_tokens: number }
    t.ok(input_tokens > 0, `an estimate of ${input_tokens} tokens`)
  })
})

t.test("Ollama's errors pass through verbatim", async (t) => {
  const original = ollama.handler
  ollama.handler = (_req, res) =>
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"type":"error","error":{"type":"not_found_error","message":"model \'qwen3:32b\' not found"},"request_id":"req_abc"}')
  const res = await post(seed, '{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[]}')
  ollama.handler = original
  t.equal(res.status, 404)
  t.equal(res.text, '{"type":"error","error":{"type":"not_found_error","message":"model \'qwen3:32b\' not found"},"request_id":"req_abc"}')
})

t.test("no credential reaches Ollama: neither the client's Anthropic login nor another provider's key", async (t) => {
  const r = await relay(`
server: { auth: { allow_subscription: true } }
providers:
  - name: claude
    type: anthropic
    base_url: "${backup.url}"
    keys: [{ key: "sk-ant-team-key" }]
    models: ["claude-opus-4-8"]
  - name: local
    type: ollama
    base_url: "${ollama.url}"
    keys: [{ key: "ollama" }]
    model_mapping: { "claude-sonnet-4-5": "qwen3:32b" }
`)
  const client = { 'x-api-key': 'sk-ant-api03-client-key', authorization: 'Bearer sk-ant-oat01-client-login' }
  const res = await post(r, '{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[]}', client)
  t.equal(res.status, 200)
  const seen = JSON.stringify(ollama.last.headers) + ollama.last.body.toString()
  t.notMatch(seen, /sk-ant-|ollama"/, 'no client credential, no pooled key value, no other provider key')
  for (const name of CREDENTIAL_HEADERS) t.notOk(ollama.last.headers[name])
  const claude = await post(r, '{"model":"claude-opus-4-8","max_tokens":5,"messages":[]}', client)
  t.equal(claude.status, 200)
  t.equal(backup.last.headers.authorization, 'Bearer sk-ant-oat01-client-login', 'the anthropic provider got the login (allow_subscription)')
})
