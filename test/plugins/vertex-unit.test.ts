/**
 * The vertex plugin's pure parts, with the core's real body tools: API roots per region, the URL and body
 * of each route, header handling, the `cache_control.scope` removal and the Google error mapping.
 */
import t from 'tap'
import vertex, { CLOUD_PLATFORM_SCOPE } from '../../plugins/vertex/index.js'
import type { VertexOptions } from '../../plugins/vertex/index.js'
import type { PrepareInput, Route } from '../../plugins/sdk.js'
import { bodyTools } from '../../src/shared/json-edit.js'
import { claudeCodeBody } from '../fixtures/anthropic.js'

const text = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8')
const OPTIONS: VertexOptions = { gcp_project_id: 'my-proj', gcp_region: 'us-east5' }

function input(over: Partial<Omit<PrepareInput<VertexOptions>, 'body'>> & { body?: string } = {}): PrepareInput<VertexOptions> {
  const { body, ...rest } = over
  return {
    route: 'messages' as Route,
    requestId: 'req_ccr_test',
    model: 'claude-sonnet-4-5@20250929',
    stream: true,
    query: '',
    headers: { 'anthropic-version': '2023-06-01', 'anthropic-beta': 'interleaved-thinking-2025-05-14,prompt-caching-scope-2026-01-05', 'content-type': 'application/json' },
    baseUrl: 'https://us-east5-aiplatform.googleapis.com',
    options: OPTIONS,
    ...rest,
    body: Buffer.from(body ?? claudeCodeBody('claude-sonnet-4-5@20250929', true)),
  }
}

t.test('defaultBaseUrl: regional hosts, global, and the us/eu multi-regions', async (t) => {
  const root = (gcp_region: string) => vertex.defaultBaseUrl({ gcp_project_id: 'p', gcp_region })
  t.equal(root('us-east5'), 'https://us-east5-aiplatform.googleapis.com')
  t.equal(root('europe-west1'), 'https://europe-west1-aiplatform.googleapis.com')
  t.equal(root('global'), 'https://aiplatform.googleapis.com', 'global has no region prefix (the seed built global-aiplatform…)')
  t.equal(root('us'), 'https://aiplatform.us.rep.googleapis.com')
  t.equal(root('eu'), 'https://aiplatform.eu.rep.googleapis.com')
})

t.test('auth: Google OAuth with the cloud-platform scope; the key file when configured, else ADC', async (t) => {
  const auth = vertex.auth as (o: VertexOptions) => unknown
  t.same(auth(OPTIONS), { kind: 'google', scopes: [CLOUD_PLATFORM_SCOPE] })
  t.same(auth({ ...OPTIONS, gcp_credentials_file: '/etc/sa.json' }), { kind: 'google', scopes: [CLOUD_PLATFORM_SCOPE], keyFile: '/etc/sa.json' })
  t.equal(CLOUD_PLATFORM_SCOPE, 'https://www.googleapis.com/auth/cloud-platform')
  t.equal(vertex.clientCredentials, 'never')
  t.same(vertex.routes, ['messages', 'count_tokens'])
  t.equal(vertex.framing, 'sse')
  t.equal(vertex.translator, undefined, 'answers pass through byte for byte')
})

t.test('messages: model into the URL, streamRawPredict or rawPredict, body edited in place', async (t) => {
  const req = input()
  const spec = vertex.prepare(req, bodyTools)
  t.equal(spec.url, 'https://us-east5-aiplatform.googleapis.com/v1/projects/my-proj/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict')
  // Exactly two edits; every other byte as the client sent it (odd spacing, unknown fields, `stream`).
  const wanted = claudeCodeBody('claude-sonnet-4-5@20250929', true).replace(/^\{"model": "claude-sonnet-4-5@20250929",/, '{').replace(/\}$/, ',"anthropic_version":"vertex-2023-10-16"}')
  t.equal(text(spec.body), wanted)
  t.equal(spec.notes, undefined, 'nothing removed')
  t.notOk('anthropic-version' in spec.headers, 'anthropic-version header removed: Vertex reads the version from the body')
  t.equal(spec.headers['anthropic-beta'], 'interleaved-thinking-2025-05-14,prompt-caching-scope-2026-01-05', 'anthropic-beta kept as a header, unfiltered, as the Vertex SDK sends it')
  t.equal(spec.headers['content-type'], 'application/json')
  t.equal(req.headers['anthropic-version'], '2023-06-01', "the input's headers are not mutated")

  const plain = vertex.prepare(input({ stream: false, body: claudeCodeBody('claude-sonnet-4-5@20250929', false) }), bodyTools)
  t.match(plain.url, /\/models\/claude-sonnet-4-5@20250929:rawPredict$/)
  t.match(text(plain.body), /"stream":false/, 'stream stays in the body (the SDK keeps it)')
})

