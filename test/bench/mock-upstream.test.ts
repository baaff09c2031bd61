/**
 * The bench's mock upstream (bench/mock-upstream.mjs) must be a faithful Anthropic / Bedrock upstream, or the
 * bench measures the wrong thing. Proven here with the official SDKs and the AWS event-stream codec, against
 * the mock run as a process the way the bench runs it.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import Anthropic from '@anthropic-ai/sdk'
import { AnthropicBedrock } from '@anthropic-ai/bedrock-sdk'
import { EventStreamCodec } from '@smithy/eventstream-codec'
import { fromUtf8, toUtf8 } from '@smithy/util-utf8'
import * as shapeJs from '../../bench/lib/shape.mjs'
import { until } from '../helpers/wait.js'
import * as eventstreamJs from '../../bench/lib/eventstream.mjs'

// The bench libraries are plain JavaScript; these are the shapes this test relies on.
type Params = Record<string, string | number>
type Event = { type: string; [k: string]: unknown }
const shape = shapeJs as unknown as {
  DEFAULTS: Params
  encodeParams(p: Params): string
  decodeParams(header: string): Params
  eventObjects(p: Params): Event[]
  sseFrames(p: Params): string[]
  messageJson(p: Params): string
  requestBody(size: number, stream: boolean): string
}
const eventstream = eventstreamJs as unknown as {
  bedrockFrames(p: Params): Buffer[]
  encodeEventStreamMessage(headers: Record<string, string>, payload: Uint8Array | string): Buffer
}

const MOCK = join(import.meta.dirname, '..', '..', 'bench', 'mock-upstream.mjs')

interface RunningMock {
  readonly url: string
  readonly child: ChildProcess
  readonly exited: Promise<number | null>
}

function startMock(): Promise<RunningMock> {
  const child = spawn(process.execPath, [MOCK, '--port', '0', '--host', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return new Promise((resolve, reject) => {
    void exited.then((code) => reject(new Error(`mock exited with ${code} before listening:\n${stderr}`)))
    createInterface({ input: child.stdout! }).once('line', (line) => {
      const { listening } = JSON.parse(line) as { listening: number }
      resolve({ url: `http://127.0.0.1:${listening}`, child, exited })
    })
  })
}

const mock = await startMock()
t.teardown(async () => {
  mock.child.kill('SIGTERM')
  await mock.exited
})

/** Full parameters for an `x-bench` header, as the mock decodes it. */
const params = (header: string): Params => shape.decodeParams(header)

const post = (header: string, body = '{}', path = '/v1/messages'): Promise<Response> =>
  fetch(`${mock.url}${path}`, { method: 'POST', headers: { 'x-bench': header, 'content-type': 'application/json' }, body })

interface Stats {
  requests: number
  bytes_in: number
  bytes_out: number
  active: number
}
const stats = async (): Promise<Stats> => (await (await fetch(`${mock.url}/stats`, { signal: AbortSignal.timeout(10_000) })).json()) as Stats

/** Cuts an AWS event stream into whole messages by the 4-byte total-length prelude. */
function splitFrames(bytes: Uint8Array): Uint8Array[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const frames: Uint8Array[] = []
  let at = 0
  while (at < bytes.length) {
    const total = view.getUint32(at)
    frames.push(bytes.subarray(at, at + total))
    at += total
  }
  return frames
}

const codec = new EventStreamCodec(toUtf8, fromUtf8)

/** Decodes a Bedrock streaming body with the AWS codec into the Anthropic events it carries. */
function bedrockEvents(bytes: Uint8Array): Event[] {
  return splitFrames(bytes).map((frame) => {
    const message = codec.decode(frame) // checks both CRCs
    const headers = Object.fromEntries(Object.entries(message.headers).map(([k, v]) => [k, v.value]))
    if (headers[':event-type'] !== 'chunk' || headers[':message-type'] !== 'event' || headers[':content-type'] !== 'application/json') {
      throw new Error(`unexpected frame headers ${JSON.stringify(headers)}`)
    }
    const payload = JSON.parse(toUtf8(message.body)) as { bytes: string }
    if (Object.keys(payload).join() !== 'bytes') throw new Error(`unexpected payload keys ${Object.keys(payload).join()}`)
    return JSON.parse(Buffer.from(payload.bytes, 'base64').toString('utf8')) as Event
  })
}

