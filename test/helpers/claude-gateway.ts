/**
 * Claude Code's gateway sign-in for tests: a sandbox HOME whose settings point `/login` at the relay,
 * the CLI run to its end, and `claude auth login --gateway-json` driven line by line (every prompt
 * accepted, the browser part handed to the test). The CLI itself comes from claude-cli.ts.
 */
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'

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
