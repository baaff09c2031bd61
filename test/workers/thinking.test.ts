/** src/workers/thinking.ts: removing another family's thinking blocks, and nothing else. */
import t from 'tap'
import { stripThinking } from '../../src/workers/thinking.js'

const run = (body: string): string => Buffer.from(stripThinking(Buffer.from(body))).toString()

t.test('a body without thinking blocks comes back byte for byte', async (t) => {
  const body = '{"model":"m", "messages":[{"role":"assistant","content":[{"type":"text","text":"hi"}]}],"thinking":{"type":"adaptive"}}'
  t.equal(run(body), body)
})

t.test('earlier turns lose thinking and redacted_thinking; a later text turn keeps thinking on', async (t) => {
  const body = JSON.stringify({
    model: 'm',
    thinking: { type: 'enabled', budget_tokens: 2000 },
    messages: [
      { role: 'user', content: 'q1' },
      { role: 'assistant', content: [{ type: 'redacted_thinking', data: 'x' }, { type: 'thinking', thinking: 't', signature: 's' }, { type: 'text', text: 'a1' }] },
      { role: 'user', content: 'q2' },
      { role: 'assistant', content: [{ type: 'text', text: 'a2' }] },
      { role: 'user', content: 'q3' },
    ],
  })
  const out = JSON.parse(run(body))
  t.same(out.messages[1].content, [{ type: 'text', text: 'a1' }])
  t.same(out.thinking, { type: 'enabled', budget_tokens: 2000 }, 'the latest assistant turn had no thinking: thinking stays')
})

t.test('an assistant turn that was only thinking keeps a non-empty placeholder', async (t) => {
  const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: [{ type: 'thinking', thinking: 't', signature: 's' }] }, { role: 'user', content: 'go on' }] })
  const out = JSON.parse(run(body))
  t.same(out.messages[1].content, [{ type: 'text', text: '(thinking omitted)' }])
})

t.test('fields around messages keep their bytes', async (t) => {
  const body = '{"model":"m",  "weird": [1,2.50],"messages":[{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"s"},{"type":"text","text":"x"}]}], "z":true}'
  // Only the `messages` value is rewritten; every byte around it (spacing, `2.50`) is the client's.
  t.equal(run(body), '{"model":"m",  "weird": [1,2.50],"messages":[{"role":"assistant","content":[{"type":"text","text":"x"}]}], "z":true}')
})
