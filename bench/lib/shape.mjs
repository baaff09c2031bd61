// The shape of one benchmark response, shared by the mock upstream (which sends it) and the load
// generator (which checks every byte of it). Deterministic: the same parameters always give the same
// bytes, so a lost, reordered or corrupted event is caught by comparing against the expectation.

/** Parameters travel in the `x-bench` request header as `key=value;key=value`. */
export const DEFAULTS = Object.freeze({
  events: 100, // content deltas per response
  bytes: 64, // text bytes per delta
  thinking: 0, // 1: a thinking block (thinking_delta + signature_delta) first
  tool: 0, // 1: a tool_use block streamed as input_json_delta after the text
  ttfe_ms: 0, // delay before the first byte
  gap_ms: 0, // delay between events after the opening (message_start, the first content_block_start and a ping, sent together)
  stream: 1, // 0: one JSON message instead of SSE
  format: 'sse', // sse | bedrock (AWS event-stream frames around base64 event JSON)
  fail: '', // e.g. "429:10" = every 10th request answers 429; "529:5", "reset:20" (reset mid-stream)
})

export function encodeParams(params) {
  return Object.entries(params)
    .map(([k, v]) => `${k}=${v}`)
    .join(';')
}

export function decodeParams(header) {
  const out = { ...DEFAULTS }
  for (const part of (header || '').split(';')) {
    const i = part.indexOf('=')
    if (i <= 0) continue
    const key = part.slice(0, i).trim()
    const raw = part.slice(i + 1).trim()
    if (!(key in DEFAULTS)) continue
    out[key] = typeof DEFAULTS[key] === 'number' ? Number(raw) : raw
  }
  return out
}

function text(n, i) {
  // Printable, JSON-safe, varies per event so a swapped pair of events is detected.
  const seed = `delta ${i} lorem ipsum dolor sit amet `
  let s = ''
  while (s.length < n) s += seed
  return s.slice(0, n)
}

/** The Anthropic events of one response, as objects, in order. */
export function eventObjects(p) {
  const ev = []
  const usage = { input_tokens: 1200, cache_creation_input_tokens: 0, cache_read_input_tokens: 3000, output_tokens: 1 }
  ev.push({ type: 'message_start', message: { id: 'msg_bench', type: 'message', role: 'assistant', content: [], model: 'claude-bench', stop_reason: null, stop_sequence: null, usage } })
  let index = 0
  if (p.thinking) {
    ev.push({ type: 'content_block_start', index, content_block: { type: 'thinking', thinking: '', signature: '' } })
    for (let i = 0; i < 4; i++) ev.push({ type: 'content_block_delta', index, delta: { type: 'thinking_delta', thinking: text(p.bytes, i) } })
    ev.push({ type: 'content_block_delta', index, delta: { type: 'signature_delta', signature: 'EqQBCgIYAhIM' + 'x'.repeat(200) } })
    ev.push({ type: 'content_block_stop', index })
    index++
  }
  ev.push({ type: 'content_block_start', index, content_block: { type: 'text', text: '' } })
  ev.push({ type: 'ping' })
  for (let i = 0; i < p.events; i++) ev.push({ type: 'content_block_delta', index, delta: { type: 'text_delta', text: text(p.bytes, i) } })
  ev.push({ type: 'content_block_stop', index })
  if (p.tool) {
    index++
    ev.push({ type: 'content_block_start', index, content_block: { type: 'tool_use', id: 'toolu_bench', name: 'Bash', input: {} } })
    for (const part of ['', '{"command": "ls', ' -la", "description": "list"}']) ev.push({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: part } })
    ev.push({ type: 'content_block_stop', index })
  }
  ev.push({ type: 'message_delta', delta: { stop_reason: p.tool ? 'tool_use' : 'end_turn', stop_sequence: null }, usage: { output_tokens: p.events * 2 } })
  ev.push({ type: 'message_stop' })
  return ev
}

