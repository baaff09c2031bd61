/**
 * The relay's token verifier (src/signin/tokens.ts) against jose's own jwtVerify as the oracle: for
 * tokens jose signs with any of several algorithms, keys, audiences, issuers, expiries and claim sets,
 * and for arbitrary mutations of a genuine token, the relay accepts exactly when jose accepts with the
 * relay's rules (HS256 only, our audience and issuer) and the claims it needs are there. Arbitrary
 * strings never make it throw.
 */
import t from 'tap'
import fc from 'fast-check'
import { createHash } from 'node:crypto'
import { jwtVerify, SignJWT } from 'jose'
import { TokenService } from '../../src/signin/tokens.js'

const SECRET = 'unit-test-signing-secret-0123456789abc'
const OLD = 'unit-test-previous-secret-0123456789abc'
const ISSUER = 'https://relay.test'
const service = new TokenService([SECRET, OLD], () => ISSUER)
const kid = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 16)
const bytes = (s: string) => new TextEncoder().encode(s)

async function joseAccepts(token: string): Promise<boolean> {
  for (const secret of [SECRET, OLD]) {
    try {
      const { protectedHeader } = await jwtVerify(token, bytes(secret), { algorithms: ['HS256'], audience: 'cc-relay', issuer: ISSUER })
      if (protectedHeader.kid === kid(secret)) return true
    } catch {
      // next secret
    }
  }
  return false
}

const complete = (p: Record<string, unknown>): boolean =>
  typeof p['sub'] === 'string' && typeof p['email'] === 'string' && p['email'] !== '' && typeof p['jti'] === 'string' && Array.isArray(p['groups']) && p['groups'].every((g) => typeof g === 'string')

t.test('mint → verify round trip, both secrets of a rotation verify, the cache answers the second time', async (t) => {
  const { token, claims } = await service.mint({ sub: 's', email: 'a@b.example', name: 'A', groups: ['eng'] }, 600)
  t.match(service.verify(token), { ok: true, claims })
  t.match(service.verify(token), { ok: true, claims }, 'cached')
  const older = new TokenService([OLD], () => ISSUER)
  const { token: old } = await older.mint({ sub: 's', email: 'a@b.example', name: 'A', groups: [] }, 600)
  t.ok(new TokenService([SECRET, OLD], () => ISSUER).verify(old).ok, 'a token signed by the previous secret still verifies')
  t.notOk(new TokenService([SECRET], () => ISSUER).verify(old).ok, 'and not once that secret is dropped')
  t.match(service.verify(token, Date.now() + 601_000), { ok: false, reason: 'expired' }, 'expiry holds for cached tokens too')
})

t.test('the relay accepts exactly what jose accepts under the same rules (differential, signed tokens)', async (t) => {
  const now = Math.floor(Date.now() / 1000)
  const claim = fc.oneof(fc.string(), fc.integer(), fc.constant(undefined), fc.array(fc.string(), { maxLength: 3 }))
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        alg: fc.constantFrom('HS256', 'HS256', 'HS384', 'HS512'),
        secret: fc.constantFrom(SECRET, OLD, 'some-other-secret-of-length-32-chars!'),
        kidOf: fc.constantFrom(SECRET, OLD, 'nobody'),
        aud: fc.constantFrom('cc-relay', 'claude-gateway', ['cc-relay', 'x']),
        iss: fc.constantFrom(ISSUER, 'https://evil.test'),
        exp: fc.integer({ min: -100, max: 100 }),
        email: fc.oneof(fc.constant('a@b.example'), claim),
        groups: fc.oneof(fc.constant(['eng']), claim),
        sub: fc.oneof(fc.constant('s'), claim),
      }),
      async (c) => {
        const token = await new SignJWT({ email: c.email, groups: c.groups, sub: c.sub } as Record<string, unknown>)
          .setProtectedHeader({ alg: c.alg, typ: 'JWT', kid: kid(c.kidOf) })
          .setAudience(c.aud)
          .setIssuer(c.iss)
          .setJti('j')
          .setIssuedAt(now - 200)
          .setExpirationTime(now + c.exp * 10 + 5)
          .sign(bytes(c.secret))
        const jose = (await joseAccepts(token)) && complete({ email: c.email, groups: c.groups, sub: c.sub, jti: 'j' })
        return new TokenService([SECRET, OLD], () => ISSUER).verify(token).ok === jose
      },
    ),
    { numRuns: 300 },
  )
})

t.test('mutations of a genuine token: accepted only when jose accepts them', async (t) => {
  const { token } = await service.mint({ sub: 's', email: 'a@b.example', name: 'A', groups: ['eng'] }, 600)
  await fc.assert(
    fc.asyncProperty(fc.nat({ max: token.length - 1 }), fc.constantFrom(...'ABCabc012-_.='.split('')), async (at, ch) => {
      const mutated = token.slice(0, at) + ch + token.slice(at + 1)
      const fresh = new TokenService([SECRET, OLD], () => ISSUER)
      return fresh.verify(mutated).ok === (await joseAccepts(mutated))
    }),
    { numRuns: 400 },
  )
})

t.test('arbitrary strings never throw and are never accepted', async (t) => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.array(fc.base64String({ maxLength: 80 }), { minLength: 3, maxLength: 3 }).map((p) => p.join('.').replace(/=/g, ''))), (s) => {
      const v = service.verify(s)
      return v.ok === false && service.signedClaims(s) === undefined
    }),
    { numRuns: 2000 },
  )
  t.notOk(service.verify('x'.repeat(10_000)).ok)
})
