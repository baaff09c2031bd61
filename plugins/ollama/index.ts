/**
 * Ollama (≥ v0.14) through its Anthropic-compatible `POST /v1/messages`: a local server, no credential.
 *
 * Ollama's Anthropic layer is partial (the seed's limitations table; wire-protocols §6.1). The body goes
 * as the client sent it except where the evidence below says Ollama cannot serve it:
 * - documents (PDF or any other source) and non-base64 images → the request is refused before Ollama
 *   is called (400, or failover to a provider that can read them);
 * - `tool_choice` → removed (Ollama cannot force or forbid a tool);
 * - `thinking.budget_tokens` → kept, but the request log says it is not enforced.
 * Everything else Ollama ignores harmlessly (see the notes in `prepare`), so it is left byte for byte.
 *
 * Sources: `ollama/ollama` `anthropic/anthropic.go` (the request structs, `convertMessage`,
 * `resolveImageSource`, `FromMessagesRequest`), `docs/api/anthropic-compatibility.mdx`, and the seed's
 * "기능 제한" table (providers.ko.md).
 */
import { definePlugin } from '../sdk.js'
import type { BodyTools } from '../sdk.js'

type Json = Record<string, unknown>
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value)

/** Whether `token` occurs in the raw body: a cheap test that lets untouched requests skip all parsing. */
function mentions(body: Uint8Array, token: string): boolean {
  return Buffer.from(body.buffer, body.byteOffset, body.byteLength).indexOf(token) !== -1
}

function documentKind(block: Json): string {
  const source = isObject(block.source) ? block.source : {}
  if (source.media_type === 'application/pdf') return 'a PDF document'
  if (typeof source.type === 'string') return `a document (${source.type} source)`
  return 'a document'
}

/**
 * Refuses content Ollama cannot take. Evidence (anthropic.go): `convertMessage` switches on the block
 * type and counts anything it does not know — `document` included — as `unknownBlocks` that it drops, so
 * a PDF would be silently ignored and the model would answer without it (seed: "PDF 입력: 아니오").
 * `resolveImageSource` answers "invalid image source type: …. Only base64 images are supported." for
 * any other image source (seed: "이미지 URL: 아니오 — Base64 인코딩만 지원"); refusing here instead of
 * letting Ollama 400 lets failover try a provider that can read the image. `convertToolResultContent`
 * applies the same image rule inside `tool_result` content and drops documents there too.
 */
function checkContent(content: unknown, where: string, tools: BodyTools): void {
  if (!Array.isArray(content)) return
  content.forEach((block: unknown, j) => {
    if (!isObject(block)) return
    const at = `${where}[${j}]`
    if (block.type === 'document') {
      tools.reject(
        `${at} is ${documentKind(block)} block; Ollama's Anthropic API cannot read documents (it would drop the block and answer without it)`,
      )
    }
    if (block.type === 'image' && isObject(block.source) && typeof block.source.type === 'string' && block.source.type !== 'base64') {
      tools.reject(`${at} is an image given by ${block.source.type}; Ollama's Anthropic API takes base64 images only`)
    }
    if (block.type === 'tool_result') checkContent(block.content, `${at}.content`, tools)
  })
}

export default definePlugin({
  api: 1,
  type: 'ollama',
  description: 'Ollama (local models) through its Anthropic-compatible API; no credential',
  // No type-specific keys: base_url, keys (pool slots), model_mapping and models are the common ones.
  options: (Type) => Type.Object({}),
  defaultBaseUrl: () => 'http://localhost:11434',
  // No count_tokens route in Ollama (wire-protocols §6.1; seed: "토큰 카운팅: 아니오"): such requests are
  // answered by the relay itself (CONTRACT §4), never sent here.
  routes: ['messages'],
  framing: 'sse',
  // Ollama needs no credential and ignores one (§6.1: "key required but ignored"; CONTRACT §3:
  // "nothing (ollama)"). With `none`, a key entry such as the seed's `key: "ollama"` is a pool slot with
  // its own limits, and a provider without keys is served too (a `keys` auth would make it "no credential").
  auth: { kind: 'none' },
  clientCredentials: 'never',
  // Ollama's thinking blocks carry no signature and it ignores incoming ones (§6.1).
  thinkingFamily: 'ollama',
  prepare(req, tools) {
    let body = req.body
    const notes: string[] = []

    // Fast path: without these tokens in the raw bytes no rule can apply and nothing is parsed (a token
    // inside a JSON string, such as prompt text, is escaped: \"document\" never matches). Base64 images
    // alone (screenshots in a tool loop) do not trigger a parse: a refused image needs a "url" or "file".
    const refusable = mentions(body, '"document"') || (mentions(body, '"image"') && (mentions(body, '"url"') || mentions(body, '"file"')))
    if (refusable) {
      const messages = tools.getField(body, 'messages')
      if (Array.isArray(messages)) messages.forEach((m: unknown, i) => isObject(m) && checkContent(m.content, `messages[${i}].content`, tools))
    }

    // `tool_choice` is parsed into `ToolChoice` but `FromMessagesRequest` never reads it, and the docs list
    // it as unsupported (seed: "tool_choice: 아니오 — 특정 도구 사용 강제 불가"). Removed so the request log
    // shows the client's choice was not honoured.
    if (mentions(body, '"tool_choice"')) {
      const choice = tools.getField(body, 'tool_choice')
      if (choice !== undefined) {
        body = tools.deleteField(body, 'tool_choice')
        notes.push(`removed tool_choice ${JSON.stringify(choice)}: Ollama cannot force or forbid tool use`)
      }
    }

    // `ThinkingConfig.BudgetTokens` is parsed, but only `type` reaches Ollama (`Think: true/false`): the
    // budget is accepted and not enforced (seed: "budget_tokens 허용되지만 적용되지 않음"). Left as sent.
    if (mentions(body, '"budget_tokens"')) {
      const thinking = tools.getField(body, 'thinking')
      if (isObject(thinking) && thinking.budget_tokens !== undefined) {
        notes.push(`thinking.budget_tokens ${JSON.stringify(thinking.budget_tokens)} is not enforced by Ollama (sent unchanged)`)
      }
    }

    // Left as sent, with their evidence (anthropic.go decodes the body with encoding/json into fixed
    // structs, which ignores unknown fields):
    // - `cache_control` anywhere: not a field of any struct → ignored (seed: "cache_control 블록 무시됨").
    // - `context_management`, `mcp_servers`, `service_tier`, future fields: not in `MessagesRequest` → ignored.
    // - tool fields `defer_loading`, `eager_input_streaming`, `strict`, `input_examples`,
    //   `allowed_callers`: not in `Tool` → ignored.
    // - `output_config`: decoded, `effort` maps to Ollama's think level (`xhigh` → `high`).
    // - `metadata.user_id`: `Metadata.UserID string` takes Claude Code's JSON string as it is.
    // - `thinking.type: "adaptive"`: decoded, not mapped (effort or the model's default decide).
    return { url: `${req.baseUrl}/v1/messages`, headers: { ...req.headers }, body, ...(notes.length > 0 ? { notes } : {}) }
  },
})