const request = {
  model: 'claude-bench',
  max_tokens: 1024,
  messages: [{ role: 'user' as const, content: 'list the files' }],
}

t.test('the official Anthropic SDK: stream and create give the same message', async (t) => {
  const bench = 'events=5;bytes=20;thinking=1;tool=1'
  const client = new Anthropic({ baseURL: mock.url, apiKey: 'x', defaultHeaders: { 'x-bench': bench }, maxRetries: 0 })
  const streamed = await client.messages.stream(request).finalMessage()
  t.same(
    streamed.content.map((b) => b.type),
    ['thinking', 'text', 'tool_use'],
  )
  const [thinking, text, tool] = streamed.content as [Anthropic.ThinkingBlock, Anthropic.TextBlock, Anthropic.ToolUseBlock]
  t.match(thinking.signature, /^EqQBCgIYAhIMx{200}$/, 'thinking carries its signature')
  t.equal(thinking.thinking.length, 4 * 20)
  t.equal(text.text.length, 5 * 20)
  t.same(tool.input, { command: 'ls -la', description: 'list' }, 'tool input parses from the streamed partial JSON')
  t.equal(streamed.stop_reason, 'tool_use')
  t.equal(streamed.usage.output_tokens, 10, 'message_delta usage reached the SDK')

  const created = await client.messages.create(request, { headers: { 'x-bench': `${bench};stream=0` } })
  t.same(created.content, streamed.content, 'the same content either way')
  t.equal(created.stop_reason, streamed.stop_reason)
  t.same({ id: created.id, model: created.model, role: created.role }, { id: streamed.id, model: streamed.model, role: streamed.role })
  t.same(created, JSON.parse(shape.messageJson(params(`${bench};stream=0`))), 'create returns messageJson as is')
})

t.test('raw SSE bodies are sseFrames byte for byte, with the right heads; stats count what was sent', async (t) => {
  const cases = ['', 'events=0', 'events=5;bytes=20;thinking=1;tool=1', 'events=3;bytes=70000', 'events=2000;bytes=300']
  for (const header of cases) {
    const p = params(header)
    const before = await stats()
    const body = shape.requestBody(50_000, true)
    const res = await post(header, body)
    t.equal(res.status, 200, `status for "${header}"`)
    t.equal(res.headers.get('content-type'), 'text/event-stream')
    t.equal(res.headers.get('transfer-encoding'), 'chunked', 'streams are chunked, as the API streams')
    const text = await res.text()
    const expected = shape.sseFrames(p).join('')
    t.ok(text === expected, `body for "${header}" is exactly sseFrames (${expected.length} bytes)`)
    const after = await stats()
    t.equal(after.requests - before.requests, 1)
    t.equal(after.bytes_in - before.bytes_in, Buffer.byteLength(body), 'bytes_in counts the request body')
    t.equal(after.bytes_out - before.bytes_out, Buffer.byteLength(expected), 'bytes_out counts the response body')
  }

  const res = await post('events=7;stream=0', '', '/any/path/at/all')
  t.equal(res.status, 200, 'any path, and an empty body, are answered')
  t.equal(res.headers.get('content-type'), 'application/json')
  t.equal(await res.text(), shape.messageJson(params('events=7;stream=0')))

  const bad = await post('events=-1')
  t.equal(bad.status, 400, 'parameters the mock cannot honour are refused, not guessed')
  t.match(await bad.json(), { type: 'error', error: { type: 'invalid_request_error', message: /events/ } })
  const notFound = await fetch(`${mock.url}/v1/messages`)
  t.equal(notFound.status, 404, 'GET anything but /stats is 404')
  await notFound.arrayBuffer()
})

