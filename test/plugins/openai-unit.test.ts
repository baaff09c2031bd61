/**
 * The openai plugin's translation, both ways, with the core's real body tools: Messages → Chat
 * Completions (nothing Anthropic-only left, tool ids paired, options honoured, refusals), Chat
 * Completions chunks → Anthropic events (blocks, tool-call fragments, reasoning fields, usage, stop
 * reasons, errors, cut streams), whole answers and error bodies.
 */
import t from 'tap'
import openai from '../../plugins/openai/index.js'
import type { EmitEvent, PrepareInput, ResponseTranslator, Route } from '../../plugins/sdk.js'
import { bodyTools, RejectedRequest } from '../../src/shared/json-edit.js'
import { invalidChatRequest } from '../helpers/openai-mock.js'

type Json = Record<string, unknown>
const text = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8')

function input(body: Json, over: Partial<PrepareInput<Json>> = {}): PrepareInput<Json> {
  return {
    route: 'messages' as Route,
    requestId: 'req_ccr_test',
    model: 'gpt-5-mini',
    stream: body.stream === true,
    query: '',
    headers: { 'anthropic-version': '2023-06-01', 'anthropic-beta': 'claude-code-20250219,context-management-2025-06-27', 'user-agent': 'claude-cli/2.1.328', 'content-type': 'application/json' },
    baseUrl: 'https://api.openai.com/v1',
    options: {},
    ...over,
    body: Buffer.from(JSON.stringify(body)),
  }
}

const prepared = (body: Json, over: Partial<PrepareInput<Json>> = {}) => {
  const spec = openai.prepare(input(body, over), bodyTools)
  return { spec, body: JSON.parse(text(spec.body)) as Json }
}

