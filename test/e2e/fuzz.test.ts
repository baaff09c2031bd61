/**
 * A seeded end-to-end fuzz run against the running relay (issue 11, CONTRACT §6). A few thousand
 * mutations of realistic Claude Code bodies — truncations, inserted and flipped bytes, wrong types,
 * repeated keys, bad escapes, raw control characters, invalid UTF-8, 50,000-deep nesting — and a set
 * of hostile HTTP framings go to one relay. Every answer must be the upstream's 200 for a body that
 * really is valid UTF-8 JSON, or the relay's own 4xx envelope; never a 5xx for the client's fault.
 * Framing uWS refuses may close the connection without an answer. The upstream must receive nothing
 * invalid, the relay must stay up, log no internal error, and grow by less than 120 MB.
 *
 * Reproduce a failure with the seed it prints: CC_RELAY_FUZZ_SEED=… (CC_RELAY_FUZZ_COUNT sets the size).
 */
import t from 'tap'
import { isUtf8 } from 'node:buffer'
import { readFileSync } from 'node:fs'
import { badUtf8, deleteRange, flipByte, insertBytes, int, pick, rawExchange as exchange, truncate } from '../helpers/fuzz.js'
import type { Rng } from '../helpers/fuzz.js'
import { MockUpstream, sse } from '../helpers/mock-upstream.js'
import { prng } from '../helpers/prng.js'
import { startRelay } from '../helpers/relay.js'
import { MESSAGE } from '../fixtures/anthropic.js'

const SEED = Number(process.env.CC_RELAY_FUZZ_SEED ?? 20261201)
const COUNT = Number(process.env.CC_RELAY_FUZZ_COUNT ?? 3000)
const DEEP = 50_000

/** The valid/invalid verdict the relay must reach: valid UTF-8 and JSON.parse gives a plain object. */
function validJsonObject(b: Buffer): boolean {
  if (!isUtf8(b)) return false
  try {
    const v: unknown = JSON.parse(b.toString('utf8'))
    return typeof v === 'object' && v !== null && !Array.isArray(v)
  } catch {
    return false
  }
}

