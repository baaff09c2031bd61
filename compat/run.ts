/**
 * `npm run compat -- [--claude-code 1.0.128,2.0.77,latest] [--providers anthropic,bedrock,vertex,openai] [--no-docs]
 * [--relay-bin PATH]` (issue 18): for each Claude Code release and provider type, the project's mock
 * upstream for that type, the relay in front of it, and the real CLI in print mode in front of the relay
 * (through a recorder that keeps what the CLI sent). The CLI reads a file with its `Read` tool and
 * prints what the upstream answered after seeing it. checks.ts says what must hold. Prints a table,
 * regenerates docs/compatibility.md (unless --no-docs) and exits 1 on any failure.
 */
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { BIN, startRelay } from '../test/helpers/relay.js'
import { checkRun, observe } from './checks.js'
import type { Observed } from './checks.js'
import { Recorder } from './recorder.js'
import { installRelease, resolveVersion } from './releases.js'
import { renderDocs, renderTable, writeDocs } from './report.js'
import { MARKER, TOKEN, UPSTREAMS } from './upstreams.js'

/** The releases the matrix covers by default: 1.0, 2.0, the release the project pins, and the newest. */
export const DEFAULT_RELEASES = ['1.0.128', '2.0.77', '2.1.328', 'latest']
export const DEFAULT_PROVIDERS = ['anthropic', 'bedrock', 'vertex', 'openai']
const RUN_TIMEOUT_MS = 180_000

export interface Cell {
  readonly release: string
  readonly provider: string
  readonly problems: readonly string[]
  readonly observed: Observed
  readonly seconds: number
}

async function runCli(bin: string, baseUrl: string, cwd: string, home: string): Promise<{ exitCode: number | null; stdout: string; stderr: string; timedOut: boolean }> {
  // A clean environment: no real credentials, no proxies, no telemetry; the CLI talks to the relay only.
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    TERM: 'dumb',
    ANTHROPIC_BASE_URL: baseUrl,
    ANTHROPIC_API_KEY: 'sk-ant-api03-compat-not-a-real-key',
    DISABLE_TELEMETRY: '1',
    DISABLE_ERROR_REPORTING: '1',
    DISABLE_AUTOUPDATER: '1',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
  }
  const prompt = `Read the file compat.txt in the current directory with the Read tool, then reply with what it says. ${MARKER}`
  const child = spawn(bin, ['-p', prompt, '--allowedTools', 'Read', '--output-format', 'text'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    child.kill('SIGKILL')
  }, RUN_TIMEOUT_MS)
  const exitCode = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  clearTimeout(timer)
  return { exitCode, stdout, stderr, timedOut }
}

export async function runCell(release: string, cliBin: string, provider: string, relayBin: string): Promise<Cell> {
  const started = performance.now()
  const work = mkdtempSync(join(tmpdir(), 'cc-relay-compat-'))
  const cwd = join(work, 'project')
  const home = join(work, 'home')
  for (const dir of [cwd, home]) mkdirSync(dir, { recursive: true })
  const file = join(cwd, 'compat.txt')
  writeFileSync(file, `${TOKEN}\n`)
  const upstream = await UPSTREAMS[provider]!(file)
  const relay = await startRelay(`providers:\n${upstream.provider}\nusage: { db: "off" }\nlogging: { level: info, format: json }\n`, { bin: relayBin, env: upstream.relayEnv })
  const recorder = await new Recorder(relay.url).start()
  try {
    const run = await runCli(cliBin, recorder.url, cwd, home)
    const problems = checkRun(run, recorder.sent, upstream, provider)
    return { release, provider, problems, observed: observe(recorder.sent), seconds: (performance.now() - started) / 1000 }
  } finally {
    await recorder.close()
    await relay.stop()
    await upstream.close()
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      'claude-code': { type: 'string', default: DEFAULT_RELEASES.join(',') },
      providers: { type: 'string', default: DEFAULT_PROVIDERS.join(',') },
      'no-docs': { type: 'boolean', default: false },
      'relay-bin': { type: 'string', default: BIN },
    },
  })
  const providers = values.providers.split(',').map((p) => p.trim()).filter(Boolean)
  const unknown = providers.find((p) => !UPSTREAMS[p])
  if (unknown) {
    process.stderr.write(`compat: no mock upstream for provider type ${JSON.stringify(unknown)} (have: ${Object.keys(UPSTREAMS).join(', ')})\n`)
    return 2
  }
  const cells: Cell[] = []
  for (const spec of values['claude-code'].split(',').map((s) => s.trim()).filter(Boolean)) {
    const release = resolveVersion(spec)
    process.stdout.write(`Claude Code ${release}${spec === release ? '' : ` (${spec})`}: installing … `)
    const cli = installRelease(release)
    process.stdout.write('ok\n')
    for (const provider of providers) {
      process.stdout.write(`  ${provider} … `)
      const cell = await runCell(release, cli, provider, values['relay-bin'])
      cells.push(cell)
      process.stdout.write(cell.problems.length === 0 ? `pass (${cell.seconds.toFixed(1)} s)\n` : `FAIL: ${cell.problems.join('; ')}\n`)
    }
  }
  process.stdout.write(`\n${renderTable(cells)}\n`)
  if (!values['no-docs']) {
    writeDocs(renderDocs(cells, new Date()))
    process.stdout.write('docs/compatibility.md regenerated\n')
  }
  return cells.every((c) => c.problems.length === 0) ? 0 : 1
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = await main()
