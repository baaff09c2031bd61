/**
 * The seeded end-to-end fuzz (fuzz.test.ts) on the sign-in surface (CONTRACT §12): discovery, the
 * device flow (/oauth/device_authorization, /device GET and POST, /oauth/callback, /oauth/token),
 * revocation, and a member's endpoints (/managed/settings, /api/oauth/usage, /v1/{metrics,logs,traces}
 * with `client_telemetry: forward`, so their OTLP is really parsed). Real values from a real sign-in —
 * forms, device and user codes, the callback's state and cookie, access and refresh tokens, OTLP
 * batches from the official SDKs — are mutated: damaged bytes, dropped, doubled and junk parameters,
 * broken and re-signed JWTs with claims of the wrong type, odd headers, protobuf nested past any limit.
 * No answer may be a 5xx or malformed JSON; the relay must stay up, log no internal error, and sign a
 * member in and take their telemetry afterwards.
 *
 * Reproduce a failure with the seed it prints: CC_RELAY_FUZZ_SEED=… (CC_RELAY_FUZZ_COUNT sets the size).
 */
import t from 'tap'
import { SignJWT } from 'jose'
import { Agent } from 'undici'
import { headerSafe, int, mutateBytes, pick, rawExchange, runCases } from '../helpers/fuzz.js'
import type { Finding, Rng } from '../helpers/fuzz.js'
import { batch, SIGNALS } from '../helpers/otlp-batches.js'
import { OtlpSink, resourcesOf } from '../helpers/otlp-sink.js'
import { prng } from '../helpers/prng.js'
import { SigninClient } from '../helpers/signin-flow.js'
import { SECRET, signinWorld, USERS } from '../helpers/signin-setup.js'

const SEED = Number(process.env.CC_RELAY_FUZZ_SEED ?? 20261206)
// A third of the body fuzz's count: these requests do more (IdP round trips, OTLP parsing).
const COUNT = Math.ceil(Number(process.env.CC_RELAY_FUZZ_COUNT ?? 3000) / 3)
const DEEP = 20_000

interface Case {
  readonly what: string
  readonly method: string
  readonly path: string
  readonly headers: Record<string, string>
  readonly body?: Buffer
}

// Three relays' worth of work on a shared 2-core machine: more than tap's default 180 s per file.
t.setTimeout(600_000)
const sink = await new OtlpSink().start()
const world = await signinWorld({ top: `telemetry: { otlp: { endpoint: "${sink.url}" }, client_telemetry: forward }` })
t.teardown(async () => {
  await world.close()
  await sink.close()
})
const { relay, idp } = world
const client = new SigninClient(relay.url)
const origin = new URL(relay.url).origin

// ---- real values to start from ----
idp.loginAs = USERS.alice.email
const alice = await client.signIn()
idp.loginAs = USERS.ivan.email
// Ivan's tokens are the ones revocation cases may really revoke; alice's stay good for the member endpoints.
const ivan = await client.signIn()
const pending = await client.start()
const posted = await client.form('/device', { user_code: pending.user_code, action: 'approve' }, { origin, 'sec-fetch-site': 'same-origin' })
const callbackCookie = (posted.headers.get('set-cookie') ?? '').split(';')[0]!
const idpRedirect = await client.request(posted.headers.get('location')!)
const callback = new URL(idpRedirect.headers.get('location')!)
const batches = await Promise.all(SIGNALS.flatMap((s) => (['protobuf', 'json'] as const).map(async (e) => ({ signal: s, encoding: e, body: await batch(s, e, 'boss@corp.example', 'fuzz') }))))