/** The SSE frames of one response (one string per event). */
export function sseFrames(p) {
  return eventObjects(p).map((e) => `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`)
}

/** The non-streaming answer: the message the events add up to. */
export function messageJson(p) {
  const content = []
  for (const e of eventObjects(p)) {
    if (e.type === 'content_block_start') content.push({ ...e.content_block })
    if (e.type === 'content_block_delta') {
      const b = content[e.index]
      if (e.delta.type === 'text_delta') b.text += e.delta.text
      if (e.delta.type === 'thinking_delta') b.thinking += e.delta.thinking
      if (e.delta.type === 'signature_delta') b.signature = e.delta.signature
      if (e.delta.type === 'input_json_delta') b._json = (b._json ?? '') + e.delta.partial_json
    }
  }
  for (const b of content) if (b._json !== undefined) (b.input = JSON.parse(b._json || '{}')), delete b._json
  return JSON.stringify({ id: 'msg_bench', type: 'message', role: 'assistant', model: 'claude-bench', content, stop_reason: p.tool ? 'tool_use' : 'end_turn', stop_sequence: null, usage: { input_tokens: 1200, output_tokens: p.events * 2 } })
}

/**
 * A request body of about `size` bytes. `shape` 'prose' (the default): a long conversation of plain text
 * turns, few escapes (the `large-request` scenario's body since the first bench, kept so its figures stay
 * comparable). 'claude-code': what Claude Code sends mid-turn (claudeCodeBody).
 */
export function requestBody(size, stream, model = 'claude-bench', shape = 'prose') {
  if (shape === 'claude-code') return claudeCodeBody(size, stream, model)
  const head = `{"model":${JSON.stringify(model)},"max_tokens":32000,"stream":${stream ? 'true' : 'false'},"messages":[`
  const turns = []
  let length = head.length + 2
  let i = 0
  while (length < size) {
    const turn = JSON.stringify({ role: i % 2 ? 'assistant' : 'user', content: [{ type: 'text', text: text(Math.min(4000, Math.max(1, size - length)), i) }] })
    turns.push(turn)
    length += turn.length + 1
    i++
  }
  if (turns.length === 0 || JSON.parse(turns[turns.length - 1]).role !== 'user') turns.push('{"role":"user","content":"go on"}')
  return `${head}${turns.join(',')}]}`
}

// ---------------------------------------------------------------------------------------------------------
// A Claude Code request, for the `claude-code` scenario

/** Lines of a source file as Claude Code's Read tool returns them: quotes, backslashes, tabs, non-ASCII. */
const CODE = [
  String.raw`import { readFileSync } from 'node:fs'`,
  String.raw`import type { Config, Result } from "./types.js"`,
  '',
  String.raw`/** Parses one line of the config; returns the key and the raw value. */`,
  String.raw`export function parseLine(line: string, file = "C:\\Users\\dev\\config.ini"): Result {`,
  '\t' + String.raw`const match = /^\s*(\w+)\s*=\s*("[^"]*"|\S+)/.exec(line)`,
  '\t' + String.raw`if (!match) throw new Error(` + '`${file}: cannot parse "${line}"`)',
  '\t' + String.raw`return { ok: true, key: match[1], value: match[2].replace(/^"|"$/g, '') }`,
  '}',
  '',
  '// café, naïve, Grüße: non-ASCII in comments and strings — 日本語のコメント',
  String.raw`export const GREETING = "¡Hola, señor! \u00e9 is é"`,
  'for (const [key, value] of Object.entries(config)) {',
  "  if (typeof value !== 'string') continue",
  '  out.push(`${key}=${JSON.stringify(value)}`)',
  '}',
]

/** `cat -n`-style numbered lines, as the Read tool returns a file. */
function readResult(i, lines) {
  const out = []
  for (let n = 1; n <= lines; n++) out.push(`${String(n).padStart(6)}\t${CODE[(n + i) % CODE.length]}`)
  return out.join('\n')
}

