/**
 * Secrets at rest (CONTRACT §12): every sign-in record the store holds — device approvals, the IdP's
 * refresh tokens, browser flows — is sealed with AES-256-GCM under a key derived (HKDF-SHA256) from
 * `signing_secret`, so a copy of the database file or of Redis gives nothing away. With a rotation
 * list the first secret seals and every one opens; a sealed value names its key by a short id.
 * Store keys are SHA-256 digests of the codes and tokens, never the codes themselves.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto'

interface SealKey {
  readonly id: string
  readonly key: Buffer
}

export const sha256 = (value: string): string => createHash('sha256').update(value).digest('hex')

/** A fresh random token of `bytes` bytes, base64url (256 bits by default, per RFC 8628 §5.2's advice). */
export const randomToken = (bytes = 32): string => randomBytes(bytes).toString('base64url')

export class Sealer {
  readonly #keys: readonly SealKey[]

  constructor(secrets: readonly string[]) {
    this.#keys = secrets.map((secret) => {
      const key = Buffer.from(hkdfSync('sha256', secret, 'cc-relay', 'cc-relay sign-in state v1', 32))
      return { id: createHash('sha256').update(key).digest('hex').slice(0, 8), key }
    })
  }

  seal(value: unknown): string {
    const { id, key } = this.#keys[0]!
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', key, iv)
    const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()])
    return `v1.${id}.${Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url')}`
  }

  /** The value, or undefined for anything not sealed by one of this relay's secrets (or tampered with). */
  open<T>(sealed: string | undefined): T | undefined {
    if (sealed === undefined) return undefined
    const [version, id, data] = sealed.split('.')
    const entry = this.#keys.find((k) => k.id === id)
    if (version !== 'v1' || !entry || data === undefined) return undefined
    const bytes = Buffer.from(data, 'base64url')
    if (bytes.length < 28) return undefined
    try {
      const decipher = createDecipheriv('aes-256-gcm', entry.key, bytes.subarray(0, 12))
      decipher.setAuthTag(bytes.subarray(bytes.length - 16))
      const text = Buffer.concat([decipher.update(bytes.subarray(12, bytes.length - 16)), decipher.final()]).toString('utf8')
      return JSON.parse(text) as T
    } catch {
      return undefined
    }
  }
}