/** A Claude Code turn: system blocks with cache_control, an in-conversation system message, 12 tools, adaptive thinking, context_management, output_config. */
function claudeCodeTurn(): Json {
  const tools = Array.from({ length: 12 }, (_, i) => ({
    name: `tool_${i}`,
    description: `tool number ${i}`,
    input_schema: { type: 'object', properties: { arg: { type: 'string' } }, required: ['arg'] },
    ...(i === 11 ? { cache_control: { type: 'ephemeral' } } : {}),
  }))
  return {
    model: 'claude-sonnet-4-5',
    max_tokens: 32000,
    stream: true,
    system: [
      { type: 'text', text: 'x-anthropic-billing-header: cc_version=2.1.328' },
      { type: 'text', text: 'You are Claude Code.', cache_control: { type: 'ephemeral', ttl: '1h' } },
    ],
    messages: [
      { role: 'user', content: [{ type: 'text', text: '<system-reminder>ctx</system-reminder>' }, { type: 'text', text: 'list the files', cache_control: { type: 'ephemeral' } }] },
      {
        role: 'assistant',
        content: [
          { type: 'thinking', thinking: 'I should call a tool', signature: 'EqQBCgIYAhIM' },
          { type: 'text', text: 'Listing.' },
          { type: 'tool_use', id: 'toolu_01', name: 'tool_0', input: { arg: 'ls' } },
          { type: 'tool_use', id: 'toolu_02', name: 'tool_1', input: { arg: 'pwd' } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_01', content: [{ type: 'text', text: 'a.txt\nb.txt' }] },
          { type: 'tool_result', tool_use_id: 'toolu_02', content: 'no such directory', is_error: true },
          { type: 'text', text: 'now summarise' },
        ],
      },
      { role: 'system', content: 'mid-conversation system note' },
    ],
    tools,
    tool_choice: { type: 'auto', disable_parallel_tool_use: true },
    thinking: { type: 'adaptive' },
    output_config: { effort: 'high' },
    context_management: { edits: [{ type: 'clear_tool_uses_20250919' }] },
    metadata: { user_id: '{"device_id":"d1","session_id":"s1"}' },
    temperature: 1,
  }
}

const ANTHROPIC_ONLY = ['system', 'stop_sequences', 'thinking', 'context_management', 'output_config', 'cache_control', 'anthropic_version', 'anthropic_beta', 'signature', 'input_schema', 'tool_use_id']

t.test('a Claude Code turn is translated with nothing Anthropic-only left', async (t) => {
  const { spec, body } = prepared(claudeCodeTurn())
  t.equal(spec.url, 'https://api.openai.com/v1/chat/completions')
  t.same(Object.keys(spec.headers).sort(), ['accept', 'content-type', 'user-agent'], 'no anthropic-* headers, no credential')
  t.equal(invalidChatRequest(body), undefined, 'OpenAI would accept it')
  const raw = text(spec.body)
  for (const key of ANTHROPIC_ONLY) t.notOk(raw.includes(`"${key}":`), `no "${key}" member anywhere in the body`)
  t.equal(body.model, 'gpt-5-mini')
  t.equal(body.max_completion_tokens, 32000, 'api.openai.com gets max_completion_tokens')
  t.notOk('max_tokens' in body)
  t.same(body.stream_options, { include_usage: true })
  t.equal(body.user, '{"device_id":"d1","session_id":"s1"}')
  t.equal(body.parallel_tool_calls, false)
  t.equal(body.tool_choice, 'auto')
  t.equal((body.tools as unknown[]).length, 12)
  t.same((body.tools as Json[])[0], { type: 'function', function: { name: 'tool_0', description: 'tool number 0', parameters: { type: 'object', properties: { arg: { type: 'string' } }, required: ['arg'] } } })
  const messages = body.messages as Json[]
  t.same(messages.map((m) => m.role), ['system', 'user', 'assistant', 'tool', 'tool', 'user', 'system'])
  t.equal(messages[0]!.content, 'x-anthropic-billing-header: cc_version=2.1.328\n\nYou are Claude Code.')
  t.same(messages[1]!.content, [{ type: 'text', text: '<system-reminder>ctx</system-reminder>' }, { type: 'text', text: 'list the files' }])
  t.same(messages[2], {
    role: 'assistant',
    content: 'Listing.',
    tool_calls: [
      { id: 'toolu_01', type: 'function', function: { name: 'tool_0', arguments: '{"arg":"ls"}' } },
      { id: 'toolu_02', type: 'function', function: { name: 'tool_1', arguments: '{"arg":"pwd"}' } },
    ],
  }, 'thinking dropped, tool_use → tool_calls with JSON-string arguments')
  t.same(messages[3], { role: 'tool', tool_call_id: 'toolu_01', content: 'a.txt\nb.txt' })
  t.same(messages[4], { role: 'tool', tool_call_id: 'toolu_02', content: 'no such directory' }, 'an error result keeps its text')
  t.same(messages[5], { role: 'user', content: 'now summarise' }, "the turn's text after its tool results")
  t.same(messages[6], { role: 'system', content: 'mid-conversation system note' })
  t.notOk('reasoning_effort' in body, 'reasoning_effort only where the option says so')
  t.match(spec.notes?.join('\n'), /reasoning_effort is off/)
})

t.test('options: max_tokens elsewhere, reasoning_effort, top_k', async (t) => {
  const turn = { ...claudeCodeTurn(), top_k: 40 }
  const local = prepared(turn, { baseUrl: 'http://127.0.0.1:8000/v1' }).body
  t.equal(local.max_tokens, 32000, 'other hosts get max_tokens')
  t.notOk('top_k' in local)
  const on = prepared(turn, { baseUrl: 'http://127.0.0.1:8000/v1', options: { reasoning_effort: true, top_k: true, max_tokens_field: 'max_completion_tokens' } }).body
  t.equal(on.reasoning_effort, 'high', 'output_config.effort')
  t.equal(on.top_k, 40)
  t.equal(on.max_completion_tokens, 32000)
  const budgets: [number, string][] = [[2048, 'low'], [8000, 'medium'], [32000, 'high']]
  for (const [budget, effort] of budgets) {
    const b = prepared({ model: 'm', max_tokens: 40000, messages: [{ role: 'user', content: 'hi' }], thinking: { type: 'enabled', budget_tokens: budget } }, { options: { reasoning_effort: true } }).body
    t.equal(b.reasoning_effort, effort, `budget ${budget} → ${effort}`)
  }
  const off = prepared({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }], thinking: { type: 'disabled' } }, { options: { reasoning_effort: true } }).body
  t.notOk('reasoning_effort' in off)
})

