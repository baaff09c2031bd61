/**
 * AWS Signature V4 over the final request bytes (STACK.md: `@smithy/signature-v4`, the maintained
 * signer). One signer per credentials source and region, built once per worker: explicit credentials
 * from the config, else the AWS default chain (environment, shared config/credentials files, SSO,
 * container and instance roles), whose provider caches and refreshes what it finds.
 */
import { createHash, createHmac } from 'node:crypto'
import type { Hash, Hmac } from 'node:crypto'
import { defaultProvider } from '@aws-sdk/credential-provider-node'
import { HttpRequest } from '@smithy/protocol-http'
import { SignatureV4 } from '@smithy/signature-v4'
import type { AuthSpec } from '../../../plugins/sdk.js'

type SigV4Spec = Extract<AuthSpec, { kind: 'sigv4' }>
type SourceData = string | ArrayBuffer | ArrayBufferView

const bytes = (data: SourceData): Buffer | string =>
  typeof data === 'string' ? data : ArrayBuffer.isView(data) ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.from(data)

/**
 * SHA-256 / HMAC-SHA-256 from node:crypto for the signer, in the Checksum shape smithy expects. The
 * pure-JS `@aws-crypto/sha256-js` cost 5 % of a worker's time on the bench's Bedrock path.
 */
export class NodeSha256 {
  readonly #secret: SourceData | undefined
  #hash!: Hash | Hmac

  constructor(secret?: SourceData) {
    this.#secret = secret
    this.reset()
  }

  update(data: SourceData): void {
    this.#hash.update(bytes(data))
  }

  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.#hash.digest())
  }

  reset(): void {
    this.#hash = this.#secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(this.#secret))
  }
}

const signers = new Map<string, SignatureV4>()
let chain: ReturnType<typeof defaultProvider> | undefined

function signerFor(spec: SigV4Spec): SignatureV4 {
  const id = `${spec.service}|${spec.region}|${spec.credentials?.accessKeyId ?? '(chain)'}|${spec.credentials?.sessionToken ?? ''}`
  let signer = signers.get(id)
  if (!signer) {
    chain ??= defaultProvider()
    signer = new SignatureV4({ service: spec.service, region: spec.region, sha256: NodeSha256, credentials: spec.credentials ?? chain })
    signers.set(id, signer)
  }
  return signer
}

/**
 * Signs host, content-type and the body; the other headers travel unsigned (SignedHeaders lists what was
 * signed), so nothing the HTTP client adds or normalises can break the signature.
 */
export async function signSigV4(spec: SigV4Spec, url: URL, headers: Record<string, string>, body: Uint8Array): Promise<void> {
  const query: Record<string, string> = {}
  url.searchParams.forEach((value, name) => (query[name] = value))
  const request = new HttpRequest({
    method: 'POST',
    protocol: url.protocol,
    hostname: url.hostname,
    port: url.port ? Number(url.port) : undefined,
    path: url.pathname,
    query,
    headers: { host: url.host, 'content-type': headers['content-type'] ?? 'application/json' },
    body,
  })
  const signed = await signerFor(spec).sign(request)
  for (const [name, value] of Object.entries(signed.headers)) if (name !== 'host') headers[name.toLowerCase()] = value
}
