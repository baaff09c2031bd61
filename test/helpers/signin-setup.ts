/**
 * One sign-in world for a test file: the mock IdP with a few users, a mock Anthropic upstream answering
 * every message (recording what reached it), and the compiled relay with `server.auth.sso` pointed at
 * the IdP. Users: alice (IdP group Engineering → relay group eng), ivan (Interns → interns), olga (no
 * mapped group), mallory (another domain). Interns may not use Opus and have a $5 daily member budget.
 */
import { MESSAGE } from '../fixtures/anthropic.js'
import { MockUpstream, sse } from './mock-upstream.js'
import { OidcIssuer } from './oidc-issuer.js'
import { startRelay } from './relay.js'
import type { RunningRelay } from './relay.js'

export const SECRET = 'test-signing-secret-0123456789-abcdef'
export const POOLED_KEY = 'sk-ant-pooled-key-for-signin-tests'

export const USERS = {
  alice: { sub: 'sub-alice', email: 'alice@corp.example', name: 'Alice Liddell', groups: ['Engineering', 'Everyone'] },
  ivan: { sub: 'sub-ivan', email: 'ivan@corp.example', name: 'Ivan Intern', groups: ['Interns'] },
  olga: { sub: 'sub-olga', email: 'olga@corp.example', name: 'Olga', groups: ['Sales'] },
  mallory: { sub: 'sub-mallory', email: 'mallory@evil.example', name: 'Mallory', groups: ['Engineering'] },
} as const

export interface SigninWorld {
  readonly idp: OidcIssuer
  readonly upstream: MockUpstream
  readonly relay: RunningRelay
  close(): Promise<void>
}

export interface WorldOptions {
  /** Extra YAML under `server:` (indented two spaces), e.g. tls or public_url. */
  readonly server?: string
  /** Extra keys inside the `sso:` mapping (one flow mapping line each). */
  readonly sso?: string
  /** Extra top-level YAML (state, usage, pricing). */
  readonly top?: string
  readonly env?: NodeJS.ProcessEnv
  readonly args?: string[]
}

export function ssoYaml(idp: OidcIssuer, opts: WorldOptions = {}): string {
  return `server:
${opts.server ?? ''}
  auth:
    groups:
      - { name: eng, managed_settings: { env: { TEAM: eng, FOO: "1", ANTHROPIC_CUSTOM_HEADERS: "x-team-marker: eng" }, permissions: { deny: ["WebFetch"] } } }
      - { name: everyone, managed_settings: { env: { FOO: "2" }, model: sonnet } }
      - { name: interns, deny_models: ["claude-opus-*"], member_budget: { usd: 5, period: day } }
    sso:
      issuer: "${idp.url}"
      client_id: ${idp.clientId}
      client_secret: ${idp.clientSecret}
      group_map: { Engineering: eng, Everyone: everyone, Interns: interns }
      allowed_domains: [corp.example]
      signing_secret: "${SECRET}"
${opts.sso ?? ''}
providers:
  - name: upstream
    type: anthropic
    base_url: "UPSTREAM_URL"
    keys: [{ key: "${POOLED_KEY}" }]
logging: { level: debug, format: json }
${opts.top ?? ''}
`
}

export async function signinWorld(opts: WorldOptions = {}): Promise<SigninWorld> {
  const idp = await new OidcIssuer().start()
  for (const user of Object.values(USERS)) idp.add(user)
  const upstream = await new MockUpstream().start()
  upstream.handler = (_req, res, rec) => {
    const body = JSON.parse(rec.body.toString()) as { stream?: boolean }
    if (!body.stream) return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(MESSAGE))
    res.writeHead(200, { 'content-type': 'text/event-stream' }).end(
      sse([
        { type: 'message_start', message: { ...MESSAGE, content: [], stop_reason: null } },
        { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
        { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'PONG from the mock upstream' } },
        { type: 'content_block_stop', index: 0 },
        { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 5 } },
        { type: 'message_stop' },
      ]),
    )
  }
  const relay = await startRelay(ssoYaml(idp, opts).replace('UPSTREAM_URL', upstream.url), { env: opts.env, args: opts.args })
  return {
    idp,
    upstream,
    relay,
    close: async () => {
      await relay.stop()
      await upstream.close()
      await idp.close()
    },
  }
}

/** A JWT's payload, unverified (the tests check what the relay put there). */
export const claimsOf = (jwt: string): Record<string, unknown> => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>