const b64 = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url')
const [jwtHeader, jwtPayload, jwtSignature] = alice.access_token.split('.') as [string, string, string]
const claims = JSON.parse(Buffer.from(jwtPayload, 'base64url').toString()) as Record<string, unknown>
// Signed with the relay's own secret, so only the claims are wrong: the checks past the signature.
const oddClaims: Record<string, unknown>[] = [
  { ...claims, groups: 'eng' },
  { ...claims, groups: [5, null, { a: 1 }] },
  { ...claims, email: 5 },
  { ...claims, email: '' },
  { ...claims, email: 'x'.repeat(10_000) },
  { ...claims, exp: 'soon' },
  { ...claims, exp: 1e300 },
  { ...claims, aud: ['cc-relay', 'other'] },
  { ...claims, aud: 'someone-else' },
  { ...claims, jti: undefined },
  { ...claims, sub: { nested: true } },
  { ...claims, name: '\u0000\u202e<script>' },
  {},
]
const resigned = await Promise.all(oddClaims.map((c) => new SignJWT(c as Record<string, unknown>).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(SECRET))))
const TOKENS = [alice.access_token, ivan.access_token, ivan.refresh_token ?? 'none', ...resigned]

// ---- mutators ----
const JUNK = ['', ' ', '%', '%zz', '%FF%FE', '%00', '+', '&', '=', 'a'.repeat(5000), '😀', '[]', '{"a":1}', 'null', 'XXXX-XXXX', 'bcdf-ghjk', 'urn:ietf:params:oauth:grant-type:device_code', 'refresh_token', 'authorization_code']

function mutateToken(r: Rng, token: string): string {
  switch (int(r, 0, 8)) {
    case 0:
      return headerSafe(mutateBytes(r, Buffer.from(token)))
    case 1:
      return `${jwtPayload}.${jwtHeader}.${jwtSignature}`
    case 2:
      return `${b64(pick(r, [{ alg: 'none' }, { alg: 'HS512' }, { alg: 'HS256', crit: ['exp'] }, { alg: 'RS256', kid: '../../etc/passwd' }, [], 'not json', { alg: 'HS256', b64: false }]))}.${jwtPayload}.${pick(r, ['', jwtSignature])}`
    case 3:
      return `${jwtHeader}.${b64(pick(r, ['{', '[]', 'null', { ...claims, email: 'boss@corp.example' }, { exp: 1 }]))}.${jwtSignature}`
    case 4:
      return token.split('.').slice(0, int(r, 0, 2)).join('.')
    case 5:
      return `${token}.${pick(r, ['', 'x', token])}`
    case 6:
      return token.repeat(int(r, 2, 40))
    case 7:
      return pick(r, resigned)
    default:
      return token
  }
}

function mutateForm(r: Rng, params: [string, string][]): Buffer {
  let list = params.map(([k, v]): [string, string] => [k, v])
  for (let n = int(r, 1, 3); n > 0; n--) {
    const i = int(r, 0, Math.max(0, list.length - 1))
    switch (int(r, 0, 6)) {
      case 0:
        list.splice(i, 1)
        break
      case 1:
        if (list[i]) list.push([list[i]![0], pick(r, JUNK)])
        break
      case 2:
        if (list[i]) list[i] = [list[i]![0], pick(r, JUNK)]
        break
      case 3:
        list.push([pick(r, ['client_id', 'scope', 'surface', 'x', '', '__proto__', 'constructor']), pick(r, JUNK)])
        break
      case 4:
        if (list[i]) list[i] = [list[i]![0], mutateToken(r, list[i]![1])]
        break
      case 5:
        if (list[i]) list[i] = [pick(r, [`${list[i]![0]} `, list[i]![0].toUpperCase(), `${list[i]![0]}[]`]), list[i]![1]]
        break
      default:
        list = list.reverse()
    }
  }
  const encoded = Buffer.from(new URLSearchParams(list).toString())
  return r() < 0.4 ? mutateBytes(r, encoded) : encoded
}

