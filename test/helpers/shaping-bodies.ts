/**
 * Request bodies for the capability-shaping and contract tests: Claude Code traffic with the content a
 * backend may not take (documents, image URLs, tool_choice, thinking budgets, scoped cache breakpoints).
 * Hand-written strings with odd spacing, so a test can show exactly which bytes a plugin changed.
 */

/** A tiny valid PNG (1×1), base64. */
export const PNG_BASE64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg=='

/** A user turn whose content is the given blocks (JSON text), with a text question after them. */
export function userTurn(model: string, blocks: string, extra = ''): string {
  return `{"model": ${JSON.stringify(model)}, "max_tokens": 32000,${extra}
 "messages": [{"role":"user","content":[${blocks}, {"type":"text","text":"what is in there?"}]}]}`
}

export const PDF_BLOCK = '{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0xLjQK"}}'
export const TEXT_DOCUMENT_BLOCK = '{"type":"document","source":{"type":"text","media_type":"text/plain","data":"plain notes"},"title":"notes"}'
export const URL_IMAGE_BLOCK = '{"type":"image","source":{"type":"url","url":"https://example.com/cat.png"}}'
export const BASE64_IMAGE_BLOCK = `{"type":"image","source":{"type":"base64","media_type":"image/png","data":"${PNG_BASE64}"}}`

/** A tool loop whose tool_result carries a screenshot given by URL (Claude Code's Read of an image is base64; a client may do otherwise). */
export function toolResultWithUrlImage(model: string): string {
  return `{"model":${JSON.stringify(model)},"max_tokens":1000,"messages":[
 {"role":"user","content":"look at the page"},
 {"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"Screenshot","input":{}}]},
 {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"here"},${URL_IMAGE_BLOCK}]}]}]}`
}

/** A realistic multi-turn tool loop with signed thinking: what Claude Code replays on every turn. */
export function toolLoop(model: string, stream: boolean): string {
  return JSON.stringify({
    model,
    max_tokens: 32000,
    stream,
    thinking: { type: 'enabled', budget_tokens: 10000 },
    system: [{ type: 'text', text: 'You are Claude Code.', cache_control: { type: 'ephemeral' } }],
    tools: [{ name: 'Bash', description: 'Run a command', input_schema: { type: 'object', properties: { command: { type: 'string' } }, required: ['command'] } }],
    messages: [
      { role: 'user', content: 'list the files' },
      {
        role: 'assistant',
        content: [
          { type: 'thinking', thinking: 'I will run ls.', signature: 'EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds' },
          { type: 'tool_use', id: 'toolu_01', name: 'Bash', input: { command: 'ls' } },
        ],
      },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01', content: [{ type: 'text', text: 'a.txt b.txt' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG_BASE64 } }] }] },
    ],
    x_unknown_extension: { nested: [1, { deep: true }] },
  })
}
