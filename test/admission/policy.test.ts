/**
 * The admission step's pure parts (issue 23, CONTRACT §10): model policy, IP allow lists and budget
 * verdicts, table-driven. Through the running relay: test/e2e/team-policy, team-budgets, allow-ips.
 */
import t from 'tap'
import { checkBudgets } from '../../src/admission/budgets.js'
import type { BudgetSpec } from '../../src/admission/budgets.js'
import { ModelPolicy, patternsOverlap } from '../../src/admission/policy.js'
import { AllowList, cidrProblem, plainPeer } from '../../src/shared/cidr.js'
import type { GroupConfig } from '../../src/config/types.js'
import { GROUP_DEFAULTS } from '../../src/config/defaults.js'

const group = (name: string, models: string[] = [], deny_models: string[] = []): GroupConfig => ({ ...GROUP_DEFAULTS, name, models, deny_models })

t.test('model policy: some group allows it, none denies it, the client narrows; a deny always wins', async (t) => {
  const cases: [string, ModelPolicy, string, string | false][] = [
    ['no group, no lists', new ModelPolicy([], undefined), 'anything', ''],
    ['own allow list', new ModelPolicy([], { models: ['claude-haiku-*'], deny_models: [] }), 'claude-sonnet-4-5', false],
    ['own deny list', new ModelPolicy([], { models: [], deny_models: ['claude-opus-4-1'] }), 'claude-opus-4-1', false],
    ['a group without lists allows everything', new ModelPolicy([group('eng')], undefined), 'claude-opus-4-1', 'eng'],
    ['a prefix pattern', new ModelPolicy([group('interns', ['claude-haiku-*'])], undefined), 'claude-haiku-4-5', 'interns'],
    ['a prefix is not a substring', new ModelPolicy([group('interns', ['claude-haiku-*'])], undefined), 'x-claude-haiku-4-5', false],
    ['an exact name is exact', new ModelPolicy([group('g', ['claude-haiku'])], undefined), 'claude-haiku-4-5', false],
    ['the group deny wins over its allow', new ModelPolicy([group('g', ['claude-*'], ['claude-opus-*'])], undefined), 'claude-opus-4-1', false],
    ["another group's deny wins", new ModelPolicy([group('eng'), group('frozen', [], ['claude-opus-*'])], undefined), 'claude-opus-4-1', false],
    ['the first group that allows it is booked', new ModelPolicy([group('a', ['x']), group('b', ['claude-*']), group('c')], undefined), 'claude-y', 'b'],
    ['the client narrows its group', new ModelPolicy([group('eng')], { models: ['claude-haiku-*'], deny_models: [] }), 'claude-opus-4-1', false],
    ['the client cannot widen its group', new ModelPolicy([group('g', ['claude-haiku-*'])], { models: ['claude-opus-*'], deny_models: [] }), 'claude-opus-4-1', false],
  ]
  for (const [name, policy, model, expected] of cases) {
    const decision = policy.decide(model)
    if (expected === false) t.same(decision, { ok: false }, name)
    else t.same(decision, { ok: true, group: expected === '' ? undefined : expected }, name)
    t.same(policy.decide(model), decision, `${name}: the cached answer is the same`)
  }
  t.ok(new ModelPolicy([], undefined).open)
  t.notOk(new ModelPolicy([group('eng')], undefined).open, 'a group to book to is not open')
  t.ok(new ModelPolicy([group('eng')], undefined).unrestricted)
})

t.test('patterns overlap when some model could match both', async (t) => {
  t.ok(patternsOverlap('claude-*', 'claude-haiku-*'))
  t.ok(patternsOverlap('claude-haiku-*', 'claude-*'))
  t.ok(patternsOverlap('claude-haiku-4-5', 'claude-haiku-*'))
  t.ok(patternsOverlap('claude-*', 'claude-haiku-4-5'))
  t.ok(patternsOverlap('m', 'm'))
  t.notOk(patternsOverlap('qwen*', 'claude-*'))
  t.notOk(patternsOverlap('m', 'n'))
})

