/**
 * Bedrock credentials (CONTRACT §3), each through a running relay against the Bedrock double, which
 * verifies SigV4 signatures by recomputing them and knows which API keys exist:
 * explicit keys (with and without a session token), a Bedrock API key from the config or the
 * environment, the AWS default chain from the relay's environment, the seed's example as written —
 * and never an Anthropic credential on the way to Bedrock.
 */
import t from 'tap'
import type { Test } from 'tap'
import { spawnSync } from 'node:child_process'
import Anthropic from '@anthropic-ai/sdk'
import { BedrockMock } from '../helpers/bedrock-mock.js'
import type { BedrockRequest } from '../helpers/bedrock-mock.js'
import { API_KEY, awsEnv, bedrockConfig, CREDS, ENV_API_KEY, ENV_CREDS, explicitKeys, REGION, SESSION_CREDS } from '../helpers/bedrock-setup.js'
import { assertEnvelope, readAnswer } from '../helpers/answers.js'
import { BIN, startRelay, writeConfig } from '../helpers/relay.js'
import type { RunningRelay } from '../helpers/relay.js'

const mock = await new BedrockMock({ region: REGION, credentials: [CREDS, SESSION_CREDS, ENV_CREDS], bearerTokens: [API_KEY, ENV_API_KEY] }).start()
t.teardown(() => mock.close())

const BODY = (stream: boolean, model = 'anthropic.claude-sonnet-4-5-20250929-v1:0') =>
  JSON.stringify({ model, max_tokens: 64, stream, messages: [{ role: 'user', content: 'hi' }] })

async function withRelay<T>(yaml: string, env: Record<string, string>, fn: (relay: RunningRelay) => Promise<T>): Promise<T> {
  const relay = await startRelay(yaml, { env: awsEnv(env) })
  try {
    return await fn(relay)
  } finally {
    await relay.stop()
  }
}

/** One non-streaming and one streaming request; both must succeed. Returns what the mock saw. */
async function bothModes(t: Test, relay: RunningRelay, model?: string, headers: Record<string, string> = {}): Promise<BedrockRequest[]> {
  const seen: BedrockRequest[] = []
  for (const stream of [false, true]) {
    const res = await fetch(`${relay.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: BODY(stream, model) })
    const text = await res.text()
    t.equal(res.status, 200, `${stream ? 'streaming' : 'non-streaming'} request succeeds${res.status === 200 ? '' : `: ${text}`}`)
    if (stream) t.match(text, /event: message_stop/)
    seen.push(mock.last)
  }
  return seen
}

t.test('explicit keys: SigV4 with the configured key, verified by the mock', async (t) => {
  // A Bedrock API key in the environment does not override keys written in the config.
  await withRelay(bedrockConfig(mock.url, explicitKeys()), { AWS_BEARER_TOKEN_BEDROCK: ENV_API_KEY }, async (relay) => {
    for (const req of await bothModes(t, relay)) {
      t.match(req.auth, { kind: 'sigv4', accessKeyId: CREDS.accessKeyId, region: 'us-east-1', service: 'bedrock' })
      t.equal(req.headers['x-amz-security-token'], undefined)
    }
  })
})

t.test('explicit keys with a session token: x-amz-security-token sent and signed', async (t) => {
  await withRelay(bedrockConfig(mock.url, explicitKeys(SESSION_CREDS)), {}, async (relay) => {
    for (const req of await bothModes(t, relay)) {
      t.match(req.auth, { kind: 'sigv4', accessKeyId: SESSION_CREDS.accessKeyId })
      t.equal(req.headers['x-amz-security-token'], SESSION_CREDS.sessionToken)
      t.ok(req.auth?.kind === 'sigv4' && req.auth.signedHeaders.includes('x-amz-security-token'), 'the token is signed')
    }
  })
})

t.test("a wrong secret: the mock's 403 reaches the client as 403 permission_error, wording kept", async (t) => {
  await withRelay(bedrockConfig(mock.url, explicitKeys({ ...CREDS, secretAccessKey: 'not-the-secret' })), {}, async (relay) => {
    for (const stream of [false, true]) {
      const answer = await readAnswer(await fetch(`${relay.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: BODY(stream) }))
      const envelope = assertEnvelope(t, answer, 403, 'permission_error')
      t.match(envelope.error.message, /^The request signature we calculated does not match the signature you provided/)
      t.equal(mock.last.authError, 'InvalidSignatureException', 'the mock computed a different signature')
    }
  })
})

