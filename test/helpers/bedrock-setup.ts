/**
 * Shared pieces of the Bedrock tests: the region and AWS credentials the mock knows, and relay configs
 * with one `bedrock` provider pointed at the mock.
 */
import type { AwsCredentials } from './bedrock-mock.js'

export const REGION = 'us-east-1'
export const CREDS: AwsCredentials = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' }
export const SESSION_CREDS: AwsCredentials = {
  accessKeyId: 'ASIAIOSFODNN7SESSION',
  secretAccessKey: 'session/secret+key',
  sessionToken: 'IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJGMEQCIBx+session=token',
}
export const ENV_CREDS: AwsCredentials = { accessKeyId: 'AKIAENVIRONMENT00001', secretAccessKey: 'from-the-environment/secret' }
export const API_KEY = 'ABSKQmVkcm9ja0FQSUtleS1leGFtcGxlLWJlZHJvY2stYXBpLWtleQ=='
export const ENV_API_KEY = 'ABSKZW52aXJvbm1lbnQtYmVkcm9jay1hcGkta2V5'

export const ARN = 'arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6'
export const BASE_ID = 'anthropic.claude-sonnet-4-5-20250929-v1:0'
export const US_PROFILE = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0'
export const GLOBAL_PROFILE = 'global.anthropic.claude-opus-4-6-v1'

/**
 * An environment for the relay process with no AWS settings of the machine running the tests: no
 * shared credential/config files, no instance metadata, no AWS variables except `env`.
 */
export function awsEnv(env: Record<string, string> = {}): NodeJS.ProcessEnv {
  const clean: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('AWS_')) clean[name] = value
  return {
    ...clean,
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/cc-relay-test/credentials',
    AWS_CONFIG_FILE: '/nonexistent/cc-relay-test/config',
    AWS_EC2_METADATA_DISABLED: 'true',
    ...env,
  }
}

/** The relay's YAML for one bedrock provider; `extra` is indented provider YAML (4 spaces). */
export function bedrockConfig(mockUrl: string, extra = '', top = ''): string {
  return `${top}
logging: { level: info, format: json }
health: { circuit_breaker: { failure_threshold: 1000 } }
providers:
  - name: bedrock
    type: bedrock
    base_url: "${mockUrl}"
    aws_region: "${REGION}"
${extra}
`
}

/** Provider YAML for explicit keys. */
export const explicitKeys = (c: AwsCredentials = CREDS): string =>
  `    aws_access_key_id: "${c.accessKeyId}"\n    aws_secret_access_key: "${c.secretAccessKey}"\n` +
  (c.sessionToken ? `    aws_session_token: "${c.sessionToken}"\n` : '')
