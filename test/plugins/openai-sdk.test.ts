/**
 * The OpenAI mock is faithful: the official `openai` SDK, pointed at it, reads its streamed text, its
 * streamed tool calls (assembled by the SDK's own chat-completion stream helper), its usage chunk and its
 * errors as it reads OpenAI's. The relay's openai tests (openai-relay.test.ts) then rely on this mock.
 */
import t from 'tap'
import OpenAI from 'openai'
import { OpenAiMock } from '../helpers/openai-mock.js'

const mock = await new OpenAiMock().start()
mock.keys.add('sk-test')
t.teardown(() => mock.close())

const sdk = new OpenAI({ baseURL: `${mock.url}/v1`, apiKey: 'sk-test', maxRetries: 0 })

t.test('streamed text and the usage chunk', async (t) => {
  mock.script = [{ text: 'The quick brown fox.', promptTokens: 90, cachedTokens: 64, completionTokens: 6 }]
  const stream = await sdk.chat.completions.create({ model: 'gpt-5-mini', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } })
  let text = ''
  let usage: OpenAI.CompletionUsage | undefined | null
  let finish: string | null | undefined
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta.content ?? ''
    finish ??= chunk.choices[0]?.finish_reason
    if (chunk.usage) usage = chunk.usage
  }
  t.equal(text, 'The quick brown fox.')
  t.equal(finish, 'stop')
  t.match(usage, { prompt_tokens: 90, completion_tokens: 6, prompt_tokens_details: { cached_tokens: 64 } })
  t.equal(mock.last.recorded.headers.authorization, 'Bearer sk-test')
})

t.test('streamed tool calls, assembled by the SDK', async (t) => {
  mock.script = [{ toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' }, { id: 'call_2', name: 'get_time', arguments: '{"tz":"CET"}' }] }]
  const runner = sdk.chat.completions.stream({
    model: 'gpt-5-mini',
    messages: [{ role: 'user', content: 'weather and time?' }],
    tools: [
      { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } },
      { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: { tz: { type: 'string' } } } } },
    ],
  })
  const done = await runner.finalChatCompletion()
  const calls = done.choices[0]!.message.tool_calls ?? []
  t.same(
    calls.map((c) => (c.type === 'function' ? [c.id, c.function.name, c.function.arguments] : [])),
    [['call_1', 'get_weather', '{"city":"Paris"}'], ['call_2', 'get_time', '{"tz":"CET"}']],
  )
  t.equal(done.choices[0]!.finish_reason, 'tool_calls')
})

t.test('whole answers with reasoning and tool calls', async (t) => {
  mock.script = [{ text: 'Done.', reasoning: 'thinking…', toolCalls: [{ id: 'call_9', name: 'f', arguments: '{}' }] }]
  const done = await sdk.chat.completions.create({ model: 'deepseek-reasoner', messages: [{ role: 'user', content: 'x' }] })
  t.equal(done.object, 'chat.completion')
  t.equal(done.choices[0]!.message.content, 'Done.')
  t.equal((done.choices[0]!.message as unknown as { reasoning_content: string }).reasoning_content, 'thinking…')
  t.equal(done.choices[0]!.message.tool_calls?.[0]?.id, 'call_9')
})

t.test('errors: the SDK raises its own error classes with the status and message', async (t) => {
  mock.error = { status: 429, message: 'Rate limit reached', type: 'requests', code: 'rate_limit_exceeded', headers: { 'retry-after': '3' } }
  t.teardown(() => void (mock.error = undefined))
  const err = await sdk.chat.completions.create({ model: 'gpt-5-mini', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e)
  t.ok(err instanceof OpenAI.RateLimitError)
  t.equal((err as InstanceType<typeof OpenAI.APIError>).status, 429)
  t.match((err as Error).message, /Rate limit reached/)
  mock.error = undefined
  const bad = new OpenAI({ baseURL: `${mock.url}/v1`, apiKey: 'sk-wrong', maxRetries: 0 })
  t.ok((await bad.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e)) instanceof OpenAI.AuthenticationError)
  const invalid = await sdk.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }], thinking: { type: 'enabled' } } as never).catch((e: unknown) => e)
  t.ok(invalid instanceof OpenAI.BadRequestError, 'an Anthropic-only field is refused as OpenAI refuses it')
})

t.test('an error chunk inside a stream makes the SDK throw', async (t) => {
  mock.script = [{ text: 'partial text here', errorAfterChunks: 2 }]
  const stream = await sdk.chat.completions.create({ model: 'gpt-5-mini', messages: [{ role: 'user', content: 'x' }], stream: true })
  const err = await (async () => {
    for await (const _ of stream) {
      // reading until the error
    }
  })().catch((e: unknown) => e)
  t.ok(err instanceof OpenAI.APIError, 'the SDK reads a chunk with `error` as an error')
  t.match((err as Error).message, /invalid content/)
})