t.test('bedrock format: AWS event-stream frames that decode with the AWS codec into eventObjects', async (t) => {
  for (const header of ['format=bedrock', 'format=bedrock;events=5;bytes=20;thinking=1;tool=1', 'format=bedrock;events=2;bytes=40000']) {
    const p = params(header)
    const res = await post(header)
    t.equal(res.status, 200)
    t.equal(res.headers.get('content-type'), 'application/vnd.amazon.eventstream')
    const bytes = new Uint8Array(await res.arrayBuffer())
    t.same(bedrockEvents(bytes), shape.eventObjects(p), `events of "${header}"`)
    t.ok(Buffer.from(bytes).equals(Buffer.concat(eventstream.bedrockFrames(p))), 'body is bedrockFrames byte for byte')
  }

  // Our encoder and the AWS encoder agree byte for byte on a Bedrock chunk.
  const payload = JSON.stringify({ bytes: Buffer.from('{"type":"message_stop"}').toString('base64') })
  const headers = { ':event-type': 'chunk', ':content-type': 'application/json', ':message-type': 'event' }
  const ours = eventstream.encodeEventStreamMessage(headers, payload)
  const aws = codec.encode({
    headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, { type: 'string' as const, value: v }])),
    body: fromUtf8(payload),
  })
  t.ok(ours.equals(Buffer.from(aws)), 'encodeEventStreamMessage matches @smithy/eventstream-codec')

  const json = await post('format=bedrock;stream=0;events=4')
  t.equal(json.headers.get('content-type'), 'application/json')
  t.equal(await json.text(), shape.messageJson(params('stream=0;events=4')), 'non-streaming Bedrock invoke is the plain message')
})

t.test('the official Bedrock SDK reads the mock like Bedrock', async (t) => {
  const bench = 'events=5;bytes=20;thinking=1;tool=1'
  const anthropic = new Anthropic({ baseURL: mock.url, apiKey: 'x', defaultHeaders: { 'x-bench': bench }, maxRetries: 0 })
  const reference = await anthropic.messages.stream(request).finalMessage()

  const bedrock = new AnthropicBedrock({
    baseURL: mock.url,
    awsRegion: 'us-east-1',
    skipAuth: true, // no SigV4: the mock does not check signatures
    defaultHeaders: { 'x-bench': `${bench};format=bedrock` },
    maxRetries: 0,
  })
  const model = 'anthropic.claude-bench-v1:0'
  const streamed = await bedrock.messages.stream({ ...request, model }).finalMessage()
  t.same(streamed, reference, 'the Bedrock SDK assembles the same message as the Anthropic SDK')
  const created = await bedrock.messages.create({ ...request, model }, { headers: { 'x-bench': `${bench};format=bedrock;stream=0` } })
  t.same(created.content, reference.content)
  t.equal(created.stop_reason, reference.stop_reason)
})

