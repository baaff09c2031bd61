/**
 * Claude on Google Vertex AI. The request is the Anthropic body with the model moved into the URL and
 * `anthropic_version` in the body; the answer is Anthropic JSON / SSE, passed through byte for byte.
 * Facts and sources: shared/reference/wire-protocols.md §4.
 *
 * What the official Vertex SDK does to a Messages request (`@anthropic-ai/vertex-sdk` 1.1.3,
 * `src/client.ts` `#adaptRequest`), and what this plugin does:
 * - URL `{root}/v1/projects/{p}/locations/{r}/publishers/anthropic/models/{model}:streamRawPredict` when the
 *   body's `stream` is true, else `:rawPredict`; `count_tokens` → `…/models/count-tokens:rawPredict`. Same.
 * - Body: `model` deleted for messages (kept for count-tokens: "The body of the request must contain the
 *   model ID", GV-CT), `stream` kept, `anthropic_version` added. Same, except the value: the SDK copies
 *   the client's `anthropic-version` header into the body (1.1.3 sends its own `2026-10-21`), while
 *   Anthropic's Vertex documentation says it "must be set to the value `vertex-2023-10-16`" (API-VX "two
 *   key differences"; also the Python SDK's and earlier TS SDK's `DEFAULT_VERSION`). Claude Code sends
 *   `anthropic-version: 2023-06-01`, not a Vertex version, so the documented value is set.
 * - Headers: the caller's headers go along (`anthropic-beta` unchanged, as an HTTP header: the SDK does
 *   not filter or move betas for Vertex); `anthropic-version` is removed ("Vertex takes the API version
 *   from the body"). The Google OAuth bearer is added by the core (`auth: google`).
 */
import { definePlugin } from '../sdk.js'
import { modelsPath, pathSegment, regionalRoot, unsafeSegment } from './endpoint.js'
import { mapVertexError } from './errors.js'

export interface VertexOptions {
  readonly gcp_project_id: string
  readonly gcp_region: string
  readonly gcp_credentials_file?: string
}

/** Google's OAuth scope for Vertex AI (PY-SDK `_google_auth.py` `CLOUD_PLATFORM_SCOPE`; TS-VX default). */
export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform'

/** Anthropic's documented Vertex API version (API-VX). */
export const VERTEX_ANTHROPIC_VERSION = 'vertex-2023-10-16'

export default definePlugin<VertexOptions>({
  api: 1,
  type: 'vertex',
  description: 'Claude on Google Vertex AI (rawPredict / streamRawPredict, Google OAuth from ADC or a key file)',
  options: (T) =>
    T.Object({
      // Project ids: lower-case letters, digits and hyphens; legacy domain-scoped ids look like
      // `example.com:my-project`.
      gcp_project_id: T.String({ pattern: '^([a-z0-9][a-z0-9.-]*:)?[a-z][a-z0-9-]*[a-z0-9]$' }),
      // A region (`us-east5`), a multi-region (`us`, `eu`) or `global`.
      gcp_region: T.String({ pattern: '^[a-z][a-z0-9]*(-[a-z0-9]+)*$' }),
      // A service-account key JSON; without it, Application Default Credentials.
      gcp_credentials_file: T.Optional(T.String({ minLength: 1 })),
    }),
  defaultBaseUrl: (o) => regionalRoot(o.gcp_region),
  routes: ['messages', 'count_tokens'],
  framing: 'sse',
  auth: (o) => ({
    kind: 'google',
    scopes: [CLOUD_PLATFORM_SCOPE],
    ...(o.gcp_credentials_file ? { keyFile: o.gcp_credentials_file } : {}),
  }),
  // CONTRACT §3: a client's Anthropic login or key never reaches Google.
  clientCredentials: 'never',
  // Signatures are interchangeable between Anthropic's API, Bedrock and Vertex (wire-protocols §7).
  thinkingFamily: 'anthropic',
  prepare(req, tools) {
    const models = modelsPath(req.baseUrl, req.options.gcp_project_id, req.options.gcp_region)
    let body = req.body
    let url: string
    if (req.route === 'count_tokens') {
      url = `${models}/count-tokens:rawPredict`
    } else {
      if (unsafeSegment(req.model)) tools.reject(`model ${JSON.stringify(req.model)} cannot be a Vertex AI model path segment`)
      url = `${models}/${pathSegment(req.model)}:${req.stream ? 'streamRawPredict' : 'rawPredict'}`
      body = tools.deleteField(body, 'model')
    }
    body = tools.setField(body, 'anthropic_version', JSON.stringify(VERTEX_ANTHROPIC_VERSION))
    const notes: string[] = []
    // Vertex rejects `cache_control.scope` (evidence in src/shared/cache-scope.ts).
    const scoped = tools.removeCacheScope(body)
    if (scoped.removed > 0) {
      body = scoped.body
      notes.push(`removed cache_control.scope from ${scoped.removed} block${scoped.removed === 1 ? '' : 's'} (Vertex AI rejects it)`)
    }
    const headers = { ...req.headers }
    delete headers['anthropic-version']
    return { url, headers, body, ...(notes.length ? { notes } : {}) }
  },
  mapError: (status, _headers, body) => mapVertexError(status, body),
})
