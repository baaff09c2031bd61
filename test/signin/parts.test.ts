/**
 * The small pieces of sign-in on their own: the form parser (arbitrary bytes), sealing at rest, the
 * managed-settings checksum (as Claude Code computes it) and merge, the usage view's two shapes, and
 * the mapping from IdP claims to relay groups.
 */
import t from 'tap'
import fc from 'fast-check'
import { createHash } from 'node:crypto'
import { CONFIG_DEFAULTS } from '../../src/config/defaults.js'
import { parseForm } from '../../src/signin/http.js'
import { mapIdentity } from '../../src/signin/identity.js'
import { checksumOf, managedSettingsFor, sortedKeys } from '../../src/signin/managed-settings.js'
import { Sealer } from '../../src/signin/seal.js'
import { normalizeUserCode } from '../../src/signin/state.js'
import { usageView } from '../../src/signin/usage-view.js'

t.test('parseForm: arbitrary bytes never throw; a known parameter twice is refused, unknown repeats are ignored', async (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), (b) => {
    const form = parseForm(Buffer.from(b), ['grant_type'])
    return form === 'duplicate' || form instanceof Map
  }), { numRuns: 3000 })
  fc.assert(fc.property(fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.string({ maxLength: 20 })), (d) => {
    const form = parseForm(Buffer.from(new URLSearchParams(d).toString()), Object.keys(d))
    return form !== 'duplicate' && Object.entries(d).every(([k, v]) => form.get(k) === v)
  }))
  t.equal(parseForm(Buffer.from('grant_type=a&grant_type=b'), ['grant_type']), 'duplicate')
  t.same([...(parseForm(Buffer.from('x=1&x=2&grant_type=g'), ['grant_type']) as Map<string, string>)], [['x', '1'], ['grant_type', 'g']])
})

t.test('sealing: round trip, rotation, and anything tampered or foreign opens to nothing', async (t) => {
  const sealer = new Sealer(['secret-one-0123456789-0123456789-ab'])
  const sealed = sealer.seal({ refresh: 'idp-refresh-token', n: 1 })
  t.notMatch(sealed, /idp-refresh-token/)
  t.same(sealer.open(sealed), { refresh: 'idp-refresh-token', n: 1 })
  t.same(new Sealer(['secret-two-0123456789-0123456789-ab', 'secret-one-0123456789-0123456789-ab']).open(sealed), { refresh: 'idp-refresh-token', n: 1 }, 'an old secret in the list still opens')
  t.equal(new Sealer(['secret-two-0123456789-0123456789-ab']).open(sealed), undefined)
  fc.assert(fc.property(fc.nat({ max: sealed.length - 1 }), fc.constantFrom('A', 'b', '0', '.', '-'), (at, ch) => {
    const changed = sealed.slice(0, at) + ch + sealed.slice(at + 1)
    return changed === sealed || sealer.open(changed) === undefined
  }), { numRuns: 500 })
})

t.test('managed settings: the checksum Claude Code computes (keys sorted at every level, no whitespace)', async (t) => {
  const settings = { z: 1, a: { y: [{ b: 2, a: 1 }], x: 'é' }, m: null }
  t.equal(JSON.stringify(sortedKeys(settings)), '{"a":{"x":"é","y":[{"a":1,"b":2}]},"m":null,"z":1}')
  t.equal(checksumOf(settings), `sha256:${createHash('sha256').update('{"a":{"x":"é","y":[{"a":1,"b":2}]},"m":null,"z":1}').digest('hex')}`)
  const groups = [{ name: 'a', managed_settings: { env: { A: '1', B: '1' }, list: [1] } }, { name: 'b', managed_settings: undefined }, { name: 'c', managed_settings: { env: { B: '2' }, list: [2] } }]
  t.same(managedSettingsFor(['c', 'a'], groups)!.settings, { env: { A: '1', B: '2' }, list: [2] }, "the config's group order, later wins, arrays replaced")
  t.equal(managedSettingsFor(['b'], groups), undefined, 'no settings → the protocol 404')
  t.equal(managedSettingsFor(['a', 'c'], groups)!.uuid, managedSettingsFor(['c', 'a'], groups)!.uuid, 'stable per set of groups')
})

t.test('usage view: spend without caps, and the fullest cap with its rows', async (t) => {
  t.same(usageView({ dayUsd: 12.4, weekUsd: 30, monthUsd: 271.4 }, []), {
    extra_usage: { is_enabled: true, monthly_limit: null, used_credits: 27140, utilization: null, currency: 'USD', daily: { limit: null, used_credits: 1240, utilization: null }, weekly: { limit: null, used_credits: 3000, utilization: null } },
    limits: [],
  })
  const resets = Date.UTC(2026, 11, 7)
  const view = usageView({ dayUsd: 0, weekUsd: 0, monthUsd: 0 }, [{ period: 'daily', limitUsd: 10, spentUsd: 8.2, resetsAt: resets }, { period: 'monthly', limitUsd: 500, spentUsd: 271.4, resetsAt: Date.UTC(2027, 0, 1) }]) as { extra_usage: Record<string, unknown>; limits: Record<string, unknown>[] }
  t.same(view.extra_usage, { is_enabled: true, monthly_limit: 1000, used_credits: 820, utilization: 82, currency: 'USD' })
  t.same(view.limits[0], { kind: 'spend', group: 'daily', percent: 82, resets_at: '2026-12-07T00:00:00.000Z', severity: 'warning', is_active: true })
  t.match(view.limits[1], { group: 'monthly', percent: 54, severity: 'normal', is_active: false })
})

t.test('identity: email rules, allowed domains, group_map, same-name groups, default_group', async (t) => {
  const sso = { ...CONFIG_DEFAULTS.server.auth.sso, group_map: { Engineering: 'eng' }, allowed_domains: ['corp.example'] }
  const relay = ['eng', 'sales', 'all']
  t.match(mapIdentity({ sub: 's', email: 'Ann@Corp.Example', groups: ['Engineering', 'sales', 'other'] }, sso, relay), { ok: true, user: { email: 'ann@corp.example', groups: ['eng', 'sales'], name: 'ann@corp.example' } })
  t.match(mapIdentity({ sub: 's', email: 'a@corp.example', groups: 'Engineering', name: ' Ann ' }, sso, relay), { ok: true, user: { groups: ['eng'], name: 'Ann' } })
  t.match(mapIdentity({ sub: 's', email: 'a@corp.example', groups: ['x'] }, sso, relay), { ok: false, reason: /no group/ })
  t.match(mapIdentity({ sub: 's', email: 'a@corp.example' }, { ...sso, default_group: 'all' }, relay), { ok: true, user: { groups: ['all'] } })
  t.match(mapIdentity({ sub: 's', email: 'a@other.example', groups: ['Engineering'] }, sso, relay), { ok: false, reason: /other.example may not sign in/ })
  t.match(mapIdentity({ sub: 's', email: 'a@corp.example', email_verified: false, groups: ['Engineering'] }, sso, relay), { ok: false, reason: /not verified/ })
  t.match(mapIdentity({ sub: 's', groups: ['Engineering'] }, sso, relay), { ok: false, reason: /no email/ })
  fc.assert(fc.property(fc.dictionary(fc.string(), fc.anything()), (claims) => {
    const r = mapIdentity(claims, sso, relay)
    return r.ok ? r.user.groups.length > 0 && r.user.email.endsWith('@corp.example') : typeof r.reason === 'string'
  }))
  t.equal(normalizeUserCode(' wdjb-mjht '), 'WDJBMJHT')
})
