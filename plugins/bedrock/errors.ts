/**
 * Bedrock errors in Anthropic's terms (wire-protocols §3.6): HTTP answers (restJson1: a status, the
 * type in `x-amzn-errortype`, `{"message":…}`) and exception frames inside an event stream. The
 * wording is kept verbatim: Claude Code's recovery reads it ("Input is too long for requested model."
 * triggers its auto-compact).
 */
import { ANTHROPIC_ERROR_STATUS } from '../sdk.js'
import type { MappedError } from '../sdk.js'

type Mapping = readonly [status: number, type: string]

/**
 * By exception name, lower-cased and without a trailing "exception" (`ThrottlingException`,
 * `throttlingException` and `Throttling` are one). Names and HTTP codes: AWS-ERR, AWS-RS, AWS-TS.
 */
const BY_NAME: Readonly<Record<string, Mapping>> = {
  validation: [400, 'invalid_request_error'],
  // The caller (the relay's AWS identity) may not do this: the operator's problem, not the client's login.
  accessdenied: [403, 'permission_error'],
  // Signature and credential failures of the relay's own AWS credentials. wire-protocols §3.6 suggests
  // 401, but a 401 tells Claude Code its own login is bad and sends the user to /login, which cannot
  // help: the credential at fault is the relay's, so the client sees 403 permission_error.
  invalidsignature: [403, 'permission_error'],
  incompletesignature: [403, 'permission_error'],
  invalidclienttokenid: [403, 'permission_error'],
  unrecognizedclient: [403, 'permission_error'],
  expiredtoken: [403, 'permission_error'],
  missingauthenticationtoken: [403, 'permission_error'],
  notauthorized: [403, 'permission_error'],
  resourcenotfound: [404, 'not_found_error'],
  throttling: [429, 'rate_limit_error'],
  // A quota, not a malformed request: rate limited, so clients back off (AWS-ERR: HTTP 400).
  servicequotaexceeded: [429, 'rate_limit_error'],
  // AWS-RS/3p: 429 "model not ready" is capacity, not the caller's rate.
  modelnotready: [529, 'overloaded_error'],
  serviceunavailable: [529, 'overloaded_error'],
  modeltimeout: [504, 'timeout_error'],
  // ModelErrorException (424): the model itself failed while serving the request.
  modelerror: [500, 'api_error'],
  modelstreamerror: [500, 'api_error'],
  internalserver: [500, 'api_error'],
  internalfailure: [500, 'api_error'],
}

/** By HTTP status when the type is unknown or absent. */
function byStatus(status: number): Mapping {
  switch (status) {
    case 400:
      return [400, 'invalid_request_error']
    case 401:
      return [401, 'authentication_error']
    case 403:
      return [403, 'permission_error']
    case 404:
      return [404, 'not_found_error']
    case 408:
      return [504, 'timeout_error']
    case 413:
      return [413, 'request_too_large']
    case 429:
      return [429, 'rate_limit_error']
    case 503:
      return [529, 'overloaded_error']
    case 504:
      return [504, 'timeout_error']
    case 529:
      return [529, 'overloaded_error']
    default:
      return status >= 500 ? [status, 'api_error'] : [status, 'invalid_request_error']
  }
}


/** `ValidationException:http://internal.amazon.com/coral/…` or `aws#ValidationException` → `validation`. */
export function exceptionKey(name: string): string {
  let n = name
  const colon = n.indexOf(':')
  if (colon >= 0) n = n.slice(0, colon)
  const hash = n.lastIndexOf('#')
  if (hash >= 0) n = n.slice(hash + 1)
  n = n.trim().toLowerCase()
  return n.endsWith('exception') ? n.slice(0, -'exception'.length) : n
}

function parse(body: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(body)
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

const str = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined)

/**
 * The mapping for an exception name; a model error that says what the model answered
 * (`originalStatusCode`, AWS-ERR ModelErrorException / ModelStreamErrorException) is mapped by that.
 */
function mapping(name: string, json: Record<string, unknown> | undefined, status: number): Mapping {
  const key = exceptionKey(name)
  const original = json?.['originalStatusCode']
  if ((key === 'modelerror' || key === 'modelstreamerror') && typeof original === 'number' && original >= 400) return byStatus(original)
  return BY_NAME[key] ?? byStatus(status)
}

/** An Anthropic error envelope (some Bedrock paths already answer with one: wire-protocols §3.6). */
function anthropicError(json: Record<string, unknown> | undefined): { type: string; message: string } | undefined {
  const error = json?.['error']
  if (json?.['type'] !== 'error' || typeof error !== 'object' || error === null) return undefined
  const { type, message } = error as Record<string, unknown>
  return typeof type === 'string' && typeof message === 'string' ? { type, message } : undefined
}

/** AWS writes `x-amzn-ErrorType`; looked up whatever the case. */
function headerOf(headers: Readonly<Record<string, string>>, name: string): string | undefined {
  if (headers[name] !== undefined) return headers[name]
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === name) return value
  return undefined
}

/** A non-2xx Bedrock answer → the Anthropic error the client sees. */
export function mapBedrockError(status: number, headers: Readonly<Record<string, string>>, body: string): MappedError {
  const json = parse(body)
  const anthropic = anthropicError(json)
  if (anthropic) return { status: ANTHROPIC_ERROR_STATUS[anthropic.type] ?? status, type: anthropic.type, message: anthropic.message }
  const name = headerOf(headers, 'x-amzn-errortype') ?? str(json?.['__type']) ?? str(json?.['code']) ?? ''
  const [mappedStatus, type] = mapping(name, json, status)
  const text = body.trim()
  const message =
    str(json?.['message']) ??
    str(json?.['Message']) ??
    (json === undefined && text ? text.slice(0, 2000) : undefined) ??
    (name ? `Bedrock ${exceptionKey(name)} error` : `Bedrock answered HTTP ${status}`)
  // Bedrock's Claude quotas belong to the account, per model and region: every key slot of this
  // provider shares them, so a throttle sends the next attempt to another provider (CONTRACT §6).
  const accountQuota = ['throttling', 'servicequotaexceeded'].includes(exceptionKey(name)) || (name === '' && status === 429)
  return { status: mappedStatus, type, message, ...(accountQuota ? { scope: 'provider' as const } : {}) }
}

/**
 * An exception frame in the stream (`:exception-type` = e.g. `throttlingException`, payload
 * `{"message":…}`) → the `event: error` payload, in Anthropic's envelope with the relay's request id.
 * A `modelStreamErrorException` may carry the model's own answer (`originalStatusCode`,
 * `originalMessage`): an Anthropic error envelope there is used as is.
 */
export function streamErrorData(exception: string, payload: string, requestId: string): string {
  const json = parse(payload)
  const original = anthropicError(parse(str(json?.['originalMessage']) ?? ''))
  let type: string
  let message: string
  if (original) {
    ;({ type, message } = original)
  } else {
    type = mapping(exception, json, 500)[1]
    message = str(json?.['message']) ?? str(json?.['Message']) ?? exception
  }
  return JSON.stringify({ type: 'error', error: { type, message }, request_id: requestId })
}
