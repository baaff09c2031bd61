/**
 * The Bedrock InvokeModel request for one Anthropic Messages request (wire-protocols §3.1–§3.3):
 * the model in the URL, the stream choice in the endpoint, a few targeted body edits. Every other
 * byte of the body goes as the client sent it. A count_tokens request sends the same InvokeModel
 * body, base64-wrapped, to CountTokens (count-tokens.ts).
 */
import type { BodyTools, PrepareInput, UpstreamRequestSpec } from '../sdk.js'
import { filterBetas } from './betas.js'
import { COUNT_TOKENS_ACTION, countTokensEnvelope, withMaxTokens } from './count-tokens.js'

export interface BedrockOptions {
  readonly aws_region: string
  readonly aws_access_key_id?: string
  readonly aws_secret_access_key?: string
  readonly aws_session_token?: string
  readonly aws_bearer_token?: string
}

/** AWS-REQ: the `anthropic_version` Bedrock's InvokeModel requires in the body. */
export const BEDROCK_ANTHROPIC_VERSION = 'bedrock-2023-05-31'

/**
 * The model id as one path segment, encoded the way Anthropic's Bedrock SDK does (TS-BR
 * `internal/utils/path.ts` `encodeURIPath`): RFC 3986 pchars stay (`:` and `@` included), everything
 * else — notably the `/` of an inference-profile ARN — is percent-encoded. So
 * `anthropic.claude-sonnet-4-5-20250929-v1:0` stays as it is and
 * `arn:aws:bedrock:us-east-1:123:application-inference-profile/abc` becomes `…-profile%2Fabc`.
 * (SigV4 then encodes the path once more for the canonical request; the signer does that.)
 */
export function encodeModelId(model: string): string {
  return model.replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:@]+/g, encodeURIComponent)
}

/**
 * CountTokens refuses cross-region inference profile ids ("doesn't support counting tokens"); the
 * profile's base model counts the same tokens, so `us.anthropic.claude-…` is counted as
 * `anthropic.claude-…`. ARNs and base ids go as they are.
 */
export function countTokensModelId(model: string): string {
  return model.replace(/^(?:us|eu|apac|jp|au|ca|us-gov|global)\.(?=anthropic\.)/, '')
}

/** Headers the client sent for Anthropic's API that Bedrock gets in the body instead (TS-BR `#adaptRequest`). */
const MOVED_TO_BODY = ['anthropic-version', 'anthropic-beta']

/** The InvokeModel body: Bedrock's version field, the model and stream choice moved to the URL, betas and cache edits. */
function invokeModelBody(req: PrepareInput<BedrockOptions>, tools: BodyTools, notes: string[]): Uint8Array {
  let body = req.body
  // Bedrock takes the API version in the body, and the model and the stream choice from the URL
  // (AWS-REQ; TS-BR `#adaptRequest`; PY-SDK bedrock/_client.py).
  body = tools.setField(body, 'anthropic_version', JSON.stringify(BEDROCK_ANTHROPIC_VERSION))
  body = tools.deleteField(body, 'model')
  body = tools.deleteField(body, 'stream')

  // `anthropic-beta` header → `anthropic_beta` body array, filtered to what Bedrock accepts (betas.ts).
  const fromBody = tools.getField(body, 'anthropic_beta')
  const sources: string[] = Array.isArray(fromBody) ? fromBody.filter((b): b is string => typeof b === 'string') : []
  const header = req.headers['anthropic-beta']
  if (header) sources.push(header)
  if (sources.length > 0 || fromBody !== undefined) {
    const { kept, dropped } = filterBetas(sources)
    body = kept.length > 0 ? tools.setField(body, 'anthropic_beta', JSON.stringify(kept)) : tools.deleteField(body, 'anthropic_beta')
    if (dropped.length > 0) notes.push(`dropped betas Bedrock rejects: ${dropped.join(', ')}`)
  }

  // Top-level (automatic) `cache_control` is not supported on Bedrock InvokeModel
  // (API-BR-LEG "Features not supported", wire-protocols §3.2). Block-level cache_control stays.
  if (tools.getField(body, 'cache_control') !== undefined) {
    body = tools.deleteField(body, 'cache_control')
    notes.push('removed top-level cache_control')
  }

  // `cache_control.scope` is rejected by Bedrock (wire-protocols §1.3; src/shared/cache-scope.ts).
  const scoped = tools.removeCacheScope(body)
  if (scoped.removed > 0) {
    body = scoped.body
    notes.push(`removed cache_control.scope (${scoped.removed})`)
  }
  return body
}

/** The client's headers minus what Bedrock gets elsewhere, plus the JSON content type. */
function upstreamHeaders(client: Readonly<Record<string, string>>, accept: string): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(client)) {
    // `x-amz-*` (date, security token, payload hash) belong to the relay's own SigV4 signature: a
    // client's copy would contradict it. Bedrock's own options are `x-amzn-bedrock-*` and go along.
    if (!MOVED_TO_BODY.includes(name) && !name.startsWith('x-amz-')) headers[name] = value
  }
  // AWS InvokeModel / InvokeModelWithResponseStream / CountTokens request syntax (wire-protocols §3.1, §3.7).
  headers['content-type'] = 'application/json'
  headers['accept'] = accept
  return headers
}

export function prepareBedrock(req: PrepareInput<BedrockOptions>, tools: BodyTools): UpstreamRequestSpec {
  const model = req.model
  // An empty id, a dot segment or a leading `;` cannot be one path segment (TS-BR path.ts refuses
  // `.`, `..`, `;x`, `.;x`, `..;x` too).
  if (!model || /^(\.{0,2};|\.{1,2}$)/.test(model)) tools.reject(`"${model}" is not a Bedrock model id`)
  const modelUrl = `${req.baseUrl}/model/${encodeModelId(req.route === 'count_tokens' ? countTokensModelId(model) : model)}`
  const notes: string[] = []
  const body = invokeModelBody(req, tools, notes)

  // CONTRACT §5: the client's query string (`?beta=true`) goes to anthropic-type upstreams only.
  if (req.route === 'count_tokens') {
    const envelope = countTokensEnvelope(withMaxTokens(body, tools))
    return { url: `${modelUrl}/${COUNT_TOKENS_ACTION}`, headers: upstreamHeaders(req.headers, 'application/json'), body: envelope, notes }
  }
  const action = req.stream ? 'invoke-with-response-stream' : 'invoke'
  const accept = req.stream ? 'application/vnd.amazon.eventstream' : 'application/json'
  return { url: `${modelUrl}/${action}`, headers: upstreamHeaders(req.headers, accept), body, notes }
}
