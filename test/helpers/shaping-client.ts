/**
 * Client side of the provider-plugin e2e tests: post a body to a running relay, and read what the
 * request log says the plugin changed (`shaped`, the plugin's notes) for that very request.
 */
import type { RunningRelay } from './relay.js'

export interface Posted {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  readonly requestId: string
}

/** Claude Code's headers (no credential). */
export const CLAUDE_CODE_HEADERS: Readonly<Record<string, string>> = {
  'anthropic-version': '2023-06-01',
  'anthropic-beta': 'claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27',
  'user-agent': 'claude-cli/2.1.300 (external, cli)',
  'x-app': 'cli',
}

export async function post(relay: RunningRelay, body: string, headers: Record<string, string> = {}, path = '/v1/messages?beta=true'): Promise<Posted> {
  const res = await fetch(relay.url + path, { method: 'POST', headers: { 'content-type': 'application/json', ...CLAUDE_CODE_HEADERS, ...headers }, body })
  const text = await res.text()
  return { status: res.status, headers: res.headers, text, requestId: res.headers.get('x-cc-relay-request-id') ?? '' }
}

/** The request log line of one request. */
export function requestLog(relay: RunningRelay, requestId: string): Promise<Record<string, unknown>> {
  return relay.waitForLog((line) => line.msg === 'request' && line.request_id === requestId)
}

/** The error envelope of a relay answer. */
export function errorOf(text: string): { type: string; message: string } {
  return (JSON.parse(text) as { error: { type: string; message: string } }).error
}