t.test('tool_choice, stop sequences, images, documents', async (t) => {
  const base = { model: 'm', max_tokens: 10, tools: [{ name: 'f', input_schema: { type: 'object' } }] }
  const choice = (c: Json) => prepared({ ...base, messages: [{ role: 'user', content: 'x' }], tool_choice: c }).body.tool_choice
  t.equal(choice({ type: 'any' }), 'required')
  t.equal(choice({ type: 'none' }), 'none')
  t.same(choice({ type: 'tool', name: 'f' }), { type: 'function', function: { name: 'f' } })
  const b = prepared({
    model: 'm',
    max_tokens: 10,
    stop_sequences: ['END'],
    messages: [
      {
        role: 'user',
        content: [
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
          { type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } },
          { type: 'document', title: 'notes', source: { type: 'text', media_type: 'text/plain', data: 'the notes' } },
          { type: 'text', text: 'describe' },
        ],
      },
    ],
  }).body
  t.same(b.stop, ['END'])
  t.same((b.messages as Json[])[0]!.content, [
    { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
    { type: 'image_url', image_url: { url: 'https://example.com/a.png' } },
    { type: 'text', text: 'notes\n\nthe notes' },
    { type: 'text', text: 'describe' },
  ])
  const pdf = { model: 'm', max_tokens: 10, messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0=' } }] }] }
  const refusal = (() => {
    try {
      openai.prepare(input(pdf), bodyTools)
    } catch (err) {
      return err
    }
  })()
  t.ok(refusal instanceof RejectedRequest, 'a refusal (the next candidate is tried), not a fault')
  t.match((refusal as Error).message, /messages\[0\]\.content\[0\] is a PDF document/)
})

t.test('Anthropic server tools: refused by default, dropped with server_tools: drop', async (t) => {
  const body = { model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'web_search_20250305', name: 'web_search', max_uses: 5 }, { name: 'f', input_schema: { type: 'object' } }] }
  t.throws(() => openai.prepare(input(body), bodyTools), /tools\[0\] is the Anthropic server tool web_search_20250305/)
  const { spec, body: out } = prepared(body, { options: { server_tools: 'drop' } })
  t.same((out.tools as Json[]).map((x) => (x.function as Json).name), ['f'])
  t.match(spec.notes?.join('\n'), /dropped the Anthropic server tool web_search/)
})

t.test('unknown fields are dropped, and the notes say which', async (t) => {
  const { spec, body } = prepared({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'x' }], future_field: 1 })
  t.notOk('future_field' in body)
  t.match(spec.notes?.join('\n'), /future_field/)
})

/** Runs a translator over Chat Completions chunks; returns the Anthropic events it emitted. */
function translate(chunks: readonly (Json | string)[], opts: { end?: boolean; body?: Json } = {}): { event: string; data: Json }[] {
  const req = input(opts.body ?? { model: 'm', max_tokens: 10, stream: true, messages: [{ role: 'user', content: 'x' }] })
  const tr = openai.translator!(req) as ResponseTranslator
  const out: { event: string; data: Json }[] = []
  const emit: EmitEvent = (event, data) => out.push({ event, data: JSON.parse(data) as Json })
  for (const c of chunks) tr.onEvent({ event: 'message', data: typeof c === 'string' ? c : JSON.stringify(c) }, emit)
  if (opts.end !== false) tr.onEnd?.(emit)
  return out
}

const chunk = (delta: Json, finish: string | null = null, extra: Json = {}): Json => ({ id: 'chatcmpl-1', object: 'chat.completion.chunk', model: 'gpt-5-mini-2025', choices: [{ index: 0, delta, finish_reason: finish, ...extra }] })
const usageChunk = (prompt: number, cached: number, completion: number): Json => ({ id: 'chatcmpl-1', choices: [], usage: { prompt_tokens: prompt, completion_tokens: completion, prompt_tokens_details: { cached_tokens: cached } } })

t.test('stream: message_start first, a text block, usage from the usage chunk in message_delta', async (t) => {
  const events = translate([chunk({ role: 'assistant', content: '' }), chunk({ content: 'Hel' }), chunk({ content: 'lo' }), chunk({}, 'stop'), usageChunk(100, 60, 7), '[DONE]'])
  t.same(events.map((e) => e.event), ['message_start', 'content_block_start', 'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop'])
  const start = events[0]!.data.message as Json
  t.equal(start.id, 'chatcmpl-1')
  t.equal(start.model, 'gpt-5-mini-2025', 'the model the first chunk reports')
  t.same(events[1]!.data.content_block, { type: 'text', text: '' }, 'the empty first content opened no block of its own')
  t.same(events.slice(2, 4).map((e) => (e.data.delta as Json).text), ['Hel', 'lo'])
  t.same(events[5]!.data, { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { input_tokens: 40, cache_read_input_tokens: 60, output_tokens: 7 } })
})

