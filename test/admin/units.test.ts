/** Admin building blocks: loopback peers, the admin key check, prices. */
import t from 'tap'
import { AdminAuth, isLoopback } from '../../src/admin/admin-auth.js'
import { PriceTable } from '../../src/admin/pricing.js'

t.test('loopback in every spelling uWS and Node use', async (t) => {
  for (const a of ['127.0.0.1', '127.8.9.10', '::1', '0000:0000:0000:0000:0000:0000:0000:0001', '::ffff:127.0.0.1', '0000:0000:0000:0000:0000:ffff:7f00:0001']) t.ok(isLoopback(a), a)
  for (const a of ['192.0.2.2', '10.0.0.1', 'fd00::2', '0000:0000:0000:0000:0000:ffff:c000:0202', '0000:0000:0000:0000:0000:0000:0000:0002', '', 'localhost']) t.notOk(isLoopback(a), a || '(empty)')
})

t.test('admin key: Basic password or Bearer; without a key, loopback only', async (t) => {
  const keyed = new AdminAuth('s3cret')
  const basic = (v: string) => `Basic ${Buffer.from(v).toString('base64')}`
  t.equal(keyed.check(basic('any:s3cret'), '192.0.2.2'), undefined, 'Basic, any user, from anywhere')
  t.equal(keyed.check(basic(':s3cret'), '127.0.0.1'), undefined, 'empty user name')
  t.equal(keyed.check('Bearer s3cret', '192.0.2.2'), undefined)
  t.equal(keyed.check('', '127.0.0.1')?.code, 'admin_unauthenticated', 'a key set: loopback needs it too')
  t.equal(keyed.check(basic('s3cret'), '127.0.0.1')?.code, 'admin_unauthenticated', 'no colon: no password')
  t.equal(keyed.check('Bearer s3cre', '127.0.0.1')?.code, 'admin_unauthenticated')
  const open = new AdminAuth('')
  t.equal(open.check('', '127.0.0.1'), undefined)
  t.equal(open.check('Bearer anything', '192.0.2.2')?.code, 'admin_forbidden')
})

t.test('prices: backend spellings of Claude names, operator overrides, unknown models', async (t) => {
  const table = new PriceTable({ 'glm-4*': { input: 0.6, output: 2.2, cache_write: 0.6, cache_read: 0.11 }, 'claude-sonnet-4-5-20250929': { input: 1, output: 2, cache_write: 3, cache_read: 4 } })
  const usage = { input_tokens: 1_000_000, output_tokens: 1_000_000, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 }
  t.equal(table.costOf('claude-opus-4-5-20251101', usage), 30, 'opus 4.5: $5 + $25')
  t.equal(table.costOf('us.anthropic.claude-haiku-4-5-20251001-v1:0', usage), 6, 'a Bedrock profile id')
  t.equal(table.costOf('claude-sonnet-4@20250514', usage), 18, 'a Vertex id')
  t.equal(table.costOf('claude-sonnet-4-5-20250929', usage), 3, 'an exact operator price wins')
  t.equal(table.costOf('glm-4.6', usage), 2.8, 'an operator prefix')
  t.equal(table.costOf('llama3', usage), undefined, 'no price, no guess')
  t.equal(table.costOf('claude-3-5-haiku-latest', { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 1_000_000, cache_read_input_tokens: 1_000_000 }), 0.8 * 1.25 + 0.8 * 0.1, 'cache prices as ratios of input')
  // Claude Code writes 1-hour cache entries: 2× input, not 1.25× (CONTRACT §1 cache_write_1h).
  const writes = { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 3_000_000, cache_read_input_tokens: 0, cache_creation_1h_input_tokens: 2_000_000 }
  t.equal(table.costOf('claude-sonnet-4-20250514', writes), 3 * 1.25 + 2 * 3 * 2, '1M 5-minute writes at 1.25×, 2M 1-hour writes at 2×')
  const operator = new PriceTable({ m: { input: 1, output: 1, cache_write: 1.5, cache_write_1h: 4, cache_read: 0.1 } })
  t.equal(operator.costOf('m', writes), 1.5 + 2 * 4, "an operator's cache_write_1h")
})
