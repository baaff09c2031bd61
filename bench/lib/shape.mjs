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
  gap_ms: 0, // delay between events
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

/** A request body of about `size` bytes, shaped like a long Claude Code conversation. */
export function requestBody(size, stream, model = 'claude-bench') {
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
