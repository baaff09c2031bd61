/** src/supervisor/failure-scope.ts, table-driven: where a failed attempt sends the next one, and what the breaker counts. */
import t from 'tap'
import { attemptScope, unhealthy } from '../../src/supervisor/failure-scope.js'
import type { AttemptFacts, AttemptScope } from '../../src/supervisor/failure-scope.js'
import { Rig, config, key, provider } from './fixtures/helpers.js'

const facts = (over: Partial<AttemptFacts>): AttemptFacts => ({ status: 0, clientCredential: false, keysAreCredentials: true, ...over })

t.test('the scope table', async (t) => {
  const table: [name: string, over: Partial<AttemptFacts>, scope: AttemptScope, countsAgainstProvider: boolean][] = [
    ['200', { status: 200 }, 'ok', false],
    ['429 on a pooled key', { status: 429 }, 'key', false],
    ['401 on a pooled key', { status: 401 }, 'key', false],
    ['403 on a pooled key', { status: 403 }, 'key', false],
    ["401 to the client's own credential", { status: 401, clientCredential: true }, 'final', false],
    ["429 to the client's own credential", { status: 429, clientCredential: true }, 'key', false],
    ['529 overloaded', { status: 529 }, 'provider', true],
    ['500', { status: 500 }, 'provider', true],
    ['502', { status: 502 }, 'provider', true],
    ['503', { status: 503 }, 'provider', true],
    ['400: the request is wrong', { status: 400 }, 'final', false],
    ['404', { status: 404 }, 'final', false],
    ['413', { status: 413 }, 'final', false],
    ['connection refused or reset', { errorCode: 'upstream_unreachable' }, 'provider', true],
    ['first-byte timeout', { errorCode: 'upstream_timeout' }, 'provider', true],
    ['a plugin refused the content', { errorCode: 'unsupported_request' }, 'refused', false],
    ['a fault inside the relay', { errorCode: 'internal' }, 'final', false],
    ['200, then overloaded_error before content', { status: 200, streamError: 'overloaded_error' }, 'provider', true],
    ['200, then api_error before content', { status: 200, streamError: 'api_error' }, 'provider', true],
    ['200, then rate_limit_error before content', { status: 200, streamError: 'rate_limit_error' }, 'key', false],
    ['200, then invalid_request_error before content', { status: 200, streamError: 'invalid_request_error' }, 'final', false],
    ['429 a plugin declares provider-wide (shared capacity)', { status: 429, declared: 'provider' }, 'provider', false],
    ['503 a plugin declares key-scoped', { status: 503, declared: 'key' }, 'key', true],
    ['429 on a slot of a provider whose keys are not credentials', { status: 429, keysAreCredentials: false }, 'provider', false],
    ["the relay's own shared-window refusal on such a slot (declared key)", { status: 429, declared: 'key', keysAreCredentials: false }, 'key', false],
    ['403 on such a slot', { status: 403, keysAreCredentials: false }, 'provider', false],
  ]
  for (const [name, over, scope, counts] of table) {
    t.equal(attemptScope(facts(over)), scope, `${name}: ${scope}`)
    t.equal(unhealthy(facts(over)), counts, `${name}: ${counts ? 'counts' : 'does not count'} against the provider`)
  }
})

t.test('after a provider-wide failure the next lease goes to another provider; the failed one only when nothing else can serve', async (t) => {
  const r = new Rig(config([provider('a', { priority: 2, keys: [key('a1'), key('a2'), key('a3')] }), provider('b', { priority: 1, keys: [key('b1', { rpm_limit: 1 })] })]))
  const first = r.lease()
  t.equal(r.who(first), 'a/a1')
  r.report(first, 529)
  const tried = new Set([first.keyId])
  const avoid = new Set([first.provider])
  const second = r.lease({ tried, avoidProviders: avoid })
  t.equal(r.who(second), 'b/b1', 'the backup, not a2')
  r.report(second, 529)
  tried.add(second.keyId)
  avoid.add(second.provider)
  t.equal(r.next({ tried, avoidProviders: avoid }), 'a/a2', "with every provider failed, the failed providers' other keys")
})

t.test('a failed provider is used again when the other is busy rather than answering 429', async (t) => {
  const r = new Rig(config([provider('a', { priority: 2, keys: [key('a1'), key('a2')] }), provider('b', { priority: 1, keys: [key('b1', { rpm_limit: 1 })] })]))
  r.report(r.lease({ model: 'other', tried: new Set() }), 200) // not b: a serves first
  // Spend b's one request of the minute.
  const bOnly = r.lease({ tried: new Set([r.keyId('a', 'a1'), r.keyId('a', 'a2')]) })
  t.equal(r.who(bOnly), 'b/b1')
  r.report(bOnly, 200)
  const first = r.lease()
  t.match(r.who(first), /^a\//)
  r.report(first, 500)
  const next = r.next({ tried: new Set([first.keyId]), avoidProviders: new Set([first.provider]) })
  t.match(next, /^a\//, "b is at its limit: a's other key rather than a 429")
  t.not(next, r.who(first), 'each key at most once')
})
