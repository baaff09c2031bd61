/**
 * Shared wiring for the vertex e2e tests: a Vertex mock, a local Google token endpoint with a fresh
 * service account, and the relay config that points a `vertex` provider at them.
 */
import { CLOUD_PLATFORM_SCOPE } from '../../plugins/vertex/index.js'
import { GoogleTokenServer, writeServiceAccount } from './vertex-google.js'
import type { ServiceAccount } from './vertex-google.js'
import { VertexMock } from './vertex-mock.js'

export interface VertexWorld {
  readonly mock: VertexMock
  readonly google: GoogleTokenServer
  readonly account: ServiceAccount
  close(): Promise<void>
}

/** The mock accepts exactly the tokens the token endpoint has issued (plus `extraTokens`). */
export async function vertexWorld(extraTokens: readonly string[] = []): Promise<VertexWorld> {
  const mock = await new VertexMock().start()
  for (const token of extraTokens) mock.tokens.add(token)
  const account = writeServiceAccount()
  const google = await new GoogleTokenServer(account, CLOUD_PLATFORM_SCOPE).start()
  google.onIssue = (token) => mock.tokens.add(token)
  return {
    mock,
    google,
    account,
    close: async () => {
      await mock.close()
      await google.close()
    },
  }
}

export interface VertexProviderOptions {
  readonly baseUrl: string
  readonly project?: string
  readonly region?: string
  /** `gcp_credentials_file`; omitted → Application Default Credentials. */
  readonly keyFile?: string
  /** More YAML lines for the provider (indented by 4). */
  readonly extra?: string
  /** YAML before `providers:`. */
  readonly top?: string
}

export function vertexConfig(o: VertexProviderOptions): string {
  return `${o.top ?? ''}
logging: { level: info, format: json }
providers:
  - name: vertex
    type: vertex
    base_url: "${o.baseUrl}"
    gcp_project_id: "${o.project ?? 'relay-test-project'}"
    gcp_region: "${o.region ?? 'us-east5'}"
${o.keyFile ? `    gcp_credentials_file: "${o.keyFile}"\n` : ''}${o.extra ?? ''}
`
}