const SESSION = JSON.stringify({ device_id: 'd3v1ce', account_uuid: 'acc-1', session_id: 'sess-1234' })
const BASES = [
  {
    model: 'claude-sonnet-4-5',
    max_tokens: 32000,
    stream: true,
    system: [{ type: 'text', text: "You are Claude Code, Anthropic's official CLI for Claude.", cache_control: { type: 'ephemeral' } }],
    messages: [
      { role: 'user', content: [{ type: 'text', text: 'Fix the bug in “main.ts” — ünïcödé, 日本語, emoji 😀\n\tindented' }] },
      { role: 'assistant', content: [{ type: 'thinking', thinking: 'Look at the file.', signature: 'EqQBsig' }, { type: 'tool_use', id: 'toolu_1', name: 'Read', input: { path: 'src/main.ts' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'export const x = "\\u0041"\n' }] },
    ],
    tools: [{ name: 'Read', description: 'Read a file', input_schema: { type: 'object', properties: { path: { type: 'string' } } } }],
    thinking: { type: 'enabled', budget_tokens: 10000 },
    metadata: { user_id: SESSION },
  },
  { model: 'claude-haiku-4-5', max_tokens: 512, messages: [{ role: 'user', content: 'Summarise: a, b, c.' }], metadata: { user_id: 'user_abc_account_def_session_0f0e' } },
].map((b) => Buffer.from(JSON.stringify(b)))

const SNIPPETS = ['\\x', '\\u12', '\\ud800', '\\', '"', '\u0001', '\n', '\xff', ',"model":"claude-opus-4-8"', ',"stream":"yes"', ',"max_tokens":1e999', ',"mod\\u0065l":"m"', '{', ']', 'null', 'é']
const WRONG_VALUES = ['123', 'null', 'true', '"x"', '[]', '{}', '-0', '1e400', '"claude-sonnet-4-5"', '"\\ud83d\\ude00"', '""', '[[[[[]]]]]', '{"user_id":5}']

/** Replaces the value of top-level `key` (found textually) with `value`. */
function replaceValue(b: Buffer, key: string, value: string): Buffer {
  const text = b.toString('latin1')
  const at = text.indexOf(`"${key}":`)
  if (at < 0) return Buffer.concat([Buffer.from(`{"${key}":${value},`), b.subarray(1)])
  const start = at + key.length + 3
  let end = start
  let depth = 0
  let inString = false
  for (; end < text.length; end++) {
    const c = text[end]!
    if (inString) {
      if (c === '\\') end++
      else if (c === '"') inString = false
      continue
    }
    if (c === '"') inString = true
    else if (c === '{' || c === '[') depth++
    else if (c === '}' || c === ']') {
      if (depth === 0) break
      depth--
    } else if (c === ',' && depth === 0) break
  }
  return Buffer.concat([b.subarray(0, start), Buffer.from(value, 'latin1'), b.subarray(end)])
}

function mutate(r: Rng, base: Buffer): Buffer {
  const at = int(r, 0, base.length)
  switch (int(r, 0, 10)) {
    case 0:
      return truncate(r, base)
    case 1:
      return insertBytes(r, base)
    case 2:
      return flipByte(r, base)
    case 3:
      return deleteRange(r, base)
    case 4:
      return replaceValue(base, pick(r, ['model', 'stream', 'max_tokens', 'messages', 'metadata', 'system', 'thinking']), pick(r, WRONG_VALUES))
    case 5:
      return Buffer.concat([base.subarray(0, at), Buffer.from(pick(r, SNIPPETS), 'latin1'), base.subarray(at)])
    case 6:
      // Inside the first string value: escapes and control characters where they matter most.
      return replaceValue(base, 'model', `"claude-${pick(r, ['\\q', '\\u00zz', '\u0007', '\t', 'sonnet-4-5', '\\u0041', '\\/'])}"`)
    case 7:
      return Buffer.concat([base.subarray(0, base.length - 1), Buffer.from(`,${pick(r, ['"model":"claude-haiku-4-5"', '"stream":false', '"metadata":{}', '"max_tokens":1'])}}`)])
    case 8:
      return Buffer.from(pick(r, ['', ' ', '[]', '"string"', '42', 'null', '{', '}', '{}', '{"model":""}', '{"model":"claude-sonnet-4-5"}', '\ufeff{"model":"claude-sonnet-4-5"}']), 'utf8')
    case 9:
      // Invalid UTF-8 inside a string: a lone continuation, an overlong form, a lone surrogate, a cut sequence.
      return badUtf8(r, base)
    default:
      return mutate(r, mutate(r, base))
  }
}

const upstream = await new MockUpstream().start()
const invalidUpstream: string[] = []
upstream.handler = (_req, res, recorded) => {
  if (!validJsonObject(recorded.body)) invalidUpstream.push(recorded.body.subarray(0, 200).toString('latin1'))
  const stream = /"stream"\s*:\s*true/.test(recorded.body.toString('latin1'))
  if (stream) res.writeHead(200, { 'content-type': 'text/event-stream' }).end(sse([{ type: 'message_start', message: { id: 'm', usage: { input_tokens: 1, output_tokens: 1 } } }, { type: 'message_stop' }]))
  else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(MESSAGE))
}
const relay = await startRelay(`
logging: { level: info, format: json }
server: { max_body_bytes: 1048576 }
providers:
  - name: upstream
    type: anthropic
    base_url: "${upstream.url}"
    keys: [{ key: "sk-ant-fuzz" }]
    max_output_tokens: 4096
    model_mapping: { "claude-*": "claude-upstream-1", "m": "claude-upstream-2" }
`)
t.teardown(async () => {
  await relay.stop()
  await upstream.close()
})

const rssMb = (): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${relay.child.pid}/status`, 'utf8'))![1]) / 1024

interface Finding {
  readonly index: number
  readonly what: string
  readonly body: string
}

t.test(`${COUNT} mutated bodies (seed ${SEED}): 200 only for valid bodies, otherwise a 4xx envelope; nothing invalid upstream`, async (t) => {
  const r = prng(SEED)
  const bodies: Buffer[] = Array.from({ length: COUNT }, () => mutate(r, pick(r, BASES)))
  // Nesting deeper than any scanner or parser should be asked to walk, in arrays and in objects.
  bodies.push(Buffer.from(`{"model":"claude-sonnet-4-5","messages":${'['.repeat(DEEP)}${']'.repeat(DEEP)}}`))
  bodies.push(Buffer.from(`{"model":"claude-sonnet-4-5","metadata":${'{"a":'.repeat(DEEP)}1${'}'.repeat(DEEP)}}`))
  const rssBefore = rssMb()
  const findings: Finding[] = []
  const counts = { accepted: 0, refused: 0 }
  let next = 0
  const worker = async (): Promise<void> => {
    for (let i = next++; i < bodies.length; i = next++) {
      const body = bodies[i]!
      const valid = validJsonObject(body)
      const res = await fetch(`${relay.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(20_000) })
      const text = await res.text()
      const shown = body.subarray(0, 160).toString('latin1')
      if (res.status === 200) {
        counts.accepted++
        if (!valid) findings.push({ index: i, what: 'an invalid body was answered 200 (forwarded)', body: shown })
        continue
      }
      counts.refused++
      if (res.status >= 500) findings.push({ index: i, what: `a ${res.status} for the client's fault: ${text.slice(0, 200)}`, body: shown })
      else if (!/^\{"type":"error","error":\{"type":"\w+","message":".+"\},"request_id":"req_ccr_\w+"\}$/.test(text)) findings.push({ index: i, what: `a ${res.status} without the envelope: ${text.slice(0, 200)}`, body: shown })
      if (res.status === 400 && !valid && !/at byte \d+|appears \d+ times|required|must be/.test(text)) findings.push({ index: i, what: `a refusal that names no reason: ${text.slice(0, 200)}`, body: shown })
    }
  }
  await Promise.all(Array.from({ length: 8 }, worker))
  if (findings.length) t.comment(`replay with CC_RELAY_FUZZ_SEED=${SEED} CC_RELAY_FUZZ_COUNT=${COUNT}`)
  t.same(findings.slice(0, 10), [], `no findings (seed ${SEED})`)
  t.same(invalidUpstream.slice(0, 5), [], 'the upstream received only valid UTF-8 JSON objects')
  t.ok(counts.accepted > COUNT / 20 && counts.refused > COUNT / 2, `a mix of accepted (${counts.accepted}) and refused (${counts.refused}) bodies`)
  const growth = rssMb() - rssBefore
  t.ok(growth < 120, `the relay grew ${growth.toFixed(1)} MB over the run (under 120 MB)`)
})

