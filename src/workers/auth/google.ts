/**
 * Google OAuth access tokens for Vertex AI: Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS,
 * the gcloud user file, the metadata server) or an explicit service-account key file. google-auth-library
 * caches each token and refreshes it before it expires; construction makes no network call (STACK.md).
 */
import { GoogleAuth } from 'google-auth-library'
import type { AuthSpec } from '../../../plugins/sdk.js'

type GoogleSpec = Extract<AuthSpec, { kind: 'google' }>

const clients = new Map<string, GoogleAuth>()

export async function googleToken(spec: GoogleSpec): Promise<string> {
  const id = `${spec.keyFile ?? '(adc)'}|${spec.scopes.join(' ')}`
  let auth = clients.get(id)
  if (!auth) {
    auth = new GoogleAuth({ scopes: [...spec.scopes], ...(spec.keyFile ? { keyFile: spec.keyFile } : {}) })
    clients.set(id, auth)
  }
  const token = await auth.getAccessToken()
  if (!token) throw new Error('Google credentials produced no access token')
  return token
}
