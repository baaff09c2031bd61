/**
 * SigV4 against AWS's published test vectors (test/fixtures/sigv4): the Bedrock mock's independent
 * verifier (test/helpers/sigv4-verify.ts) accepts each vector and refuses it altered, and the relay's own
 * signer (src/workers/auth/sigv4.ts, @smithy/signature-v4) produces each vector's signature.
 */
import t from 'tap'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { HttpRequest } from '@smithy/protocol-http'
import { SignatureV4 } from '@smithy/signature-v4'
import { NodeSha256 } from '../../src/workers/auth/sigv4.js'
import { expectedSignature, parseAuthorization, parseSignedRequest } from '../helpers/sigv4-verify.js'

const DIR = join(import.meta.dirname, '..', 'fixtures', 'sigv4')
const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY'
const vectors = readdirSync(DIR).filter((f) => f.endsWith('.txt'))

t.ok(vectors.length >= 3, `${vectors.length} vectors`)
for (const file of vectors) {
  t.test(file, async (t) => {
    const req = parseSignedRequest(readFileSync(join(DIR, file), 'utf8'))
    const parts = parseAuthorization(req.headers.authorization!)!
    t.ok(parts, 'the Authorization header parses')
    const amzDate = req.headers['x-amz-date']!
    const mine = expectedSignature({ ...req, amzDate }, parts, SECRET)
    t.equal(mine.signature, parts.signature, "the mock's verifier computes AWS's signature")
    t.not(expectedSignature({ ...req, amzDate, method: req.method === 'GET' ? 'POST' : 'GET' }, parts, SECRET).signature, parts.signature, 'another method: another signature')
    t.not(expectedSignature({ ...req, amzDate }, parts, `${SECRET}x`).signature, parts.signature, 'another secret: another signature')

    // The relay's signer, as src/workers/auth/sigv4.ts builds it, over the same request.
    const [path, rawQuery = ''] = req.target.split('?', 2) as [string, string?]
    const query: Record<string, string> = {}
    for (const [k, v] of new URLSearchParams(rawQuery)) query[k] = v
    const headers: Record<string, string> = {}
    for (const name of parts.signedHeaders) if (name !== 'x-amz-date') headers[name] = req.headers[name]!
    // The relay signs x-amz-content-sha256 too (smithy's applyChecksum default); a vector that does not
    // sign it is reproduced with that off, the rest of the signer as the relay uses it.
    const applyChecksum = parts.signedHeaders.includes('x-amz-content-sha256')
    const signer = new SignatureV4({ service: parts.service, region: parts.region, sha256: NodeSha256, applyChecksum, credentials: { accessKeyId: parts.accessKeyId, secretAccessKey: SECRET } })
    const signed = await signer.sign(new HttpRequest({ method: req.method, protocol: 'https:', hostname: req.headers.host!, path, query, headers, body: req.body }), {
      signingDate: new Date(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`),
    })
    t.equal(parseAuthorization(signed.headers.authorization!)?.signature, parts.signature, `the relay's signer produces AWS's signature (${signed.headers.authorization})`)
  })
}