t.test('fault injection is deterministic per fail spec', async (t) => {
  const first = await post('events=2;fail=429:2')
  t.equal(first.status, 200, '1st request of fail=429:2 succeeds')
  await first.text()
  const second = await post('events=2;fail=429:2')
  t.equal(second.status, 429, '2nd request of fail=429:2 is rate limited')
  t.equal(second.headers.get('retry-after'), '1')
  t.equal(second.headers.get('content-type'), 'application/json')
  t.equal(
    await second.text(),
    '{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}',
  )

  const overloaded = await post('fail=529:1')
  t.equal(overloaded.status, 529)
  t.match(await overloaded.json(), { type: 'error', error: { type: 'overloaded_error' } })
  const broken = await post('fail=500:1')
  t.equal(broken.status, 500)
  t.match(await broken.json(), { type: 'error', error: { type: 'api_error' } })

  // The SDK sees a real rate-limit error.
  const client = new Anthropic({ baseURL: mock.url, apiKey: 'x', defaultHeaders: { 'x-bench': 'fail=429:1' }, maxRetries: 0 })
  await t.rejects(client.messages.create(request), Anthropic.RateLimitError)

  // Combined specs: each has its own counter; when two come due together the first listed wins.
  const seen: (number | string)[] = []
  for (let i = 0; i < 6; i++) {
    const res = await post('events=3;fail=429:3,reset:2')
    if (res.status !== 200) {
      seen.push(res.status)
      await res.text()
      continue
    }
    seen.push(await res.text().then((b) => (b === shape.sseFrames(params('events=3')).join('') ? 'ok' : 'short'), () => 'broken'))
  }
  t.same(seen.map((s) => (s === 'broken' ? 'short' : s)), ['ok', 'short', 429, 'short', 'ok', 429])
})

t.test('fail=reset breaks the response off mid-way', async (t) => {
  for (const header of ['events=20;fail=reset:1', 'events=20;format=bedrock;fail=reset:1', 'events=20;stream=0;fail=reset:1']) {
    const p = params(header)
    const full = p.stream ? (p.format === 'bedrock' ? Buffer.concat(eventstream.bedrockFrames(p)).length : Buffer.byteLength(shape.sseFrames(p).join(''))) : shape.messageJson(p).length
    const res = await post(header)
    t.equal(res.status, 200, 'the head arrives')
    const got = await res.arrayBuffer().then(
      (b) => b.byteLength,
      (err: Error) => err,
    )
    if (got instanceof Error) t.pass(`"${header}": the body rejects (${got.message})`)
    else t.ok(got < full, `"${header}": the body ends short (${got} of ${full} bytes)`)
  }
  // The SDK sees a broken stream, not a finished message.
  const client = new Anthropic({ baseURL: mock.url, apiKey: 'x', defaultHeaders: { 'x-bench': 'events=20;fail=reset:1' }, maxRetries: 0 })
  await t.rejects(client.messages.stream(request).finalMessage())
})

t.test('delays: a delayed stream still carries every frame', async (t) => {
  for (const header of ['ttfe_ms=50;gap_ms=10;events=3', 'ttfe_ms=50;gap_ms=10;events=3;format=bedrock', 'ttfe_ms=30;gap_ms=0;events=3', 'ttfe_ms=0;gap_ms=5;events=3', 'ttfe_ms=40;stream=0']) {
    const p = params(header)
    const res = await post(header)
    t.equal(res.status, 200)
    const bytes = Buffer.from(await res.arrayBuffer())
    if (!p.stream) t.equal(bytes.toString(), shape.messageJson(p), header)
    else if (p.format === 'bedrock') t.same(bedrockEvents(bytes), shape.eventObjects(p), header)
    else t.equal(bytes.toString(), shape.sseFrames(p).join(''), header)
  }
  const client = new Anthropic({ baseURL: mock.url, apiKey: 'x', defaultHeaders: { 'x-bench': 'ttfe_ms=20;gap_ms=2;events=10;tool=1' }, maxRetries: 0 })
  const message = await client.messages.stream(request).finalMessage()
  t.same(message.content.map((b) => b.type), ['text', 'tool_use'])
})

t.test('paced streams: the opening leaves at once, then one event per gap', async (t) => {
  // message_start, content_block_start, ping together (the relay holds the opening until content starts:
  // a gap before content_block_start would be added to its time to first event), then 4 frames 200 ms apart.
  const header = 'gap_ms=200;events=1'
  const frames = shape.sseFrames(params(header))
  const t0 = performance.now()
  const reader = (await post(header)).body!.getReader()
  const first = await reader.read()
  const firstAt = performance.now() - t0
  let text = Buffer.from(first.value!).toString()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    text += Buffer.from(value).toString()
  }
  const total = performance.now() - t0
  t.equal(text, frames.join(''), 'every frame, in order')
  t.ok(firstAt < 150, `the first bytes come before the first gap (${firstAt.toFixed(0)} ms)`)
  t.ok(Buffer.from(first.value!).toString().startsWith(frames.slice(0, 3).join('')), 'the first read holds the whole opening')
  t.ok(total >= 4 * 200 - 20, `the 4 frames after the opening are paced (${total.toFixed(0)} ms)`)
})

