/**
 * The real Claude Code CLI for tests: the release the project pins, installed from the npm registry
 * into the compat cache the way compat/releases.ts does (once; later runs reuse it), and driven in a
 * sandbox HOME. A machine that cannot reach the registry skips these tests with one line saying so,
 * unless CC_RELAY_TEST_REQUIRE_ALL=1 (CI), where that is a failure.
 */
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { installRelease } from '../../compat/releases.js'

export const PINNED_CLI = '2.1.332'

/** The `claude` executable, or the skip reason (a failure recorded on `t` when everything is required). */
export function claudeCli(t: { fail(message: string): unknown }): { bin: string } | { skip: string } {
  try {
    return { bin: installRelease(PINNED_CLI) }
  } catch (err) {
    const reason = `needs the Claude Code CLI ${PINNED_CLI} from the npm registry (npm install @anthropic-ai/claude-code@${PINNED_CLI} failed: ${(err as Error).message.split('\n')[0]})`
    if (process.env.CC_RELAY_TEST_REQUIRE_ALL === '1') t.fail(`${reason} (CC_RELAY_TEST_REQUIRE_ALL=1: every program is required)`)
    return { skip: reason }
  }
}

/** A fresh HOME whose user settings make `/login` (and `auth login --gateway-json`) use the relay as the gateway. */
export function gatewayHome(gatewayUrl: string): string {
  const home = mkdtempSync(join(tmpdir(), 'cc-relay-claude-home-'))
  mkdirSync(join(home, '.claude'), { recursive: true })
  writeFileSync(join(home, '.claude', 'settings.json'), JSON.stringify({ forceLoginMethod: 'gateway', forceLoginGatewayUrl: gatewayUrl }))
  return home
}

/** A clean environment: no real credentials or proxies; only what the test adds. */
export function cliEnv(home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: home, TERM: 'dumb', DISABLE_AUTOUPDATER: '1', DISABLE_ERROR_REPORTING: '1', ...extra }
}

export interface Run {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs the CLI to its end, killing it after `ms`. */
export function runCli(bin: string, args: string[], env: NodeJS.ProcessEnv, cwd: string, ms = 120_000): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(bin, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), ms)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

export type GatewayState = { readonly state: string; readonly shown?: string; readonly browserUrl?: string; readonly message?: string; readonly [k: string]: unknown }

/**
 * `claude auth login --gateway-json`: every state it prints, each prompt accepted (the answer repeats the
 * shown value, as the protocol of that flag asks), `approve(browserUrl)` called when it polls. Resolves
 * with the exit code and the states seen; the CLI is killed after `ms`.
 */
export function gatewayLogin(bin: string, env: NodeJS.ProcessEnv, cwd: string, approve: (browserUrl: string) => Promise<void>, ms = 120_000): Promise<{ code: number | null; states: GatewayState[]; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(bin, ['auth', 'login', '--gateway-json'], { env, cwd, stdio: ['pipe', 'pipe', 'pipe'] })
    const states: GatewayState[] = []
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    createInterface({ input: child.stdout }).on('line', (line) => {
      let state: GatewayState
      try {
        state = JSON.parse(line) as GatewayState
      } catch {
        return
      }
      states.push(state)
      if (state.state === 'url_input' || state.state === 'trust_prompt' || state.state === 'confirm_account') {
        child.stdin.write(`${JSON.stringify({ state: state.state, shown: state.shown, accept: true })}\n`)
      }
      if (state.state === 'polling' && state.browserUrl) approve(state.browserUrl).catch((err: Error) => (stderr += `\n[test] approving failed: ${err.message}`))
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), ms)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, states, stderr })
    })
  })
}
