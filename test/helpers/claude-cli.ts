/**
 * The real Claude Code CLI for tests (STACK.md: the pinned release). It comes from the npm registry into
 * the compat cache (compat/releases.ts) once; on a machine that has neither the cache nor the registry the
 * tests that drive it skip with one line saying so, and fail instead under CC_RELAY_TEST_REQUIRE_ALL=1.
 */
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { installRelease } from '../../compat/releases.js'

/** The release the project pins (docs/compatibility.md). */
export const PINNED_CLAUDE = '2.1.332'

/** The part of tap's `Test` this uses. */
interface Failable {
  fail(message: string): unknown
}

/** The CLI's path, or the skip reason (recording a failure when every program is required). */
export function pinnedClaude(t: Failable): { readonly bin: string; readonly skip: false } | { readonly bin: undefined; readonly skip: string } {
  try {
    return { bin: installRelease(PINNED_CLAUDE), skip: false }
  } catch (err) {
    const reason = `needs Claude Code ${PINNED_CLAUDE}: the npm registry (npm install @anthropic-ai/claude-code@${PINNED_CLAUDE}) — ${(err as Error).message.split('\n')[0]}`
    if (process.env.CC_RELAY_TEST_REQUIRE_ALL === '1') t.fail(`${reason} (CC_RELAY_TEST_REQUIRE_ALL=1: every program is required)`)
    return { bin: undefined, skip: reason }
  }
}

export interface CliRun {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/**
 * `claude -p PROMPT ...args` in a fresh HOME and folder, talking to `baseUrl` only: no real credentials,
 * no telemetry, no updates; killed after `ms`.
 */
export async function runClaude(bin: string, baseUrl: string, args: readonly string[], env: NodeJS.ProcessEnv = {}, ms = 120_000): Promise<CliRun> {
  const work = mkdtempSync(join(tmpdir(), 'cc-relay-claude-'))
  const home = join(work, 'home')
  const cwd = join(work, 'project')
  for (const dir of [home, cwd]) mkdirSync(dir, { recursive: true })
  const child = spawn(bin, args, {
    cwd,
    env: {
      PATH: process.env.PATH,
      HOME: home,
      TERM: 'dumb',
      ANTHROPIC_BASE_URL: baseUrl,
      DISABLE_TELEMETRY: '1',
      DISABLE_ERROR_REPORTING: '1',
      DISABLE_AUTOUPDATER: '1',
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const timer = setTimeout(() => child.kill('SIGKILL'), ms)
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)))
  clearTimeout(timer)
  return { code, stdout, stderr }
}