const rawExchange = (raw: string | Buffer) => exchange(relay.url, raw)

t.test('hostile HTTP framing: a 4xx envelope or a closed connection, never a 5xx or a hang', async (t) => {
  const body = '{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[]}'
  const head = 'POST /v1/messages HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\n'
  // `null`: uWS may refuse the framing itself, closing without an answer; anything it or the relay
  // does answer must be a 4xx. A status given here is what the relay itself must answer.
  const cases: [string, string | Buffer, number | null][] = [
    ['duplicate Content-Length, different values', `${head}Content-Length: ${body.length}\r\nContent-Length: 5\r\n\r\n${body}`, 400],
    ['a bad chunk size', `${head}Transfer-Encoding: chunked\r\n\r\nZZ\r\n${body}\r\n0\r\n\r\n`, null],
    ['an enormous chunk size', `${head}Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFF\r\n${body}\r\n0\r\n\r\n`, null],
    ['NUL in a header value', `${head}X-Evil: a\0b\r\nContent-Length: ${body.length}\r\n\r\n${body}`, null],
    ['NUL in a header name', `${head}X-E\0vil: ab\r\nContent-Length: ${body.length}\r\n\r\n${body}`, null],
    ['a header line without a colon', `${head}Garbage\r\nContent-Length: ${body.length}\r\n\r\n${body}`, null],
    ['Content-Length and Transfer-Encoding together', `${head}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`, null],
    ['a negative Content-Length', `${head}Content-Length: -5\r\n\r\n${body}`, null],
    ['a Content-Length that is not a number', `${head}Content-Length: abc\r\n\r\n${body}`, null],
    ['a body shorter than its Content-Length', `${head}Content-Length: ${body.length + 10}\r\n\r\n${body}`, null],
    ['a request line of garbage', 'GARBAGE\r\n\r\n', null],
    ['a header too large to keep', `${head}X-Long: ${'a'.repeat(100_000)}\r\nContent-Length: ${body.length}\r\n\r\n${body}`, null],
    ['a body over max_body_bytes, declared', `${head}Content-Length: 5000000\r\n\r\n{`, 413],
  ]
  const before = upstream.requests.length
  for (const [name, raw, status] of cases) {
    const { text, closed } = await rawExchange(raw)
    t.ok(closed, `${name}: the relay closed the connection (no hang)`)
    if (status === null && text === '') continue
    t.match(text, status === null ? /^HTTP\/1\.1 4\d\d / : new RegExp(`^HTTP/1\\.1 ${status} `), `${name}: answered ${status ?? 'a 4xx'} (${JSON.stringify(text.slice(0, 40))})`)
    const json = text.slice(text.indexOf('\r\n\r\n') + 4)
    if (status !== null || json !== '') t.match(json, /^\{"type":"error","error":\{"type":"\w+","message":".+"\},"request_id":"req_ccr_\w+"\}$/, `${name}: with the envelope`)
  }
  t.equal(upstream.requests.length, before, 'none of them reached the upstream')
})

t.test('after all of it the relay is up, answers, and caught no fault of its own', async (t) => {
  t.equal(relay.child.exitCode, null, 'the process is alive')
  const health = await fetch(`${relay.url}/health`)
  t.equal(health.status, 200)
  const good = await fetch(`${relay.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: BASES[1] })
  t.equal(good.status, 200)
  t.same(relay.logs.filter((l) => l.msg === 'internal error'), [], 'no internal error was logged')
})
