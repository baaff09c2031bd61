import t from 'tap'
import { absorbEvent, absorbMessage, emptyReply, emptyUsage, USAGE_EVENTS } from '../../src/workers/usage.js'
import { MESSAGE, STREAM_EVENTS } from '../fixtures/anthropic.js'

const event = (e: { type: string }): { event: string; data: string } => ({ event: e.type, data: JSON.stringify(e) })

t.test('emptyUsage is all zeros and a fresh object each time', async (t) => {
  t.same(emptyUsage(), { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, cache_creation_1h_input_tokens: 0 })
  t.not(emptyUsage(), emptyUsage())
  t.same([...USAGE_EVENTS].sort(), ['message_delta', 'message_start'])
})

t.test('the fixture stream: message_start counters, then message_delta overwrites output_tokens', async (t) => {
  const usage = emptyUsage()
  for (const e of STREAM_EVENTS) absorbEvent(usage, event(e))
  t.same(usage, { input_tokens: 472, output_tokens: 89, cache_creation_input_tokens: 120, cache_read_input_tokens: 2048, cache_creation_1h_input_tokens: 0 })
})

t.test('message_start reads message.usage', async (t) => {
  const usage = emptyUsage()
  absorbEvent(usage, { event: 'message_start', data: '{"type":"message_start","message":{"usage":{"input_tokens":10,"output_tokens":1}}}' })
  t.same(usage, { input_tokens: 10, output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, cache_creation_1h_input_tokens: 0 })
})

t.test('message_delta counters are cumulative: present fields overwrite, absent ones stay', async (t) => {
  const usage = { input_tokens: 5, output_tokens: 1, cache_creation_input_tokens: 7, cache_read_input_tokens: 9 }
  absorbEvent(usage, { event: 'message_delta', data: '{"usage":{"output_tokens":40}}' })
  t.same(usage, { input_tokens: 5, output_tokens: 40, cache_creation_input_tokens: 7, cache_read_input_tokens: 9 })
  absorbEvent(usage, { event: 'message_delta', data: '{"usage":{"output_tokens":90,"input_tokens":6}}' })
  t.same(usage, { input_tokens: 6, output_tokens: 90, cache_creation_input_tokens: 7, cache_read_input_tokens: 9 }, 'overwritten, not added')
  absorbEvent(usage, { event: 'message_delta', data: '{"usage":{"output_tokens":null,"cache_read_input_tokens":"3","input_tokens":0}}' })
  t.same(usage, { input_tokens: 0, output_tokens: 90, cache_creation_input_tokens: 7, cache_read_input_tokens: 9 }, 'only numbers count; 0 does')
  absorbEvent(usage, { event: 'message_delta', data: '{"delta":{"stop_reason":"end_turn"}}' })
  t.same(usage, { input_tokens: 0, output_tokens: 90, cache_creation_input_tokens: 7, cache_read_input_tokens: 9 }, 'no usage: unchanged')
})

t.test('cache writes by lifetime: cache_creation.ephemeral_1h_input_tokens is the 1-hour part', async (t) => {
  const usage = emptyUsage()
  absorbEvent(usage, { event: 'message_start', data: '{"type":"message_start","message":{"usage":{"input_tokens":3,"cache_creation_input_tokens":3000,"cache_creation":{"ephemeral_5m_input_tokens":1000,"ephemeral_1h_input_tokens":2000},"output_tokens":1}}}' })
  t.equal(usage.cache_creation_input_tokens, 3000)
  t.equal(usage.cache_creation_1h_input_tokens, 2000)
  absorbMessage(usage, '{"usage":{"cache_creation":{"ephemeral_1h_input_tokens":"x"}}}')
  t.equal(usage.cache_creation_1h_input_tokens, 2000, 'only a number counts')
})

t.test('usage outside its place (message.usage for message_start, usage for message_delta) is ignored', async (t) => {
  const usage = emptyUsage()
  absorbEvent(usage, { event: 'message_start', data: '{"usage":{"input_tokens":3}}' })
  absorbEvent(usage, { event: 'message_delta', data: '{"message":{"usage":{"input_tokens":4}}}' })
  t.same(usage, emptyUsage())
})

t.test('other events and unparsable data are ignored', async (t) => {
  const usage = emptyUsage()
  const bad = ['', 'not json', '{"usage":', 'null', '42', '"s"', '[]', '{"usage":null}', '{"usage":[1,2]}', '{"message":null}']
  for (const data of bad) {
    t.doesNotThrow(() => absorbEvent(usage, { event: 'message_start', data }), `message_start ${JSON.stringify(data)}`)
    t.doesNotThrow(() => absorbEvent(usage, { event: 'message_delta', data }), `message_delta ${JSON.stringify(data)}`)
  }
  absorbEvent(usage, { event: 'content_block_delta', data: '{"usage":{"output_tokens":5}}' })
  absorbEvent(usage, { event: 'message', data: '{"usage":{"output_tokens":5}}' })
  t.same(usage, emptyUsage())
})

t.test('absorbMessage reads a whole message body', async (t) => {
  const usage = emptyUsage()
  absorbMessage(usage, JSON.stringify(MESSAGE))
  t.same(usage, { ...MESSAGE.usage, cache_creation_1h_input_tokens: 0 })
  const partial = { input_tokens: 1, output_tokens: 2, cache_creation_input_tokens: 3, cache_read_input_tokens: 4 }
  absorbMessage(partial, '{"usage":{"output_tokens":20}}')
  t.same(partial, { input_tokens: 1, output_tokens: 20, cache_creation_input_tokens: 3, cache_read_input_tokens: 4 })
  for (const body of ['', '<html>502</html>', '{"usage":', 'null', '{"type":"error","error":{"type":"overloaded_error"}}']) {
    const u = emptyUsage()
    t.doesNotThrow(() => absorbMessage(u, body))
    t.same(u, emptyUsage(), JSON.stringify(body))
  }
})

t.test('the same parse reads the answer\'s id, model and stop reason (for traces), never its content', async (t) => {
  const reply = emptyReply()
  const usage = emptyUsage()
  for (const e of STREAM_EVENTS) absorbEvent(usage, event(e), reply)
  t.same(reply, { id: 'msg_01XFDUDYJgAACzvnptvVoYEL', model: 'claude-sonnet-4-5-20250929', stopReason: 'tool_use' })
  const whole = emptyReply()
  absorbMessage(emptyUsage(), JSON.stringify(MESSAGE), whole)
  t.same(whole, { id: MESSAGE.id, model: MESSAGE.model, stopReason: 'end_turn' })
})