t.test('IP allow lists: IPv4 and IPv6 CIDRs, uWS spellings, mapped addresses', async (t) => {
  t.equal(cidrProblem('10.0.0.0/8'), undefined)
  t.equal(cidrProblem('::1'), undefined)
  t.match(cidrProblem('10.0.0.0/8/1'), /is not an address or CIDR/)
  t.match(cidrProblem('10.0.0.0/x'), /not a prefix length/)
  t.equal(plainPeer('0000:0000:0000:0000:0000:ffff:7f00:0001'), '127.0.0.1', "uWS's IPv4-mapped form")
  t.equal(plainPeer('::ffff:10.1.2.3'), '10.1.2.3', "Node's IPv4-mapped form")
  t.equal(plainPeer('0000:0000:0000:0000:0000:0000:0000:0001'), '0000:0000:0000:0000:0000:0000:0000:0001')
  const list = new AllowList(['10.0.0.0/8', '192.168.1.7', 'fd00::/8'])
  t.ok(list.allows('10.255.0.1'))
  t.ok(list.allows('0000:0000:0000:0000:0000:ffff:0a00:0001'), '10.0.0.1 as uWS spells a dual-stack peer')
  t.ok(list.allows('192.168.1.7'))
  t.notOk(list.allows('192.168.1.8'))
  t.ok(list.allows('fd12:3456:789a:0001:0000:0000:0000:0001'))
  t.notOk(list.allows('0000:0000:0000:0000:0000:0000:0000:0001'), '::1 is not in fd00::/8')
  t.notOk(list.allows('not an address'))
  t.ok(new AllowList([]).allows('203.0.113.9'), 'an empty list allows everyone')
})

t.test('budgets: the fullest one speaks while all have room; once one is spent, the one that resets last', async (t) => {
  const now = Date.UTC(2026, 11, 6, 12) // a Sunday
  const spend = (spent: Record<string, number>) => ({ spent: (account: string) => spent[account] ?? 0 })
  const day: BudgetSpec = { scope: 'client', account: 'a', usd: 1, period: 'day', label: 'day budget' }
  const month: BudgetSpec = { scope: 'group_pool', account: '\u0000g', usd: 10, period: 'month', label: 'pool' }
  const header = (h: readonly string[], name: string): string | undefined => {
    const i = h.indexOf(`anthropic-ratelimit-unified-${name}`)
    return i < 0 ? undefined : h[i + 1]
  }
  t.same(checkBudgets([], spend({}), now), { ok: true, headers: [] }, 'no budget: no headers')
  const quiet = checkBudgets([day, month], spend({ a: 0.1, '\u0000g': 5 }), now)
  t.ok(quiet.ok)
  if (quiet.ok) {
    t.equal(header(quiet.headers, 'overage-utilization'), '0.5', 'the pool is fuller (50 % against 10 %)')
    t.equal(header(quiet.headers, 'reset'), String(Date.UTC(2027, 0, 1) / 1000))
    t.equal(header(quiet.headers, 'overage-surpassed-threshold'), undefined, 'no threshold below 75 %')
  }
  const high = checkBudgets([day], spend({ a: 0.999 }), now)
  t.ok(high.ok && header(high.headers, 'overage-utilization') === '0.99' && header(high.headers, 'overage-surpassed-threshold') === '0.95', 'kept below 1 while allowed; 0.95 passed')
  const both = checkBudgets([day, month], spend({ a: 2, '\u0000g': 11 }), now)
  t.notOk(both.ok)
  if (!both.ok) {
    t.equal(both.error.code, 'budget_exhausted')
    t.equal(header(both.headers, 'overage-period'), 'monthly', 'both spent: the one that resets last')
    t.equal(header(both.headers, 'overage-scope'), 'group_pool')
    t.equal(header(both.headers, 'representative-claim'), undefined)
    t.equal(header(both.headers, 'overage-status'), undefined)
  }
  const dayOnly = checkBudgets([day, month], spend({ a: 1 }), now)
  t.ok(!dayOnly.ok && header(dayOnly.headers, 'overage-period') === 'daily' && header(dayOnly.headers, 'overage-scope') === undefined, 'the spent one, not the fuller-looking other')
})
