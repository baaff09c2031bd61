/**
 * Where a Vertex AI request goes: the regional API root and the publisher-model paths.
 *
 * Hosts as the official SDKs build them (wire-protocols §4; TS-VX `packages/vertex-sdk/src/client.ts`,
 * PY-SDK `lib/vertex/_client.py`): `global` → `aiplatform.googleapis.com`, the multi-regions `us`/`eu` →
 * `aiplatform.{us|eu}.rep.googleapis.com`, any other region → `{region}-aiplatform.googleapis.com`.
 * Paths: `/v1/projects/{p}/locations/{r}/publishers/anthropic/models/{model}:rawPredict|streamRawPredict`,
 * and `…/models/count-tokens:rawPredict` for token counting.
 */

/** The API root for a region, without the `/v1` version segment (CONTRACT §5). */
export function regionalRoot(region: string): string {
  if (region === 'global') return 'https://aiplatform.googleapis.com'
  if (region === 'us' || region === 'eu') return `https://aiplatform.${region}.rep.googleapis.com`
  return `https://${region}-aiplatform.googleapis.com`
}

/** `base_url` is the API root; one that already ends in `/v1` (the SDK's form) is taken as it is. */
export function versionedRoot(baseUrl: string): string {
  return /\/v1$/.test(baseUrl) ? baseUrl : `${baseUrl}/v1`
}

/**
 * One path segment, percent-encoded as the Vertex SDK does (`encodeURIPath`: RFC 3986 pchar stays, the
 * rest is encoded), except that `;` is always encoded: the SDK sends a `;` in the model as `%3B` because
 * some servers cut a segment at `;` (vertex-sdk 1.1.3 changelog).
 */
export function pathSegment(value: string): string {
  return value.replace(/[^A-Za-z0-9\-._~!$&'()*+,=:@]+/g, encodeURIComponent)
}

/** A segment that would be empty or move the path (`.`, `..`) is refused, as the SDK refuses it. */
export function unsafeSegment(value: string): boolean {
  return value === '' || value === '.' || value === '..'
}

export function modelsPath(baseUrl: string, project: string, region: string): string {
  return `${versionedRoot(baseUrl)}/projects/${pathSegment(project)}/locations/${pathSegment(region)}/publishers/anthropic/models`
}
