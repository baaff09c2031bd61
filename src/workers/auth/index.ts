/**
 * Credentials onto the upstream request, after the plugin has built it (CONTRACT §3): the client's own
 * credential where the lease says so, else what the provider's auth kind needs. Signing happens last,
 * over the final body bytes.
 */
import type { AuthSpec } from '../../../plugins/sdk.js'
import type { ProviderConfig } from '../../config/types.js'
import type { RelayTask } from '../../shared/protocol.js'
import { googleToken } from './google.js'
import { signSigV4 } from './sigv4.js'

export async function applyAuth(auth: AuthSpec, task: RelayTask, provider: ProviderConfig, url: URL, headers: Record<string, string>, body: Uint8Array): Promise<void> {
  if (task.lease.forwardClientCredential) {
    Object.assign(headers, task.clientCredential)
    return
  }
  switch (auth.kind) {
    case 'keys': {
      if (task.lease.key < 0) return
      const key = provider.keys[task.lease.key]!.key
      for (const where of auth.headers) {
        if (where === 'bearer') headers.authorization = `Bearer ${key}`
        else headers[where] = key
      }
      return
    }
    case 'none':
      return
    case 'bearer':
      headers.authorization = `Bearer ${auth.token}`
      return
    case 'sigv4':
      return signSigV4(auth, url, headers, body)
    case 'google':
      headers.authorization = `Bearer ${await googleToken(auth)}`
      return
  }
}
