/**
 * Span names and attributes: the OpenTelemetry GenAI semantic conventions of the pinned
 * `@opentelemetry/semantic-conventions` 1.45.0 (its GenAI attributes are "development": the exact
 * version is pinned in package.json and named in docs/operations.md), and the relay's own `cc_relay.*`.
 * Only names, counts, ids and codes: never message text, never a credential (a key is its short hash).
 */
import type { Attributes } from '@opentelemetry/api'
import { ATTR_ERROR_TYPE, ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_SERVER_ADDRESS, ATTR_SERVER_PORT } from '@opentelemetry/semantic-conventions'
import {
  ATTR_GEN_AI_CONVERSATION_ID,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_RESPONSE_FINISH_REASONS,
  ATTR_GEN_AI_RESPONSE_ID,
  ATTR_GEN_AI_RESPONSE_MODEL,
  ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
} from '@opentelemetry/semantic-conventions/incubating'
import type { Outcome } from '../shared/protocol.js'

export const SEMCONV_VERSION = '1.45.0'

/** `gen_ai.provider.name` per provider type: the conventions' well-known values, else the type itself. */
const PROVIDER_NAMES: Readonly<Record<string, string>> = {
  anthropic: 'anthropic',
  bedrock: 'aws.bedrock',
  vertex: 'gcp.vertex_ai',
  azure: 'azure.ai.inference',
  openai: 'openai',
}

export const genAiProvider = (type: string): string => PROVIDER_NAMES[type] ?? type

/** `chat` for Messages; the Anthropic API's own name for the token counter (no well-known value fits). */
export const operationOf = (route: string): string => (route === 'count_tokens' ? 'count_tokens' : 'chat')

/** `{gen_ai.operation.name} {gen_ai.request.model}`, as the conventions name GenAI spans. */
export const spanName = (route: string, model: string): string => (model ? `${operationOf(route)} ${model}` : operationOf(route))

/** What the answer said: model, id, stop reason, and usage with cache reads and writes counted as input. */
export function answerAttributes(outcome: Outcome | undefined, into: Attributes): void {
  if (!outcome) return
  const reply = outcome.reply
  if (reply?.model) into[ATTR_GEN_AI_RESPONSE_MODEL] = reply.model
  if (reply?.id) into[ATTR_GEN_AI_RESPONSE_ID] = reply.id
  if (reply?.stopReason) into[ATTR_GEN_AI_RESPONSE_FINISH_REASONS] = [reply.stopReason]
  const u = outcome.usage
  const any = u.input_tokens + u.output_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens > 0
  if (!any && outcome.status === 0) return
  into[ATTR_GEN_AI_USAGE_INPUT_TOKENS] = u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens
  into[ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = u.cache_read_input_tokens
  into[ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] = u.cache_creation_input_tokens
  into[ATTR_GEN_AI_USAGE_OUTPUT_TOKENS] = u.output_tokens
}

/**
 * `error.type` of one upstream attempt (a CLIENT span: any 4xx or 5xx is its error): the error event's
 * type, the relay's error code, or the status; undefined when it went well or the client left.
 */
export function attemptErrorType(outcome: Outcome): string | undefined {
  if (outcome.streamError) return outcome.streamError
  if (outcome.endedInError) return outcome.endedInError
  if (outcome.clientAborted) return undefined
  if (outcome.errorCode) return outcome.errorCode
  if (outcome.status >= 400) return String(outcome.status)
  return outcome.status === 0 ? '_OTHER' : undefined
}

/** The fixed part of a request span's attributes. */
export function requestAttributes(route: string, model: string, conversation: string | undefined): Attributes {
  const out: Attributes = { [ATTR_GEN_AI_OPERATION_NAME]: operationOf(route) }
  if (model) out[ATTR_GEN_AI_REQUEST_MODEL] = model
  if (conversation) out[ATTR_GEN_AI_CONVERSATION_ID] = conversation
  return out
}

/** Where an attempt went: the provider's host and port. */
export function serverAttributes(baseUrl: string, into: Attributes): void {
  try {
    const url = new URL(baseUrl)
    into[ATTR_SERVER_ADDRESS] = url.hostname.replace(/^\[|\]$/g, '')
    into[ATTR_SERVER_PORT] = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80
  } catch {
    // A base URL the relay could not parse never served an attempt either.
  }
}

export { ATTR_ERROR_TYPE, ATTR_GEN_AI_OPERATION_NAME, ATTR_GEN_AI_PROVIDER_NAME, ATTR_GEN_AI_REQUEST_MODEL, ATTR_HTTP_RESPONSE_STATUS_CODE }
