/**
 * Amazon Bedrock's InvokeModel API for Claude (`bedrock-runtime`), wire facts in
 * wire-protocols.md §3:
 *
 * - `POST {base}/model/{modelId}/invoke` (a whole JSON message back) or
 *   `…/invoke-with-response-stream` (an AWS event stream of base64 Anthropic events, translated to
 *   Anthropic SSE here); the model id in the path (base ids, `us.`/`eu.`/`global.`… inference
 *   profiles, ARNs), the API version and the betas in the body (request.ts).
 * - Credentials (CONTRACT §3): explicit `aws_access_key_id`/`aws_secret_access_key`
 *   (`aws_session_token`) → SigV4; else a Bedrock API key (`aws_bearer_token`, or the environment's
 *   `AWS_BEARER_TOKEN_BEDROCK`) → `Authorization: Bearer`; else SigV4 with the AWS default chain
 *   (environment, shared files, SSO, container/instance roles). A key entry such as the seed's
 *   `bedrock-internal` is a pool slot with its own limits, never a credential.
 * - Errors: restJson1 answers and stream exceptions → Anthropic errors (errors.ts).
 * - Token counting: `count_tokens` → CountTokens (`…/model/{modelId}/count-tokens`, the InvokeModel
 *   body base64-wrapped), its `{"inputTokens":N}` rewritten to Anthropic's `{"input_tokens":N}` in the
 *   worker by the count_tokens translator's `onWhole` (count-tokens.ts).
 */
import { definePlugin } from '../sdk.js'
import type { AuthSpec } from '../sdk.js'
import { CountTokensTranslator } from './count-tokens.js'
import { mapBedrockError } from './errors.js'
import { prepareBedrock } from './request.js'
import type { BedrockOptions } from './request.js'
import { BedrockTranslator } from './translate.js'

/** SigV4 service name of `bedrock-runtime` (TS-BR core/auth.ts, PY-SDK `SigV4Auth(…, "bedrock", region)`). */
const SERVICE = 'bedrock'

const set = (value: string | undefined): value is string => typeof value === 'string' && value !== ''

export function bedrockAuth(options: Readonly<BedrockOptions>, env: NodeJS.ProcessEnv = process.env): AuthSpec {
  const region = options.aws_region
  if (set(options.aws_access_key_id) && set(options.aws_secret_access_key)) {
    const credentials = {
      accessKeyId: options.aws_access_key_id,
      secretAccessKey: options.aws_secret_access_key,
      ...(set(options.aws_session_token) ? { sessionToken: options.aws_session_token } : {}),
    }
    return { kind: 'sigv4', service: SERVICE, region, credentials }
  }
  // The official SDKs read the same variable (TS-BR client.ts "Defaults to process.env['AWS_BEARER_TOKEN_BEDROCK']").
  const token = set(options.aws_bearer_token) ? options.aws_bearer_token : env['AWS_BEARER_TOKEN_BEDROCK']
  if (set(token)) return { kind: 'bearer', token }
  return { kind: 'sigv4', service: SERVICE, region }
}

export default definePlugin<BedrockOptions>({
  api: 1,
  type: 'bedrock',
  description: 'Amazon Bedrock InvokeModel (bedrock-runtime): SigV4 or a Bedrock API key; event streams served as Anthropic SSE',
  options: (T) =>
    T.Object(
      {
        // A region name only: it becomes part of the default host name.
        aws_region: T.String({ pattern: '^[a-z0-9]+(-[a-z0-9]+)+$' }),
        aws_access_key_id: T.Optional(T.String()),
        aws_secret_access_key: T.Optional(T.String()),
        aws_session_token: T.Optional(T.String()),
        aws_bearer_token: T.Optional(T.String()),
      },
      {
        // Explicit keys come in pairs (a session token needs both); one alone is a mistake, not a fallback.
        dependentRequired: {
          aws_access_key_id: ['aws_secret_access_key'],
          aws_secret_access_key: ['aws_access_key_id'],
          aws_session_token: ['aws_access_key_id', 'aws_secret_access_key'],
        },
      },
    ),
  defaultBaseUrl: (options) => `https://bedrock-runtime.${options.aws_region}.amazonaws.com`,
  routes: ['messages', 'count_tokens'],
  framing: 'aws-eventstream',
  auth: (options) => bedrockAuth(options),
  // CONTRACT §3: a client's Anthropic login never reaches another backend.
  clientCredentials: 'never',
  // Signatures are interchangeable between Anthropic's API, Bedrock, Vertex and Foundry (wire-protocols §7).
  thinkingFamily: 'anthropic',
  prepare: prepareBedrock,
  translator: (req) => (req.route === 'count_tokens' ? new CountTokensTranslator(req.requestId) : new BedrockTranslator(req.requestId)),
  mapError: mapBedrockError,
})