/** OTLP/JSON of the wrong shape, and nesting past any parser's limit (JSON and protobuf). */
function deepProtobuf(depth: number): Buffer {
  // AnyValue{array_value: ArrayValue{values: [AnyValue{…}]}} again and again, inside a log record's body.
  const wrap = (field: number, inner: Buffer): Buffer => {
    const len: number[] = []
    for (let n = inner.length; ; n >>>= 7) {
      if (n < 0x80) {
        len.push(n)
        break
      }
      len.push((n & 0x7f) | 0x80)
    }
    return Buffer.concat([Buffer.from([(field << 3) | 2, ...len]), inner])
  }
  let value = Buffer.from([0x0a, 0x01, 0x78]) // AnyValue{string_value: "x"}
  for (let i = 0; i < depth; i++) value = wrap(5, wrap(1, value))
  return wrap(1, wrap(2, wrap(2, wrap(5, value)))) // ResourceLogs → ScopeLogs → LogRecord → body
}
const deepJson = `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":${'{"kvlistValue":{"values":[{"key":"a","value":'.repeat(DEEP)}{"stringValue":"x"}${'}]}}'.repeat(DEEP)}}]}]}]}`
const SHAPES = ['{"resourceSpans":{}}', '{"resourceSpans":[null]}', '{"resourceSpans":[{"resource":[]}]}', '{"resourceSpans":[{"resource":{"attributes":{}}}]}', '{"resourceSpans":[{"resource":{"attributes":[5]}}]}', '{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":"x"}]}]}]}', '{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"sum":{"dataPoints":7}}]}]}]}', '{"resource_logs":[{"scope_logs":[{"log_records":[{"attributes":[{"key":"user.email"}]}]}]}]}', '{"__proto__":{"resourceSpans":[]}}', '{"resourceSpans":[{"resource":{"attributes":[{"key":"user.email","value":{"stringValue":"x"}}]}}],"resource_spans":[]}']

const TYPES = ['', 'application/json', 'application/x-protobuf', 'application/protobuf', 'text/plain', 'application/x-www-form-urlencoded; charset=utf-8', 'multipart/form-data; boundary=x', 'application/json; charset=latin1', 'APPLICATION/JSON']

function mutateHeaders(r: Rng, headers: Record<string, string>, token: string): Record<string, string> {
  const out = { ...headers }
  if (r() < 0.5) return out
  switch (int(r, 0, 6)) {
    case 0:
      out['content-type'] = pick(r, TYPES)
      break
    case 1:
      out['content-encoding'] = pick(r, ['gzip', 'deflate', 'br', 'identity', 'gzip, gzip', ''])
      break
    case 2:
      out['authorization'] = pick(r, [`Bearer ${mutateToken(r, token)}`, 'Bearer', 'Bearer ', `bearer   ${token}`, `Basic ${b64('admin:x')}`, token, `Bearer ${token} extra`, `Bearer ${pick(r, resigned)}`])
      break
    case 3:
      out['cookie'] = pick(r, [headerSafe(mutateBytes(r, Buffer.from(callbackCookie))), `${callbackCookie}; ${callbackCookie}x`, 'a=b; ;;=; =c', ''])
      break
    case 4:
      out['origin'] = pick(r, ['null', 'http://evil.example', origin, `${origin}.evil.example`, ''])
      out['sec-fetch-site'] = pick(r, ['cross-site', 'same-origin', 'none', 'x'])
      break
    case 5:
      out['if-none-match'] = pick(r, ['*', '"sha256:"', 'W/"x"', headerSafe(mutateBytes(r, Buffer.from('"sha256:abc"')))])
      break
    default:
      out['content-length'] = String(int(r, 0, 3))
      delete out['content-type']
  }
  return out
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'claude-code/2.1.332' }
const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

