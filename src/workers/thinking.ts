/**
 * Making a conversation safe for another thinking family (wire-protocols.md §7). Signatures are opaque
 * and valid only within their family: Anthropic answers a foreign one with 400 "Invalid `signature` in
 * `thinking` block", and other backends choke on Anthropic's. Anthropic's own advice for a model switch
 * is to drop earlier turns' thinking blocks ("other models silently ignore them"); if the latest
 * assistant turn (an open tool loop) had thinking, thinking is turned off for this request, because a
 * tool-loop turn must otherwise start with a thinking block. Only the `messages` value (and `thinking`)
 * change; every other byte stays as the client sent it.
 */
import { deleteField, setField } from '../shared/json-edit.js'
import { findMember, memberValue, scanObject } from '../shared/json-scan.js'

interface Block {
  readonly type?: unknown
}
interface Message {
  readonly role?: unknown
  content?: unknown
}

const isThinking = (b: Block): boolean => b?.type === 'thinking' || b?.type === 'redacted_thinking'

export function stripThinking(body: Uint8Array): Uint8Array {
  const scan = scanObject(body, { trusted: true })
  if (!scan.ok) return body
  const member = findMember(body, scan.members, 'messages')
  const messages = member && memberValue(body, member)
  if (!Array.isArray(messages)) return body
  const lastAssistant = messages.map((m: Message) => m?.role).lastIndexOf('assistant')
  let changed = false
  let openLoopHadThinking = false
  messages.forEach((m: Message, i: number) => {
    if (m?.role !== 'assistant' || !Array.isArray(m.content) || !m.content.some(isThinking)) return
    changed = true
    if (i === lastAssistant) openLoopHadThinking = true
    const kept = (m.content as Block[]).filter((b) => !isThinking(b))
    // An assistant turn that was only thinking keeps a visible placeholder: empty content is a 400.
    m.content = kept.length ? kept : [{ type: 'text', text: '(thinking omitted)' }]
  })
  if (!changed) return body
  const edited = setField(body, 'messages', JSON.stringify(messages))
  return openLoopHadThinking ? deleteField(edited, 'thinking') : edited
}