t.test('a Bedrock API key from aws_bearer_token: Authorization: Bearer, no SigV4', async (t) => {
  // The config's key wins over both the environment's API key and the environment's AWS keys.
  const env = { AWS_BEARER_TOKEN_BEDROCK: ENV_API_KEY, AWS_ACCESS_KEY_ID: ENV_CREDS.accessKeyId, AWS_SECRET_ACCESS_KEY: ENV_CREDS.secretAccessKey }
  await withRelay(bedrockConfig(mock.url, `    aws_bearer_token: "${API_KEY}"\n`), env, async (relay) => {
    for (const req of await bothModes(t, relay)) {
      t.same(req.auth, { kind: 'bearer', token: API_KEY })
      t.equal(req.headers['authorization'], `Bearer ${API_KEY}`)
      t.equal(req.headers['x-amz-date'], undefined, 'not signed')
      t.equal(req.headers['x-amz-content-sha256'], undefined)
    }
  })
})

t.test('a Bedrock API key from AWS_BEARER_TOKEN_BEDROCK in the environment', async (t) => {
  const env = { AWS_BEARER_TOKEN_BEDROCK: ENV_API_KEY, AWS_ACCESS_KEY_ID: ENV_CREDS.accessKeyId, AWS_SECRET_ACCESS_KEY: ENV_CREDS.secretAccessKey }
  await withRelay(bedrockConfig(mock.url), env, async (relay) => {
    for (const req of await bothModes(t, relay)) {
      t.same(req.auth, { kind: 'bearer', token: ENV_API_KEY }, 'the API key comes before the AWS chain, as in the official SDKs')
      t.equal(req.headers['x-amz-date'], undefined)
    }
  })
})

t.test('no keys in the config: the AWS default chain, here AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY', async (t) => {
  await withRelay(bedrockConfig(mock.url), { AWS_ACCESS_KEY_ID: ENV_CREDS.accessKeyId, AWS_SECRET_ACCESS_KEY: ENV_CREDS.secretAccessKey }, async (relay) => {
    for (const req of await bothModes(t, relay)) t.match(req.auth, { kind: 'sigv4', accessKeyId: ENV_CREDS.accessKeyId })
  })
  await withRelay(
    bedrockConfig(mock.url),
    { AWS_ACCESS_KEY_ID: SESSION_CREDS.accessKeyId, AWS_SECRET_ACCESS_KEY: SESSION_CREDS.secretAccessKey, AWS_SESSION_TOKEN: SESSION_CREDS.sessionToken! },
    async (relay) => {
      for (const req of await bothModes(t, relay)) {
        t.match(req.auth, { kind: 'sigv4', accessKeyId: SESSION_CREDS.accessKeyId }, 'with a session token from the environment')
        t.equal(req.headers['x-amz-security-token'], SESSION_CREDS.sessionToken)
      }
    },
  )
})

