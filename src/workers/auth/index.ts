/**
 * Credentials onto the upstream request, after the plugin has built it (CONTRACT §3): the client's own
 * credential where the lease says so, else what the provider's auth kind needs. Signing happens last,
 * over the final body bytes.
 */
import type { AuthSpec } from '../../../plugins/sdk.js'
import type { ProviderConfig } from '../../config/types.js'
import type { RelayTask } from '../../shared/protocol.js'

// The AWS and Google libraries are loaded by the first request that needs them: a relay (or a thread)
// that serves neither keeps their ~30 MB of resident memory.
let sigv4: Promise<typeof import('./sigv4.js')> | undefined
let google: Promise<typeof import('./google.js')> | undefined

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
      return (await (sigv4 ??= import('./sigv4.js'))).signSigV4(auth, url, headers, body)
    case 'google':
      headers.authorization = `Bearer ${await (await (google ??= import('./google.js'))).googleToken(auth)}`
      return
  }
}
