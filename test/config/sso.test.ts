/**
 * CONTRACT §1 `server.auth.sso` and `server.public_url` (§12): defaults, and every rule that spans keys —
 * each problem reported with its path, all at once.
 */
import t from 'tap'
import { parse, problemsFrom } from './fixtures/helpers.js'

const SECRET = 'a-signing-secret-of-at-least-32-chars!'
const PROVIDERS = 'providers:\n  - name: a\n    type: anthropic\n'

t.test('sso is off by default, with the contract defaults', async (t) => {
  const config = await parse(PROVIDERS)
  t.equal(config.server.public_url, '')
  t.same(config.server.auth.groups, [])
  t.same(config.server.auth.sso, {
    issuer: '',
    client_id: '',
    client_secret: '',
    scopes: ['openid', 'email', 'profile'],
    groups_claim: 'groups',
    group_map: {},
    default_group: '',
    allowed_domains: [],
    token_ttl_s: 3600,
    refresh: true,
    signing_secret: '',
  })
})

t.test('a valid sso block on loopback needs no public_url; domains are normalised', async (t) => {
  const config = await parse(`server:
  auth:
    groups: [{ name: eng, managed_settings: { env: { A: "1" } } }]
    sso:
      issuer: "http://127.0.0.1:9000/realms/x"
      client_id: relay
      group_map: { "Engineering": eng }
      default_group: eng
      allowed_domains: ["@Corp.Example", " other.example "]
      signing_secret: ["${SECRET}", "${SECRET}-old"]
${PROVIDERS}`)
  t.same(config.server.auth.sso.allowed_domains, ['corp.example', 'other.example'])
  t.same(config.server.auth.sso.signing_secret, [SECRET, `${SECRET}-old`])
  t.match(config.server.auth.groups, [{ name: 'eng', managed_settings: { env: { A: '1' } } }])
})

t.test('every sso mistake at once, with its path', async (t) => {
  const problems = await problemsFrom(
    parse(`server:
  listen: "0.0.0.0:8787"
  public_url: "http://relay.corp.example/sub?x=1"
  auth:
    groups: [{ name: eng }]
    sso:
      issuer: "http://idp.corp.example"
      scopes: [email]
      group_map: { Interns: interns }
      default_group: nobody
      token_ttl_s: 5
      signing_secret: ["short", "${SECRET}"]
${PROVIDERS}`),
  )
  const byPath = new Map(problems.map((p) => [p.path, p.message]))
  t.match(byPath.get('server.public_url'), /origin only/)
  t.match(byPath.get('server.auth.sso.issuer'), /https/)
  t.match(byPath.get('server.auth.sso.client_id'), /required/)
  t.match(byPath.get('server.auth.sso.signing_secret[0]'), /at least 32/)
  t.notOk(byPath.has('server.auth.sso.signing_secret[1]'))
  t.match(byPath.get('server.auth.sso.scopes'), /openid/)
  t.match(byPath.get('server.auth.sso.group_map.Interns'), /no group is named "interns"/)
  t.match(byPath.get('server.auth.sso.default_group'), /no group is named "nobody"/)
  t.match(byPath.get('server.auth.sso.token_ttl_s'), /≥ 60/)
})

t.test('a non-loopback listen needs an https public_url', async (t) => {
  const sso = `    sso: { issuer: "https://idp.example", client_id: c, signing_secret: "${SECRET}", default_group: eng }\n    groups: [{ name: eng }]\n`
  const missing = await problemsFrom(parse(`server:\n  listen: "0.0.0.0:8787"\n  auth:\n${sso}${PROVIDERS}`))
  t.match(missing.find((p) => p.path === 'server.public_url')?.message, /required with sso/)
  const plain = await problemsFrom(parse(`server:\n  listen: "10.0.0.5:8787"\n  public_url: "http://10.0.0.5:8787"\n  auth:\n${sso}${PROVIDERS}`))
  t.match(plain.find((p) => p.path === 'server.public_url')?.message, /https/)
  const ok = await parse(`server:\n  listen: "0.0.0.0:8787"\n  public_url: "https://relay.corp.example"\n  auth:\n${sso}${PROVIDERS}`)
  t.equal(ok.server.public_url, 'https://relay.corp.example')
})

t.test('without an issuer nothing else is required (sso is off)', async (t) => {
  const config = await parse(`server:\n  auth:\n    sso: { client_id: c, signing_secret: short }\n${PROVIDERS}`)
  t.equal(config.server.auth.sso.issuer, '')
})