/** Prose with markdown, as system prompts and tool descriptions are written. */
function instructions(i, paragraphs) {
  const out = []
  for (let k = 0; k < paragraphs; k++) {
    out.push(
      `# Section ${i}.${k}\n\n- When the user asks for a change, read the file first with the Read tool; never guess a file's contents.\n- Use "absolute paths" (e.g. \`/home/user/project/src/main.ts\`), not relative ones.\n- Keep answers short: fewer than 4 lines unless the user asks for detail — no preamble, no "Here is…".\n\nIMPORTANT: run the project's tests after editing (\`npm test\`, \`pytest -q\`); if they fail, fix them before you answer.\n`,
    )
  }
  return out.join('\n')
}

/** Claude Code's tools: long descriptions and JSON schemas (about 25 KB in all, like the real list). */
function tools() {
  const names = ['Task', 'Bash', 'Glob', 'Grep', 'LS', 'ExitPlanMode', 'Read', 'Edit', 'MultiEdit', 'Write', 'NotebookEdit', 'WebFetch', 'TodoWrite', 'WebSearch', 'BashOutput', 'KillShell']
  return names.map((name, i) => ({
    name,
    description: `${name}: ${instructions(i, 2)}\nUsage notes:\n  - The ${name} tool runs with the user's permissions; outputs over 30000 characters are truncated.\n  - Quote paths with spaces: cd "/Users/name/My Documents" (correct), cd /Users/name/My Documents (incorrect).`,
    input_schema: {
      type: 'object',
      properties: {
        [name === 'Bash' ? 'command' : 'file_path']: { type: 'string', description: `The ${name === 'Bash' ? 'command to execute' : 'absolute path to the file'}` },
        description: { type: 'string', description: 'Clear, concise description of what this does in 5-10 words' },
        timeout: { type: 'number', description: 'Optional timeout in milliseconds (max 600000)' },
        options: { type: 'array', items: { type: 'object', properties: { key: { type: 'string' }, value: { type: ['string', 'number', 'boolean'] } }, required: ['key'] } },
      },
      required: [name === 'Bash' ? 'command' : 'file_path'],
      additionalProperties: false,
      $schema: 'http://json-schema.org/draft-07/schema#',
    },
  }))
}

/**
 * What Claude Code sends in the middle of a turn, about `size` bytes: system blocks with cache_control,
 * the tools array, extended thinking, and a history of assistant turns (a thinking block with its
 * signature, text, a tool_use) each answered by a user turn carrying the tool_result (a file read with
 * code, or a command's output), ending on a tool_result with a cache breakpoint. Deterministic.
 */
