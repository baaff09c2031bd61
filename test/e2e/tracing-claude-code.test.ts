/**
 * The real Claude Code CLI (the pinned release) with its own OpenTelemetry traces on and
 * CLAUDE_CODE_PROPAGATE_TRACEPARENT=1, exporting to the same OTLP receiver as the relay: the relay's
 * request spans join the CLI's trace as children of its `claude_code.llm_request` spans, and each
 * attempt's traceparent reaches the upstream (CONTRACT §11). The CLI reads a file with its Read tool,
 * so the conversation takes two model requests.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { anthropicUpstream, MARKER, TOKEN } from '../../compat/upstreams.js'
import { OtlpReceiver } from '../helpers/otlp-receiver.js'
import { startRelay } from '../helpers/relay.js'
import { PINNED_CLAUDE as PINNED, pinnedClaude } from '../helpers/claude-cli.js'

const RUN_TIMEOUT_MS = 180_000

t.setTimeout(300_000)

const { bin: cli, skip } = pinnedClaude(t)

t.test(`Claude Code ${PINNED} and the relay in one trace`, { skip }, async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'cc-relay-cli-trace-'))
  const cwd = join(work, 'project')
  const home = join(work, 'home')
  for (const dir of [cwd, home]) mkdirSync(dir, { recursive: true })
  const file = join(cwd, 'compat.txt')
  writeFileSync(file, `${TOKEN}\n`)
  const rx = await new OtlpReceiver().start()
  const upstream = await anthropicUpstream(file)
  const relay = await startRelay(`providers:\n${upstream.provider}\nusage: { db: "off" }\ntelemetry: { otlp: { endpoint: "${rx.url}" } }\n`, { env: { OTEL_BSP_SCHEDULE_DELAY: '100' } })
  t.teardown(async () => {
    await relay.stop()
    await upstream.close()
    await rx.close()
  })

  // What Claude Code needs to trace and to send its traceparent to a custom base URL (docs/operations.md).
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    TERM: 'dumb',
    ANTHROPIC_BASE_URL: relay.url,
    ANTHROPIC_API_KEY: 'sk-ant-api03-trace-test-not-a-real-key',
    DISABLE_AUTOUPDATER: '1',
    DISABLE_ERROR_REPORTING: '1',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    CLAUDE_CODE_ENABLE_TELEMETRY: '1',
    CLAUDE_CODE_ENHANCED_TELEMETRY_BETA: '1',
    CLAUDE_CODE_PROPAGATE_TRACEPARENT: '1',
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_METRICS_EXPORTER: 'none',
    OTEL_LOGS_EXPORTER: 'none',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
    OTEL_TRACES_EXPORT_INTERVAL: '200',
  }
  const child = spawn(cli!, ['-p', `Read the file compat.txt in the current directory with the Read tool, then reply with what it says. ${MARKER}`, '--allowedTools', 'Read', '--output-format', 'text'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (d: Buffer) => (output += d.toString()))
  child.stderr.on('data', (d: Buffer) => (output += d.toString()))
  const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS)
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  clearTimeout(timer)
  t.equal(code, 0, `the CLI exited 0${code === 0 ? '' : `: ${output.slice(-2000)}`}`)
  t.match(output, `COMPAT-DONE ${TOKEN}`, 'the conversation completed through the relay')

  const llmRequests = await rx.waitFor("the CLI's claude_code.llm_request spans", (s) => s.name === 'claude_code.llm_request', 2)
  const requests = await rx.waitFor("the relay's request spans", (s) => s.kind === 'server' && s.resource['service.name'] === 'cc-relay', 2)
  const attempts = await rx.waitFor("the relay's attempt spans", (s) => s.kind === 'client' && s.resource['service.name'] === 'cc-relay', 2)
  t.notOk(requests.some((r) => r.parentSpanId === ''), `Claude Code ${PINNED} sent a traceparent on every model request (CLAUDE_CODE_PROPAGATE_TRACEPARENT=1)`)
  for (const request of requests) {
    const caller = llmRequests.find((l) => l.spanId === request.parentSpanId)
    t.ok(caller, `relay span ${request.spanId} is a child of a claude_code.llm_request span`)
    t.equal(request.traceId, caller?.traceId, 'and shares its trace id')
    const attempt = attempts.find((a) => a.parentSpanId === request.spanId)
    t.ok(attempt, 'with its attempt span under it')
  }
  const sent = upstream.requests.filter((r) => r.url.startsWith('/v1/messages')).map((r) => String(r.headers.traceparent))
  t.same(sent.map((tp) => tp.split('-')[2]).sort(), attempts.map((a) => a.spanId).sort(), "each upstream request carries its attempt span's id")
  t.ok(sent.every((tp) => llmRequests.some((l) => tp.startsWith(`00-${l.traceId}-`))), "in the CLI's trace")
})
