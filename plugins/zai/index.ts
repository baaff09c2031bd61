/**
 * Z.AI (Zhipu GLM, "GLM Coding Plan") through its Anthropic-compatible API: `{base}/v1/messages`, the
 * international root `https://api.z.ai/api/anthropic` by default (`https://open.bigmodel.cn/api/anthropic`
 * for the China region, as `base_url`). Model names come from `model_mapping` (the seed maps Claude names
 * to `GLM-4.7` / `GLM-4.5-Air`).
 *
 * Capability shaping: none, on purpose. Z.AI's own setup guide points Claude Code straight at this
 * endpoint (`ANTHROPIC_BASE_URL=https://api.z.ai/api/anthropic`, wire-protocols §6.2 [ZAI]), so the body
 * Claude Code sends — `context_management`, `output_config`, beta tool fields, the JSON-string
 * `metadata.user_id` (§2.4) — is the traffic this endpoint is built to take. No stored source shows Z.AI
 * rejecting or mis-serving any of those fields (§6.2 records its unknown-field behaviour as a gap); the
 * `metadata.user_id` rejections in §2.4 are other upstreams (DeepSeek and similar). A rule without
 * evidence would only lose information, so the body goes byte for byte. Add a rule here, with its
 * evidence, when one is observed.
 */
import { definePlugin } from '../sdk.js'

export default definePlugin({
  api: 1,
  type: 'zai',
  description: 'Z.AI GLM models through the Anthropic-compatible API (api.z.ai/api/anthropic)',
  // No type-specific keys: base_url, keys, model_mapping and models are the common ones.
  options: (Type) => Type.Object({}),
  defaultBaseUrl: () => 'https://api.z.ai/api/anthropic',
  // Whether Z.AI serves /v1/messages/count_tokens is not documented (§6.2 "[gap]"): such requests are
  // answered by the relay itself (CONTRACT §4), never sent here.
  routes: ['messages'],
  framing: 'sse',
  // Z.AI documents `ANTHROPIC_AUTH_TOKEN` (→ `Authorization: Bearer`) for Claude Code, and the seed's
  // troubleshooting `curl` uses `x-api-key`; CONTRACT §3 sends both.
  auth: { kind: 'keys', headers: ['bearer', 'x-api-key'] },
  // A Claude login or Anthropic key must never reach Z.AI (CONTRACT §3; cc-relay analysis PR #27: Z.AI
  // answered 401 when the client's Anthropic token was forwarded).
  clientCredentials: 'never',
  // GLM's thinking signatures are not Anthropic's: Claude rejects them (`Invalid signature in thinking
  // block`, §6.2 / §7), so a session moving between Z.AI and Claude drops its earlier thinking blocks.
  thinkingFamily: 'zai',
  prepare(req) {
    // CONTRACT §5: the client's query string (`?beta=true`) goes to anthropic-type upstreams only.
    return { url: `${req.baseUrl}/v1/messages`, headers: { ...req.headers }, body: req.body }
  },
})