export function claudeCodeBody(size, stream, model = 'claude-bench') {
  const system = [
    { type: 'text', text: "You are Claude Code, Anthropic's official CLI for Claude.", cache_control: { type: 'ephemeral' } },
    { type: 'text', text: `You are an interactive CLI tool that helps users with software engineering tasks.\n\n${instructions(0, 16)}`, cache_control: { type: 'ephemeral' } },
  ]
  const head = {
    model,
    max_tokens: 32000,
    thinking: { type: 'enabled', budget_tokens: 16000 },
    metadata: { user_id: 'user_5b1e0c0d2f8a4e6b9c3d7a1f0e2b4c6d8a0f1e3c5b7d9a2c4e6f8b0d1c3e5a7f_account__session_4f9c2b1e-7d3a-4c8e-9b2f-1a6d5e8c3b7f' },
    system,
    tools: tools(),
  }
  const messages = [
    {
      role: 'user',
      content: [
        { type: 'text', text: '<system-reminder>\nAs you answer the user\'s questions, you can use the following context:\n# claudeMd\nCodebase and user instructions are shown below. Be sure to adhere to these instructions.\n</system-reminder>' },
        { type: 'text', text: 'The test in test/config.test.ts fails on Windows paths like "C:\\Users\\dev" — find out why and fix it.' },
      ],
    },
  ]
  const fixed = JSON.stringify({ ...head, messages, stream: !!stream }).length
  let length = fixed
  for (let i = 0; length < size; i++) {
    const id = `toolu_01${String(i).padStart(4, '0')}Bench${'x'.repeat(12)}`
    const bash = i % 3 === 2
    const assistant = {
      role: 'assistant',
      content: [
        { type: 'thinking', thinking: `Step ${i}: the failure is in parseLine — the regex does not allow "\\" in unquoted values. ${text(400, i)}`, signature: `EqQBCkYIBxgCKkB${'aZ0+/'.repeat(60)}` },
        { type: 'text', text: bash ? 'Let me run the tests.' : `Let me read src/config/parse${i}.ts.` },
        { type: 'tool_use', id, name: bash ? 'Bash' : 'Read', input: bash ? { command: 'npm test -- test/config.test.ts 2>&1 | tail -40', description: 'Run the config tests' } : { file_path: `/home/dev/project/src/config/parse${i}.ts` } },
      ],
    }
    const output = bash ? `> project@1.0.0 test\n> tap test/config.test.ts\n\n${'not ok 3 - parses "C:\\\\Users\\\\dev"\n  ---\n  found: "C:"\n  wanted: "C:\\\\Users\\\\dev"\n  at: test/config.test.ts:42:5\n  ...\n'.repeat(8)}` : readResult(i, 60)
    const user = { role: 'user', content: [{ type: 'tool_result', tool_use_id: id, content: output }] }
    messages.push(assistant, user)
    length += JSON.stringify(assistant).length + JSON.stringify(user).length + 2
  }
  // Claude Code marks the newest user message as a cache breakpoint.
  const last = messages[messages.length - 1].content
  last[last.length - 1] = { ...last[last.length - 1], cache_control: { type: 'ephemeral' } }
  return JSON.stringify({ ...head, messages, stream: !!stream })
}

// ---- OpenAI Chat Completions: the same answer as `chat.completion.chunk` events (format=openai) ----

const chatChunk = (choices, extra = {}) => `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1760000000, model: 'claude-bench', choices, ...extra })}\n\n`
const chatDelta = (delta, finish = null) => chatChunk([{ index: 0, delta, finish_reason: finish }])

/**
 * The stream of one benchmark response as an OpenAI-compatible server sends it, one frame per Anthropic
 * event of `eventObjects` (events with no Chat Completions form are empty frames, so pacing stays aligned):
 * thinking as `reasoning_content`, text as `content`, the tool call in fragments, the finish, the usage
 * chunk and `[DONE]`.
 */
export function openaiFrames(p) {
  let toolOpen = false
  return eventObjects(p).map((e) => {
    switch (e.type) {
      case 'message_start':
        return chatDelta({ role: 'assistant', content: '' })
      case 'content_block_start':
        if (e.content_block.type !== 'tool_use') return ''
        toolOpen = true
        return chatDelta({ tool_calls: [{ index: 0, id: e.content_block.id, type: 'function', function: { name: e.content_block.name, arguments: '' } }] })
      case 'content_block_delta':
        if (e.delta.type === 'text_delta') return chatDelta({ content: e.delta.text })
        if (e.delta.type === 'thinking_delta') return chatDelta({ reasoning_content: e.delta.thinking })
        if (e.delta.type === 'input_json_delta') return chatDelta({ tool_calls: [{ index: 0, function: { arguments: e.delta.partial_json } }] })
        return ''
      case 'message_delta':
        return (
          chatDelta({}, toolOpen ? 'tool_calls' : 'stop') +
          chatChunk([], { usage: { prompt_tokens: 4200, completion_tokens: e.usage.output_tokens, prompt_tokens_details: { cached_tokens: 3000 } } })
        )
      case 'message_stop':
        return 'data: [DONE]\n\n'
      default:
        return ''
    }
  })
}