t.test('stream: reasoning fields become a thinking block before the text', async (t) => {
  for (const field of ['reasoning', 'reasoning_content']) {
    const events = translate([chunk({ [field]: 'let me ' }), chunk({ [field]: 'think' }), chunk({ content: 'Answer' }), chunk({}, 'stop'), '[DONE]'])
    const starts = events.filter((e) => e.event === 'content_block_start').map((e) => (e.data.content_block as Json).type)
    t.same(starts, ['thinking', 'text'], field)
    t.same(events.filter((e) => (e.data.delta as Json | undefined)?.type === 'thinking_delta').map((e) => (e.data.delta as Json).thinking), ['let me ', 'think'])
  }
  const details = translate([chunk({ reasoning_details: [{ type: 'reasoning.text', text: 'step one' }] }), chunk({}, 'stop'), '[DONE]'])
  t.equal((details[2]!.data.delta as Json).thinking, 'step one', "OpenRouter's reasoning_details")
})

t.test('stream: tool calls in fragments, parallel, and Ollama reusing index 0', async (t) => {
  const call = (index: number, id: string | undefined, name: string | undefined, args: string): Json => chunk({ tool_calls: [{ index, ...(id ? { id, type: 'function' } : {}), function: { ...(name ? { name } : {}), arguments: args } }] })
  for (const [label, second] of [['indices 0 and 1', 1], ['Ollama: both at index 0', 0]] as const) {
    const events = translate([chunk({ content: 'Calling.' }), call(0, 'call_a', 'read', ''), call(0, undefined, undefined, '{"pa'), call(0, undefined, undefined, 'th":"a"}'), call(second, 'call_b', 'read', '{"path":"b"}'), chunk({}, 'tool_calls'), '[DONE]'])
    const blocks = events.filter((e) => e.event === 'content_block_start').map((e) => e.data.content_block as Json)
    t.same(blocks, [{ type: 'text', text: '' }, { type: 'tool_use', id: 'call_a', name: 'read', input: {} }, { type: 'tool_use', id: 'call_b', name: 'read', input: {} }], label)
    const json = (index: number) => events.filter((e) => e.event === 'content_block_delta' && e.data.index === index).map((e) => (e.data.delta as Json).partial_json).join('')
    t.equal(json(1), '{"path":"a"}')
    t.equal(json(2), '{"path":"b"}')
    t.equal((events.find((e) => e.event === 'message_delta')!.data.delta as Json).stop_reason, 'tool_use')
  }
})

t.test('stream: stop reasons', async (t) => {
  const stopOf = (finish: string, extra: Json = {}, body?: Json) => (translate([chunk({ content: 'x' }), chunk({}, finish, extra), '[DONE]'], { body }).find((e) => e.event === 'message_delta')!.data.delta as Json)
  t.equal(stopOf('length').stop_reason, 'max_tokens')
  t.equal(stopOf('content_filter').stop_reason, 'refusal')
  const withStops = { model: 'm', max_tokens: 10, stream: true, stop_sequences: ['END'], messages: [{ role: 'user', content: 'x' }] }
  t.same(stopOf('stop', { stop_reason: 'END' }, withStops), { stop_reason: 'stop_sequence', stop_sequence: 'END' }, "vLLM's stop_reason names the sequence")
  t.same(stopOf('stop', { stop_reason: 'OTHER' }, withStops), { stop_reason: 'end_turn', stop_sequence: null })
})

t.test('stream: an error chunk, a cut stream and a stream with no chunks end in event: error', async (t) => {
  const errored = translate([chunk({ content: 'partial' }), { error: { message: 'Provider returned error', code: 502 } }, chunk({ content: 'ignored' })])
  t.equal(errored[errored.length - 1]!.event, 'error', 'the error is last')
  t.match(errored[errored.length - 1]!.data, { type: 'error', error: { type: 'api_error', message: 'Provider returned error' }, request_id: 'req_ccr_test' })
  t.notOk(errored.some((e) => e.event === 'message_stop'))
  const finishError = translate([chunk({ content: 'x' }), chunk({}, 'error')])
  t.equal(finishError[finishError.length - 1]!.event, 'error', 'finish_reason: "error"')
  const cut = translate([chunk({ content: 'x' })])
  t.equal(cut[cut.length - 1]!.event, 'error', 'no finish and no [DONE]')
  t.match(cut[cut.length - 1]!.data, { error: { message: /ended before the answer finished/ } })
  const empty = translate([])
  t.same(empty.map((e) => e.event), ['error'])
  const garbage = translate(['{not json'])
  t.same(garbage.map((e) => e.event), ['error'])
})

