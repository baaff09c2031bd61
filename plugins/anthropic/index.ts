/**
 * Anthropic's own API (and any endpoint that speaks it exactly). Pure passthrough: the body goes as the
 * client sent it (model already mapped by the core), the client's query string (`?beta=true`) is kept,
 * and the SSE answer comes back byte for byte.
 */
import { definePlugin } from '../sdk.js'

export default definePlugin({
  api: 1,
  type: 'anthropic',
  description: 'Anthropic Messages API (api.anthropic.com); forwards Claude subscription logins when allowed',
  defaultBaseUrl: () => 'https://api.anthropic.com',
  routes: ['messages', 'count_tokens'],
  framing: 'sse',
  auth: { kind: 'keys', headers: ['x-api-key'] },
  // The only type a client's own Anthropic credential may reach (CONTRACT §3).
  clientCredentials: 'forward',
  prepare(req) {
    const path = req.route === 'count_tokens' ? '/v1/messages/count_tokens' : '/v1/messages'
    // CONTRACT §5: the client's query string goes to anthropic-type upstreams only.
    const url = `${req.baseUrl}${path}${req.query ? `?${req.query}` : ''}`
    return { url, headers: { ...req.headers }, body: req.body }
  },
})
