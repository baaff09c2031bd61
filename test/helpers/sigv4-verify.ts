/**
 * An independent AWS SigV4 verifier (node:crypto only), so the Bedrock mock does not check the relay's
 * signatures with the same library the relay signs with (@smithy/signature-v4): a mistake both shared
 * would pass. Validated against AWS's published test vectors (test/fixtures/sigv4, sigv4-vectors.test.ts).
 * Written from the SigV4 specification: canonical request, string to sign, derived key, HMAC.
 */
import { createHash, createHmac } from 'node:crypto'

export interface SignedParts {
  readonly accessKeyId: string
  readonly date: string
  readonly region: string
  readonly service: string
  readonly signedHeaders: readonly string[]
  readonly signature: string
}

const AUTH = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/

export function parseAuthorization(value: string): SignedParts | undefined {
  const m = AUTH.exec(value)
  if (!m) return undefined
  return { accessKeyId: m[1]!, date: m[2]!, region: m[3]!, service: m[4]!, signedHeaders: m[5]!.split(';'), signature: m[6]! }
}

/** RFC 3986 unreserved characters stay; everything else is %XX with upper-case hex (SigV4's UriEncode). */
function uriEncode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

/** Non-S3 services encode each path segment once more (the path as sent is already encoded). */
function canonicalPath(rawPath: string): string {
  if (rawPath === '') return '/'
  return rawPath.split('/').map((segment) => uriEncode(segment)).join('/')
}

function canonicalQuery(rawQuery: string): string {
  if (rawQuery === '') return ''
  const pairs = rawQuery.split('&').filter(Boolean).map((pair) => {
    const i = pair.indexOf('=')
    const name = decodeURIComponent((i < 0 ? pair : pair.slice(0, i)).replace(/\+/g, ' '))
    const value = i < 0 ? '' : decodeURIComponent(pair.slice(i + 1).replace(/\+/g, ' '))
    return [uriEncode(name), uriEncode(value)] as const
  })
  pairs.sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
  return pairs.map(([n, v]) => `${n}=${v}`).join('&')
}

const hmac = (key: Buffer | string, text: string): Buffer => createHmac('sha256', key).update(text, 'utf8').digest()
const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex')

/**
 * The signature AWS would compute for this request: `target` is the request line's target (path and
 * query as sent), `headers` by lower-case name (only the signed ones are used), `amzDate` the
 * X-Amz-Date value, `body` the bytes received.
 */
export function expectedSignature(
  req: { method: string; target: string; headers: Readonly<Record<string, string | undefined>>; body: Buffer; amzDate: string },
  parts: Pick<SignedParts, 'date' | 'region' | 'service' | 'signedHeaders'>,
  secretAccessKey: string,
): { signature: string; canonicalRequest: string } {
  const [path, query = ''] = req.target.split('?', 2) as [string, string?]
  const names = [...parts.signedHeaders].map((n) => n.toLowerCase()).sort()
  const canonicalHeaders = names.map((n) => `${n}:${(req.headers[n] ?? '').trim().replace(/\s+/g, ' ')}\n`).join('')
  const payloadHash = req.headers['x-amz-content-sha256'] ?? sha256(req.body)
  const canonicalRequest = [req.method, canonicalPath(path), canonicalQuery(query), canonicalHeaders, names.join(';'), payloadHash].join('\n')
  const scope = `${parts.date}/${parts.region}/${parts.service}/aws4_request`
  const stringToSign = ['AWS4-HMAC-SHA256', req.amzDate, scope, sha256(canonicalRequest)].join('\n')
  const key = hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, parts.date), parts.region), parts.service), 'aws4_request')
  return { signature: createHmac('sha256', key).update(stringToSign, 'utf8').digest('hex'), canonicalRequest }
}

/** One vector file: a raw signed HTTP request (request line, `Name:value` headers, blank line, body). */
export function parseSignedRequest(text: string): { method: string; target: string; headers: Record<string, string>; body: Buffer } {
  const blank = text.indexOf('\n\n')
  const head = (blank < 0 ? text : text.slice(0, blank)).split('\n')
  const body = Buffer.from(blank < 0 ? '' : text.slice(blank + 2))
  const [method, target] = head[0]!.split(' ') as [string, string]
  const headers: Record<string, string> = {}
  for (const line of head.slice(1)) {
    const i = line.indexOf(':')
    headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1)
  }
  return { method, target, headers, body }
}