t.test("the seed's example as written (plus base_url), credentials from the environment", async (t) => {
  // The seed: aws_region, model_mapping and the placeholder key `bedrock-internal` (a pool slot).
  const yaml = `
logging: { level: info, format: json }
providers:
  - name: "bedrock"
    type: "bedrock"
    enabled: true
    base_url: "${mock.url}"
    aws_region: "us-east-1"
    model_mapping:
      "claude-sonnet-4-5-20250514": "anthropic.claude-sonnet-4-5-20250514-v1:0"
    keys:
      - key: "bedrock-internal"
`
  await withRelay(yaml, { AWS_ACCESS_KEY_ID: ENV_CREDS.accessKeyId, AWS_SECRET_ACCESS_KEY: ENV_CREDS.secretAccessKey }, async (relay) => {
    const seen = await bothModes(t, relay, 'claude-sonnet-4-5-20250514')
    t.equal(seen[0]!.url, '/model/anthropic.claude-sonnet-4-5-20250514-v1:0/invoke')
    t.equal(seen[1]!.url, '/model/anthropic.claude-sonnet-4-5-20250514-v1:0/invoke-with-response-stream')
    for (const req of seen) {
      t.match(req.auth, { kind: 'sigv4', accessKeyId: ENV_CREDS.accessKeyId })
      t.notOk(JSON.stringify(req.headers).includes('bedrock-internal'), 'the slot label is not sent as a credential')
    }
    const message = await new Anthropic({ baseURL: relay.url, apiKey: 'unused', maxRetries: 0 }).messages
      .stream({ model: 'claude-sonnet-4-5-20250514', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] })
      .finalMessage()
    t.equal(message.stop_reason, 'tool_use', 'Claude Code-style client gets the streamed message')
  })
})

t.test('no Anthropic credential ever reaches Bedrock, even with allow_subscription', async (t) => {
  const clientHeaders = {
    'x-api-key': 'sk-ant-api03-client-own-key-AAAA',
    authorization: 'Bearer sk-ant-oat01-subscription-token-BBBB',
    'anthropic-beta': 'oauth-2025-04-20,claude-code-20250219',
  }
  const top = 'server: { auth: { allow_subscription: true } }'
  for (const [name, extra] of [
    ['SigV4', explicitKeys()],
    ['a Bedrock API key', `    aws_bearer_token: "${API_KEY}"\n`],
  ] as const) {
    await withRelay(bedrockConfig(mock.url, `${extra}    keys: [{ key: "bedrock-internal" }]\n`, top), {}, async (relay) => {
      for (const req of await bothModes(t, relay, undefined, clientHeaders)) {
        const all = JSON.stringify(req.headers) + req.body.toString()
        t.notOk(all.includes('sk-ant'), `${name}: no sk-ant credential in any header or the body`)
        t.equal(req.headers['x-api-key'], undefined, `${name}: no x-api-key`)
        t.equal(req.auth?.kind, name === 'SigV4' ? 'sigv4' : 'bearer', `${name}: only the relay's own AWS auth`)
        t.equal((JSON.parse(req.body.toString()) as { anthropic_beta?: unknown }).anthropic_beta, undefined, 'the OAuth beta is not sent either')
      }
    })
  }
})

t.test('config: explicit keys come in pairs, a session token needs both, aws_region is a region name', async (t) => {
  const file = writeConfig(`
providers:
  - { name: b0, type: bedrock, aws_region: us-east-1, aws_access_key_id: "AKIA1" }
  - { name: b1, type: bedrock, aws_region: us-east-1, aws_secret_access_key: "s" }
  - { name: b2, type: bedrock, aws_region: us-east-1, aws_session_token: "tok" }
  - { name: b3, type: bedrock, aws_region: "evil.example.com/x" }
  - { name: b4, type: bedrock }
  - { name: b5, type: bedrock, aws_region: eu-west-1, aws_access_key_id: "A", aws_secret_access_key: "s", aws_session_token: "t", aws_bearer_token: "x" }
`)
  const run = spawnSync(process.execPath, [BIN, 'config', 'validate', file], { encoding: 'utf8' })
  t.equal(run.status, 1)
  const out = run.stdout + run.stderr
  t.match(out, /providers\[0\]: must have properties aws_secret_access_key when property aws_access_key_id is present/)
  t.match(out, /providers\[1\]: must have properties aws_access_key_id when property aws_secret_access_key is present/)
  t.match(out, /providers\[2\]: must have properties aws_access_key_id, aws_secret_access_key when property aws_session_token is present/)
  t.match(out, /providers\[3\]\.aws_region: must match pattern/, 'a region is a name, never a host')
  t.match(out, /providers\[4\]\.aws_region: is required/)
  t.notMatch(out, /providers\[5\]/, 'every option together is valid')
})
