/**
 * Builds the upstream request for one lease: the core's body edits (mapped model, output clamp), the
 * plugin's `prepare`, then credentials (CONTRACT §3) and the encoding the relay can read.
 */
import type { PrepareInput, ProviderPlugin } from '../../plugins/sdk.js'
import type { ProviderConfig } from '../config/types.js'
import { bodyTools, setField, splice } from '../shared/json-edit.js'
import type { RelayTask } from '../shared/protocol.js'
import { authOf } from '../shared/plugins.js'
import { applyAuth } from './auth/index.js'
import { stripThinking } from './thinking.js'

/** Credentials could not be had (no AWS chain, a token endpoint down or refusing): the provider is unusable now. */
export class CredentialError extends Error {}

export interface PreparedRequest {
  readonly url: URL
  readonly headers: Record<string, string>
  readonly body: Buffer
  readonly input: PrepareInput
  readonly notes: readonly string[] | undefined
}

function withUpstreamModel(task: RelayTask): Uint8Array {
  const [start, end] = task.modelSpan
  const wanted = JSON.stringify(task.lease.upstreamModel)
  const body = task.body
  const current = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8', start, end)
  return current === wanted ? body : splice(body, start, end, wanted)
}

export async function prepareRequest(task: RelayTask, provider: ProviderConfig, plugin: ProviderPlugin): Promise<PreparedRequest> {
  let body = withUpstreamModel(task)
  if (task.lease.stripThinking) body = stripThinking(body)
  // Small local or foreign models reject a max_tokens above their own ceiling.
  if (provider.max_output_tokens > 0 && task.maxTokens !== undefined && task.maxTokens > provider.max_output_tokens) {
    body = setField(body, 'max_tokens', String(provider.max_output_tokens))
  }
  const input: PrepareInput = {
    route: task.route,
    requestId: task.requestId,
    body,
    model: task.lease.upstreamModel,
    stream: task.stream,
    query: task.query,
    headers: task.headers,
    baseUrl: (provider.base_url || plugin.defaultBaseUrl(provider.options)).replace(/\/+$/, ''),
    options: provider.options,
  }
  const spec = plugin.prepare(input, bodyTools)
  const headers = spec.headers
  headers['accept-encoding'] = 'identity'
  // The attempt's own traceparent (CONTRACT §11), to every backend whatever its plugin forwards.
  if (task.upstreamHeaders) Object.assign(headers, task.upstreamHeaders)
  const url = new URL(spec.url)
  const out = spec.body
  try {
    await applyAuth(authOf(plugin, provider.options), task, provider, url, headers, out)
  } catch (err) {
    throw new CredentialError((err as Error).message)
  }
  return { url, headers, body: Buffer.from(out.buffer, out.byteOffset, out.byteLength), input, notes: spec.notes }
}
