/**
 * Microsoft Foundry (Azure AI Foundry) Claude: Anthropic's Messages API hosted per Azure resource.
 *
 * Wire facts (wire-protocols §5; `@anthropic-ai/foundry-sdk` `src/client.ts`):
 * - API root `https://{resource}.services.ai.azure.com/anthropic`, paths `/v1/messages` and
 *   `/v1/messages/count_tokens` (the SDK keeps `messages.countTokens`; only batches are removed).
 * - The body is Anthropic's; `model` is the deployment name (`model_mapping` makes it).
 * - No `api-version` query: neither the SDK nor the docs send one on this endpoint. `azure_api_version`
 *   (the seed's example sets it) is therefore accepted and never sent — an Azure OpenAI-style
 *   `?api-version=` on an Anthropic path is exactly the original relay's wrong endpoint
 *   (cc-relay-analysis §1.4: it posted to `/models/chat/completions?api-version=…`).
 * - A key goes in `x-api-key` (what the SDK sends) or `api-key` (Azure's own header; CONTRACT §3); both
 *   are accepted (§5), and both are sent, as litellm's Foundry token counter does. An Entra ID token
 *   goes as `Authorization: Bearer` (`azure_auth_token`; the SDK's `azureADTokenProvider`).
 */
import { definePlugin } from '../sdk.js'

interface AzureOptions {
  readonly azure_resource_name: string
  readonly azure_api_version?: string
  readonly azure_auth_token?: string
}

function mentions(body: Uint8Array, token: string): boolean {
  return Buffer.from(body.buffer, body.byteOffset, body.byteLength).indexOf(token) !== -1
}

/**
 * `cache_control.scope` (Claude Code's `prompt-caching-scope-2026-01-05` beta) → removed. Evidence:
 * litellm `litellm/llms/azure_ai/anthropic/messages_transformation.py` `_remove_scope_from_cache_control`:
 * "Azure AI Foundry's Anthropic endpoint does not support the `scope` field … Only `type` and `ttl` are
 * supported"; wire-protocols §1.3 and §5. The breakpoint itself (`type`, `ttl`) stays, so caching still
 * works, only without the cross-request scope. Edits only the members that carried one.
 */

export default definePlugin<AzureOptions>({
  api: 1,
  type: 'azure',
  description: 'Claude on Microsoft Foundry (Azure AI Foundry): {resource}.services.ai.azure.com/anthropic',
  options: (Type) =>
    Type.Object({
      // An Azure resource name is a DNS label: letters, digits and hyphens.
      azure_resource_name: Type.String({ minLength: 1, pattern: '^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$' }),
      // Accepted for the seed's example; the Foundry Anthropic endpoint takes no api-version (see above).
      azure_api_version: Type.Optional(Type.String()),
      // A Microsoft Entra ID access token (scope https://ai.azure.com/.default), sent as a bearer token
      // instead of a key. Empty = unset, so `"${AZURE_AUTH_TOKEN:-}"` can stay in a config.
      azure_auth_token: Type.Optional(Type.String()),
    }),
  defaultBaseUrl: (options) => `https://${options.azure_resource_name}.services.ai.azure.com/anthropic`,
  routes: ['messages', 'count_tokens'],
  framing: 'sse',
  auth: (options) => (options.azure_auth_token ? { kind: 'bearer', token: options.azure_auth_token } : { kind: 'keys', headers: ['x-api-key', 'api-key'] }),
  clientCredentials: 'never',
  // Claude itself: thinking signatures are interchangeable with Anthropic's API (wire-protocols §7).
  thinkingFamily: 'anthropic',
  prepare(req, tools) {
    const path = req.route === 'count_tokens' ? '/v1/messages/count_tokens' : '/v1/messages'
    const notes: string[] = []
    // Fast path: no `"scope"` token in the raw bytes, nothing to look at (prompt text has it escaped).
    let body = req.body
    if (mentions(body, '"scope"')) {
      const scoped = tools.removeCacheScope(body)
      body = scoped.body
      const n = scoped.removed
      if (n > 0) notes.push(`removed cache_control.scope from ${n} cache breakpoint${n === 1 ? '' : 's'}: Foundry accepts only type and ttl`)
    }
    // CONTRACT §5: the client's query string goes to anthropic-type upstreams only.
    return { url: `${req.baseUrl}${path}`, headers: { ...req.headers }, body, ...(notes.length > 0 ? { notes } : {}) }
  },
})