t.test('whole answers and error bodies', async (t) => {
  const tr = openai.translator!(input({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }))!
  const whole = JSON.parse(
    tr.onWhole!(
      JSON.stringify({
        id: 'chatcmpl-9',
        object: 'chat.completion',
        model: 'deepseek-reasoner',
        choices: [{ index: 0, message: { role: 'assistant', content: 'Done.', reasoning_content: 'hmm', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }] }, finish_reason: 'tool_calls' }],
        usage: { prompt_tokens: 50, completion_tokens: 5, prompt_tokens_details: { cached_tokens: 20 } },
      }),
    ) as string,
  ) as Json
  t.same(whole, {
    id: 'chatcmpl-9',
    type: 'message',
    role: 'assistant',
    model: 'deepseek-reasoner',
    content: [{ type: 'thinking', thinking: 'hmm', signature: '' }, { type: 'text', text: 'Done.' }, { type: 'tool_use', id: 'call_1', name: 'f', input: { a: 1 } }],
    stop_reason: 'tool_use',
    stop_sequence: null,
    usage: { input_tokens: 30, cache_read_input_tokens: 20, output_tokens: 5, cache_creation_input_tokens: 0 },
  })
  t.match(tr.onWhole!('{"error":{"message":"upstream model crashed"}}'), { status: 502, type: 'api_error', message: 'upstream model crashed' })
  t.match(tr.onWhole!('not json'), { status: 502, type: 'api_error' })
  const map = openai.mapError!
  t.same(map(400, {}, '{"error":{"message":"This model\'s maximum context length is 128000 tokens.","type":"invalid_request_error"}}'), {
    status: 400,
    type: 'invalid_request_error',
    message: "upstream 400: This model's maximum context length is 128000 tokens.",
  })
  t.match(map(401, {}, '{"error":{"message":"Incorrect API key provided."}}'), { status: 401, type: 'authentication_error' })
  t.match(map(403, {}, 'forbidden'), { status: 403, type: 'permission_error', message: 'upstream 403: forbidden' })
  t.match(map(404, {}, '{}'), { status: 404, type: 'not_found_error' })
  t.match(map(429, {}, '{"error":{"message":"Rate limit reached"}}'), { status: 429, type: 'rate_limit_error' })
  t.match(map(422, {}, '{"object":"error","message":"bad param"}'), { status: 400, type: 'invalid_request_error', message: 'upstream 422: bad param' })
  t.match(map(503, {}, '<html>down</html>'), { status: 503, type: 'api_error' })
  t.equal(map(200, {}, ''), undefined)
})

t.test('the translator never throws on garbage, and the stream it makes ends in exactly one error event', async (t) => {
  const GARBAGE = ['', 'null', '[]', '{"choices":null}', '{"choices":[null]}', '{"choices":[{"delta":{"tool_calls":[null,{"function":7}]}}]}', '{"usage":"x"}', '\u0000']
  const body = input({ model: 'm', max_tokens: 10, stream: true, messages: [{ role: 'user', content: 'x' }] })
  /** Feeds `datas`, then the end; what the client would get, as event names. */
  const translate = (datas: readonly string[]): string[] => {
    const tr = openai.translator!(body)!
    const events: string[] = []
    const emit: EmitEvent = (event) => void events.push(event)
    for (const data of datas) t.doesNotThrow(() => tr.onEvent({ event: 'message', data }, emit), JSON.stringify(data))
    t.doesNotThrow(() => tr.onEnd?.(emit))
    return events
  }
  const endsInOneError = (events: string[], what: string): void => {
    t.equal(events.at(-1), 'error', `${what}: the output ends in an error event (${events.join(', ')})`)
    t.equal(events.filter((e) => e === 'error').length, 1, `${what}: exactly one error event`)
  }
  endsInOneError(translate(GARBAGE), 'all of the garbage')
  for (const data of GARBAGE) endsInOneError(translate([data]), JSON.stringify(data))
})