t.test('300 concurrent delayed streams all complete intact', async (t) => {
  const header = 'ttfe_ms=30;gap_ms=3;events=40;bytes=64'
  const expected = shape.sseFrames(params(header)).join('')
  const before = await stats()
  const bodies = await Promise.all(Array.from({ length: 300 }, async () => (await post(header)).text()))
  t.equal(bodies.filter((b) => b === expected).length, 300, 'every body is exact')
  const after = await stats()
  t.equal(after.requests - before.requests, 300)
  t.equal(after.active, 0, 'nothing left in flight')
})

t.test('backpressure: a reader that stalls still gets every byte, and the mock keeps serving others', async (t) => {
  for (const header of ['events=20000;bytes=500', 'events=20000;bytes=500;stream=0', 'events=60;bytes=200000;gap_ms=2;ttfe_ms=0;format=bedrock']) {
    const p = params(header)
    const expected = !p.stream ? Buffer.from(shape.messageJson(p)) : p.format === 'bedrock' ? Buffer.concat(eventstream.bedrockFrames(p)) : Buffer.from(shape.sseFrames(p).join(''))
    const outBefore = (await stats()).bytes_out
    const res = await post(header)
    const reader = res.body!.getReader()
    const chunks: Uint8Array[] = []
    const first = await reader.read()
    chunks.push(first.value!)
    // Stall until the socket buffers are full and the mock has stopped writing: its bytes out stay the
    // same across two looks, short of the whole body (a mock that ignored backpressure would have written
    // it all into memory by then)...
    let written = -1
    await until(`"${header}": the stalled reader holds the mock back`, async () => {
      const now = (await stats()).bytes_out - outBefore
      const settled = now === written && now < expected.length
      written = now
      return settled
    }, 30_000, 250)
    t.ok(written < expected.length, `"${header}": the mock wrote ${written} of ${expected.length} bytes while the reader stalled: backpressure reached it`)
    // ...while another request is served normally.
    const other = await post('events=3')
    t.equal(await other.text(), shape.sseFrames(params('events=3')).join(''), 'another request is unaffected by the stalled one')
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      chunks.push(value)
    }
    t.ok(Buffer.concat(chunks).equals(expected), `"${header}": all ${expected.length} bytes arrive intact after the stall`)
  }
  t.equal((await stats()).active, 0)
})

t.test('a client that goes away mid-stream frees its slot', async (t) => {
  const controller = new AbortController()
  const res = await fetch(`${mock.url}/v1/messages`, { method: 'POST', headers: { 'x-bench': 'ttfe_ms=0;gap_ms=20;events=100' }, body: '{}', signal: controller.signal })
  const reader = res.body!.getReader()
  await reader.read()
  t.equal((await stats()).active, 1, 'the stream is in flight')
  controller.abort()
  await reader.read().catch(() => undefined)
  for (let i = 0; i < 50 && (await stats()).active !== 0; i++) await new Promise((r) => setTimeout(r, 20))
  t.equal((await stats()).active, 0, 'the abort stopped the stream and its timer')
})

t.test('the mock prints one JSON line and exits 0 on SIGTERM and SIGINT', async (t) => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const other = await startMock()
    t.match(other.url, /^http:\/\/127\.0\.0\.1:\d+$/)
    other.child.kill(signal)
    t.equal(await other.exited, 0, signal)
  }
})