/** One case: an endpoint, its real input mutated. */
function makeCase(r: Rng): Case {
  const which = int(r, 0, 11)
  const at = (what: string, method: string, path: string, headers: Record<string, string>, body?: Buffer, token = alice.access_token): Case => ({ what, method, path, headers: mutateHeaders(r, headers, token), ...(body ? { body } : {}) })
  switch (which) {
    case 0:
      return at('discovery', pick(r, ['GET', 'GET', 'POST', 'HEAD']), `/.well-known/oauth-authorization-server${pick(r, ['', '?x=%zz', '?issuer=http://evil'])}`, {})
    case 1:
      return at('device authorization', 'POST', '/oauth/device_authorization', FORM, mutateForm(r, [['surface', 'claude_code'], ['client_id', 'claude-code']]))
    case 2:
      return at('device grant', 'POST', '/oauth/token', FORM, mutateForm(r, [['grant_type', 'urn:ietf:params:oauth:grant-type:device_code'], ['device_code', pending.device_code]]))
    case 3:
      return at('refresh grant', 'POST', '/oauth/token', FORM, mutateForm(r, [['grant_type', 'refresh_token'], ['refresh_token', ivan.refresh_token ?? '']]))
    case 4:
      return at('revoke', 'POST', '/oauth/revoke', FORM, mutateForm(r, [['token', pick(r, [ivan.access_token, ivan.refresh_token ?? ''])], ['token_type_hint', pick(r, ['access_token', 'refresh_token'])]]), ivan.access_token)
    case 5:
      return at('device page', 'GET', `/device?user_code=${encodeURIComponent(headerSafe(mutateBytes(r, Buffer.from(pending.user_code))))}${pick(r, ['', '&user_code=BCDF-GHJK', '&%zz'])}`, {})
    case 6:
      return at('device submit', 'POST', '/device', { ...FORM, origin, 'sec-fetch-site': 'same-origin' }, mutateForm(r, [['user_code', pending.user_code], ['action', pick(r, ['approve', 'deny'])]]))
    case 7: {
      const query = mutateForm(r, [...callback.searchParams.entries()] as [string, string][]).toString('latin1')
      return at('callback', 'GET', `/oauth/callback?${encodeURI(query)}`, { cookie: callbackCookie })
    }
    case 8:
      return at('managed settings', pick(r, ['GET', 'GET', 'PUT']), '/managed/settings', bearer(mutateToken(r, alice.access_token)))
    case 9:
      return at('usage', 'GET', '/api/oauth/usage', bearer(mutateToken(r, alice.access_token)))
    default: {
      const base = pick(r, batches)
      const body = r() < 0.15 ? Buffer.from(pick(r, [...SHAPES, deepJson])) : r() < 0.05 ? deepProtobuf(DEEP) : mutateBytes(r, base.body)
      const type = body[0] === 0x7b ? 'application/json' : base.encoding === 'json' ? 'application/json' : 'application/x-protobuf'
      return at(`OTLP ${base.signal}`, 'POST', `/v1/${pick(r, [base.signal, base.signal, 'metrics', 'logs', 'traces'])}`, { ...bearer(alice.access_token), 'content-type': type }, body)
    }
  }
}

t.test(`${COUNT} mutated sign-in requests (seed ${SEED}): never a 5xx, JSON answers are JSON`, async (t) => {
  const r = prng(SEED)
  const cases = Array.from({ length: COUNT }, () => makeCase(r))
  const findings: Finding[] = []
  const statuses = new Map<number, number>()
  let unsent = 0
  await runCases(cases.length, 8, async (i) => {
    const c = cases[i]!
    const shown = `${c.method} ${c.path.slice(0, 80)} ${JSON.stringify(c.headers).slice(0, 160)} ${c.body?.subarray(0, 120).toString('latin1') ?? ''}`
    let res: Response
    try {
      res = await fetch(`${relay.url}${c.path}`, { method: c.method, headers: c.headers, body: c.method === 'GET' || c.method === 'HEAD' ? undefined : c.body, redirect: 'manual', signal: AbortSignal.timeout(20_000) })
    } catch (err) {
      // The client refusing to send it (a header undici will not write) is no finding; the relay closing is one only with a 5xx.
      const message = (err as Error).message
      unsent++
      if (/timeout|aborted/i.test(message)) findings.push({ index: i, what: `${c.what}: no answer (${message})`, input: shown })
      return
    }
    const text = await res.text()
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
    if (res.status >= 500) findings.push({ index: i, what: `${c.what}: ${res.status} ${text.slice(0, 200)}`, input: shown })
    else if (/json/.test(res.headers.get('content-type') ?? '') && text !== '') {
      try {
        JSON.parse(text)
      } catch {
        findings.push({ index: i, what: `${c.what}: ${res.status} says JSON but is not: ${text.slice(0, 200)}`, input: shown })
      }
    }
  })
  if (findings.length) t.comment(`replay with CC_RELAY_FUZZ_SEED=${SEED} CC_RELAY_FUZZ_COUNT=${COUNT * 3}`)
  t.same(findings.slice(0, 10), [], `no findings (seed ${SEED})`)
  t.comment(`statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b)))}; ${unsent} the client would not send`)
  t.ok([...statuses.keys()].some((s) => s === 200) && [...statuses.keys()].some((s) => s >= 400), 'a mix of accepted and refused requests')
})