t.test('base_url: the API root, or one already ending in /v1, never doubled', async (t) => {
  for (const baseUrl of ['http://127.0.0.1:9000', 'http://127.0.0.1:9000/v1']) {
    t.equal(vertex.prepare(input({ baseUrl }), bodyTools).url, 'http://127.0.0.1:9000/v1/projects/my-proj/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict')
  }
  t.equal(
    vertex.prepare(input({ baseUrl: 'https://proxy.example/vertex', options: { gcp_project_id: 'p-1', gcp_region: 'global' } }), bodyTools).url,
    'https://proxy.example/vertex/v1/projects/p-1/locations/global/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict',
  )
})

t.test('model path segment encoded as the Vertex SDK does; unsafe segments refused', async (t) => {
  const url = (model: string) => vertex.prepare(input({ model }), bodyTools).url.replace(/^.*\/models\//, '')
  t.equal(url('claude-opus-4-6'), 'claude-opus-4-6:streamRawPredict')
  t.equal(url('claude-haiku-4-5@20251001'), 'claude-haiku-4-5@20251001:streamRawPredict', '@ is a pchar, kept')
  t.equal(url('a/../b'), 'a%2F..%2Fb:streamRawPredict', 'a slash cannot leave the models collection')
  t.equal(url('x;y'), 'x%3By:streamRawPredict', '; sent as %3B (vertex-sdk 1.1.3)')
  t.equal(url('m x?#'), 'm%20x%3F%23:streamRawPredict')
  for (const model of ['.', '..']) t.throws(() => vertex.prepare(input({ model }), bodyTools), { message: /cannot be a Vertex AI model path segment/ })
})

t.test('count_tokens: the count-tokens publisher model, with the model kept in the body', async (t) => {
  const body = '{"model":"claude-sonnet-4-5@20250929","messages":[{"role":"user","content":"hi"}]}'
  const spec = vertex.prepare(input({ route: 'count_tokens', stream: false, body }), bodyTools)
  t.equal(spec.url, 'https://us-east5-aiplatform.googleapis.com/v1/projects/my-proj/locations/us-east5/publishers/anthropic/models/count-tokens:rawPredict')
  t.equal(text(spec.body), '{"model":"claude-sonnet-4-5@20250929","messages":[{"role":"user","content":"hi"}],"anthropic_version":"vertex-2023-10-16"}')
})

t.test('cache_control.scope removed where the API puts cache_control, nowhere else, bytes kept', async (t) => {
  const body =
    '{"model":"m","system":[{"type":"text","text":"a","cache_control":{"type":"ephemeral","scope":"global"}},' +
    '{"type":"text","text":"b","cache_control":{ "scope" : "global" , "type":"ephemeral","ttl":"1h"}}],' +
    '"tools":[{"name":"t","input_schema":{"type":"object","properties":{"cache_control":{"type":"object","scope":"kept: a schema property"}}},"cache_control":{"scope":"global"}}],' +
    '"messages":[{"role":"user","content":[{"type":"text","text":"\\"scope\\": in text","cache_control":{"type":"ephemeral","scope":"global"}},' +
    '{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"r","cache_control":{"type":"ephemeral","scope":"global"}}]}]},' +
    '{"role":"assistant","content":[{"type":"tool_use","id":"toolu_2","name":"t","input":{"n":12345678901234567890,"cache_control":{"scope":"kept: tool input"}}}]}],' +
    '"cache_control":{"type":"ephemeral","scope":"global"},"max_tokens":5}'
  const spec = vertex.prepare(input({ body, stream: false, model: 'm' }), bodyTools)
  const wanted =
    '{"system":[{"type":"text","text":"a","cache_control":{"type":"ephemeral"}},' +
    '{"type":"text","text":"b","cache_control":{ "type":"ephemeral","ttl":"1h"}}],' +
    '"tools":[{"name":"t","input_schema":{"type":"object","properties":{"cache_control":{"type":"object","scope":"kept: a schema property"}}},"cache_control":{}}],' +
    '"messages":[{"role":"user","content":[{"type":"text","text":"\\"scope\\": in text","cache_control":{"type":"ephemeral"}},' +
    '{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"r","cache_control":{"type":"ephemeral"}}]}]},' +
    '{"role":"assistant","content":[{"type":"tool_use","id":"toolu_2","name":"t","input":{"n":12345678901234567890,"cache_control":{"scope":"kept: tool input"}}}]}],' +
    '"cache_control":{"type":"ephemeral"},"max_tokens":5,"anthropic_version":"vertex-2023-10-16"}'
  t.equal(text(spec.body), wanted)
  t.same(spec.notes, ['removed cache_control.scope from 6 blocks (Vertex AI rejects it)'])
  const none = vertex.prepare(input({ body: '{"model":"m","messages":[{"role":"user","content":"scope creep"}]}', model: 'm' }), bodyTools)
  t.equal(none.notes, undefined, 'the word scope elsewhere changes nothing')
})

t.test('mapError: Google envelopes → Anthropic errors; Anthropic envelopes kept or unwrapped', async (t) => {
  const map = (status: number, body: string) => vertex.mapError!(status, {}, body)
  const g = (code: number, status: string, message = `${status} happened`) => JSON.stringify({ error: { code, message, status } })
  const table: [number, string, number, string][] = [
    [429, 'RESOURCE_EXHAUSTED', 429, 'rate_limit_error'],
    [403, 'PERMISSION_DENIED', 403, 'permission_error'],
    [401, 'UNAUTHENTICATED', 401, 'authentication_error'],
    [404, 'NOT_FOUND', 404, 'not_found_error'],
    [400, 'INVALID_ARGUMENT', 400, 'invalid_request_error'],
    [400, 'FAILED_PRECONDITION', 400, 'invalid_request_error'],
    [503, 'UNAVAILABLE', 529, 'overloaded_error'],
    [504, 'DEADLINE_EXCEEDED', 504, 'timeout_error'],
    [500, 'INTERNAL', 500, 'api_error'],
    [400, 'OUT_OF_RANGE', 400, 'invalid_request_error'],
    [501, 'UNIMPLEMENTED', 400, 'invalid_request_error'],
    [409, 'ABORTED', 409, 'conflict_error'],
    [500, 'UNKNOWN', 500, 'api_error'],
  ]
  for (const [code, status, wantStatus, wantType] of table) {
    // Only RESOURCE_EXHAUSTED (the project's quota, or shared capacity) is declared provider-wide.
    const scope = status === 'RESOURCE_EXHAUSTED' ? { scope: 'provider' } : {}
    t.same(map(code, g(code, status)), { status: wantStatus, type: wantType, message: `${status} happened`, ...scope }, status)
  }
  const quota =
    'Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model with base model: anthropic-claude-sonnet-4-5. Please submit a quota increase request.'
  t.same(map(429, `[${g(429, 'RESOURCE_EXHAUSTED', quota)}]`), { status: 429, type: 'rate_limit_error', message: quota, scope: 'provider' }, 'the array-wrapped form')
  t.same(map(502, JSON.stringify({ error: { code: 502, message: 'bad gateway' } })), { status: 502, type: 'api_error', message: 'bad gateway' }, 'no status: by HTTP code')
  t.same(map(503, JSON.stringify({ error: { code: 503, status: 'UNAVAILABLE' } })), { status: 529, type: 'overloaded_error', message: 'UNAVAILABLE' }, 'no message')

  const inner = { type: 'error', error: { type: 'invalid_request_error', message: 'messages.1.content.0: Invalid `signature` in `thinking` block' }, request_id: 'req_vrtx_011CA' }
  t.same(
    map(400, g(400, 'INVALID_ARGUMENT', JSON.stringify(inner))),
    { status: 400, type: 'invalid_request_error', message: 'messages.1.content.0: Invalid `signature` in `thinking` block' },
    'a wrapped Anthropic error unwrapped, wording verbatim',
  )
  const overloaded = { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }
  t.same(map(400, g(400, 'INVALID_ARGUMENT', `upstream said: ${JSON.stringify(overloaded)}`)), { status: 529, type: 'overloaded_error', message: 'Overloaded' }, 'status from the inner type')

  t.equal(map(400, JSON.stringify(inner)), undefined, "Anthropic's own envelope passes through verbatim")
  t.equal(map(502, '<html><body>Bad Gateway</body></html>'), undefined, 'not JSON: passed through')
  t.equal(map(500, '{"unexpected":true}'), undefined, 'neither envelope: passed through')
})
