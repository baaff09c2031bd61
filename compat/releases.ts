/**
 * Claude Code releases for the matrix: installed from the npm registry into a cache folder
 * (`$XDG_CACHE_HOME/cc-relay/compat/claude-code-<version>`, `~/.cache/…` by default) once, and reused;
 * `latest` is resolved at run time. Releases from 2.1 on ship a native binary in a platform package,
 * which npm picks as an optional dependency; earlier ones are a Node script. Either way the package's
 * `bin` is what a user runs.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'

const PACKAGE = '@anthropic-ai/claude-code'

export function cacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache')
  return join(base, 'cc-relay', 'compat')
}

/** `latest` (or any dist-tag) → a version number, from the registry. */
export function resolveVersion(spec: string): string {
  if (/^\d+\.\d+\.\d+/.test(spec)) return spec
  return execFileSync('npm', ['view', `${PACKAGE}@${spec}`, 'version'], { encoding: 'utf8', timeout: 60_000 }).trim().split('\n').pop()!.replace(/^.*'(.*)'$/, '$1')
}

/** Where the release's `claude` executable is once installed in the cache. */
export function releaseBin(version: string): string {
  return join(cacheDir(), `claude-code-${version}`, 'node_modules', '.bin', 'claude')
}

/** How long one `npm install` of a release may take before it is killed (a stalled registry must not hang a run). */
export const INSTALL_TIMEOUT_MS = 300_000

/** The release's `claude` executable, installing it first when the cache does not have it. */
export function installRelease(version: string): string {
  const dir = join(cacheDir(), `claude-code-${version}`)
  const bin = releaseBin(version)
  if (!existsSync(bin)) {
    mkdirSync(dir, { recursive: true })
    execFileSync('npm', ['install', '--prefix', dir, '--no-audit', '--no-fund', '--no-save', '--loglevel', 'error', `${PACKAGE}@${version}`], { stdio: ['ignore', 'ignore', 'inherit'], timeout: INSTALL_TIMEOUT_MS })
  }
  const installed = JSON.parse(readFileSync(join(dir, 'node_modules', PACKAGE, 'package.json'), 'utf8')) as { version: string }
  if (installed.version !== version) throw new Error(`${dir} holds ${PACKAGE} ${installed.version}, not ${version}`)
  return bin
}