t.test('hostile framing on the sign-in paths: a 4xx or a closed connection, never a 5xx or a hang', async (t) => {
  const form = 'grant_type=refresh_token&refresh_token=x'
  const cases: [string, string | Buffer][] = [
    ['a bearer with raw UTF-8 and NUL bytes', Buffer.concat([Buffer.from('GET /managed/settings HTTP/1.1\r\nHost: r\r\nAuthorization: Bearer '), Buffer.from([0xff, 0x00, 0xe2, 0x82]), Buffer.from('\r\n\r\n')])],
    ['a form shorter than its Content-Length', `POST /oauth/token HTTP/1.1\r\nHost: r\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${form.length + 20}\r\n\r\n${form}`],
    ['a form longer than the form limit', `POST /oauth/revoke HTTP/1.1\r\nHost: r\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 9000000\r\n\r\ntoken=`],
    ['a bad chunk in an OTLP body', `POST /v1/traces HTTP/1.1\r\nHost: r\r\nAuthorization: Bearer ${alice.access_token}\r\nContent-Type: application/x-protobuf\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nxx\r\n0\r\n\r\n`],
    ['two Content-Lengths on a form', `POST /oauth/device_authorization HTTP/1.1\r\nHost: r\r\nContent-Length: 3\r\nContent-Length: 9\r\n\r\na=b`],
  ]
  for (const [name, raw] of cases) {
    const { text, closed } = await rawExchange(relay.url, raw)
    t.ok(closed, `${name}: closed (no hang)`)
    if (text !== '') t.notMatch(text, /^HTTP\/1\.1 5\d\d /, `${name}: no 5xx (${JSON.stringify(text.slice(0, 40))})`)
  }
})

t.test('afterwards: alive, no internal error, and a member signs in and is served', async (t) => {
  t.equal(relay.child.exitCode, null, 'the process is alive')
  t.equal((await fetch(`${relay.url}/health`)).status, 200)
  t.same(relay.logs.filter((l) => l.msg === 'internal error').slice(0, 3), [], 'no internal error was logged')
  idp.loginAs = USERS.alice.email
  // From another loopback address: the fuzz's device submissions used up 127.0.0.1's attempts (per-IP limit).
  const elsewhere = new Agent({ localAddress: '127.0.0.2' })
  t.teardown(() => elsewhere.close())
  const fresh = await new SigninClient(relay.url, elsewhere).signIn()
  t.equal((await client.request(`${relay.url}/managed/settings`, { headers: bearer(fresh.access_token) })).status, 200)
  const body = await batch('metrics', 'protobuf', 'boss@corp.example', 'after-fuzz')
  const res = await fetch(`${relay.url}/v1/metrics`, { method: 'POST', headers: { ...bearer(fresh.access_token), 'content-type': 'application/x-protobuf' }, body, signal: AbortSignal.timeout(20_000) })
  t.equal(res.status, 200)
  const got = await sink.waitFor('the batch after the fuzz', 'metrics', (e) => resourcesOf(e).some((x) => x['test.case'] === 'after-fuzz'))
  t.equal(resourcesOf(got)[0]!['user.email'], USERS.alice.email, 'stamped with her email')
})
