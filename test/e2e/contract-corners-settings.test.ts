/**
 * Settings that only the config parser used to see (CONTRACT §1, issue 27 corner 8), through the running
 * relay: `routing.affinity.ttl_ms` (a session's pin to its key lasts that long after its last use, then
 * the session goes where the strategy sends it) and `logging.format: pretty` (human lines on stdout, no
 * JSON). `usage.retention_days` and explicit `cache_write_1h` / `cache_read` prices are in
 * contract-corners-ledger.test.ts.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { dirname } from 'node:path'
import { createInterface } from 'node:readline'
import type { ServerResponse } from 'node:http'
import { MockUpstream } from '../helpers/mock-upstream.js'
import { BIN, startRelay, writeConfig } from '../helpers/relay.js'
import { within } from '../helpers/wait.js'

const ok = (res: ServerResponse): void =>
  void res.writeHead(200, { 'content-type': 'application/json' }).end('{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

t.test('routing.affinity.ttl_ms: a moved session stays on its new key while the pin lives, and goes back once it has expired', async (t) => {
  const up = await new MockUpstream().start()
  let throttle = false
  up.handler = (req, res) =>
    throttle && req.headers['x-api-key'] === 'key-high'
      ? void res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '1' }).end('{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}')
      : ok(res)
  // key-high is the strategy's choice whenever it is free; only affinity keeps a session off it.
  const relay = await startRelay(`logging: { level: info, format: json }
routing: { affinity: { enabled: true, ttl_ms: 3000 } }
providers:
  - { name: p, type: anthropic, base_url: "${up.url}", keys: [{ key: key-high, priority: 2 }, { key: key-low, priority: 1 }] }
`)
  t.teardown(async () => {
    await relay.stop()
    await up.close()
  })
  const send = async (): Promise<string> => {
    const res = await fetch(`${relay.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-claude-code-session-id': 'session-1' },
      body: '{"model":"claude-opus-4-8","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}',
      signal: AbortSignal.timeout(20_000),
    })
    t.equal(res.status, 200)
    await res.text()
    return String(up.last.headers['x-api-key'])
  }
  t.equal(await send(), 'key-high', 'the session starts on the highest-priority key')
  throttle = true
  t.equal(await send(), 'key-low', 'a 429 on it moves the session to key-low')
  throttle = false
  // key-high's 1 s cooldown is over; the session's pin (3 s after its last use) is not.
  await sleep(1500)
  t.equal(await send(), 'key-low', 'key-high is free again, but the session keeps its key while the pin lives')
  // No use for longer than ttl_ms: the pin has expired.
  await sleep(4500)
  t.equal(await send(), 'key-high', 'after ttl_ms without a request the session goes where the strategy sends it')
})

t.test('logging.format: pretty: human lines on stdout (the listening line and each request), none of them JSON', async (t) => {
  const up = await new MockUpstream().start()
  up.handler = (_req, res) => ok(res)
  const file = writeConfig(`logging: { level: info, format: pretty }
providers:
  - { name: upstream, type: anthropic, base_url: "${up.url}", keys: [{ key: k }] }
`)
  const child = spawn(process.execPath, [BIN, 'serve', '--config', file, '--listen', '127.0.0.1:0'], {
    env: { ...process.env, CC_RELAY_WORKERS: '1', XDG_STATE_HOME: dirname(file) },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  t.teardown(async () => {
    if (child.exitCode === null) child.kill('SIGKILL')
    await up.close()
  })
  const lines: string[] = []
  const waiters: { re: RegExp; resolve: (m: RegExpExecArray) => void }[] = []
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line)
    for (const w of [...waiters]) {
      const m = w.re.exec(line)
      if (m) waiters.splice(waiters.indexOf(w), 1) && w.resolve(m)
    }
  })
  const line = (re: RegExp, what: string): Promise<RegExpExecArray> =>
    within(what, new Promise<RegExpExecArray>((resolve) => {
      const seen = lines.map((l) => re.exec(l)).find(Boolean)
      if (seen) return resolve(seen)
      waiters.push({ re, resolve })
    }), 60_000)

  const listening = await line(/^\d\d:\d\d:\d\d\.\d{3} INFO listening .*\burl=(http:\/\/127\.0\.0\.1:\d+)/, 'a pretty "listening" line with the url')
  const url = listening[1]!
  const res = await fetch(`${url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"model":"claude-opus-4-8","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}',
    signal: AbortSignal.timeout(20_000),
  })
  t.equal(res.status, 200)
  await res.text()
  const request = await line(/^\d\d:\d\d:\d\d\.\d{3} INFO request .*\bstatus=200\b/, 'a pretty request line')
  t.match(request.input, /\bprovider=upstream\b/, 'the request line names the provider as key=value')
  t.match(request.input, /\bmodel=claude-opus-4-8\b/)
  child.kill('SIGTERM')
  t.equal(await within('the relay exits after SIGTERM', exited, 30_000), 0)
  const json = lines.filter((l) => {
    try {
      return typeof JSON.parse(l) === 'object'
    } catch {
      return false
    }
  })
  t.same(json, [], 'no stdout line is JSON')
  t.ok(lines.length >= 2, `lines were written (${lines.length})`)
})
