/**
 * The compatibility matrix's pinned cell in `npm test` (issue 18): the Claude Code release the project
 * pins, in print mode, through the relay to the mock of each provider type — and a relay that drops
 * `anthropic-beta` failing it with a reason that names the problem. The whole matrix is `npm run compat`
 * (docs/compatibility.md). The release is installed from the npm registry into the compat cache once.
 */
import t from 'tap'
import { cpSync, existsSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cacheDir, installRelease, releaseBin } from '../compat/releases.js'
import { needsRegistry } from './helpers/requires.js'
import { runCell } from '../compat/run.js'
import { BIN } from './helpers/relay.js'

/** The release the project pins (the one the README's Claude Code examples were checked with). */
const PINNED = '2.1.332'
const ROOT = join(import.meta.dirname, '..')

t.setTimeout(420_000)

// The release comes from the npm registry once; a machine without the registry (and without the cache)
// skips these tests with one line, as for a missing program (a failure under CC_RELAY_TEST_REQUIRE_ALL).
const skip = existsSync(releaseBin(PINNED)) ? false : await needsRegistry(t, `installs Claude Code ${PINNED} once into ${cacheDir()}`)
const cli = skip ? '' : installRelease(PINNED)

for (const provider of ['anthropic', 'bedrock', 'vertex', 'openai']) {
  t.test(`Claude Code ${PINNED} through the relay to ${provider}`, { skip }, async (t) => {
    const cell = await runCell(PINNED, cli, provider, BIN)
    t.same(cell.problems, [], 'every check passes')
    t.ok(cell.observed.headers.has('anthropic-version'), 'what the CLI sent is recorded')
    t.ok(cell.observed.fields.has('messages'))
  })
}

t.test('a relay that drops anthropic-beta fails the matrix, saying so', { skip }, async (t) => {
  // A copy of the built relay whose header filter also drops anthropic-beta.
  const broken = mkdtempSync(join(tmpdir(), 'cc-relay-broken-'))
  for (const part of ['bin', 'dist', 'package.json']) cpSync(join(ROOT, part), join(broken, part), { recursive: true })
  symlinkSync(join(ROOT, 'node_modules'), join(broken, 'node_modules'))
  const headers = join(broken, 'dist', 'src', 'shared', 'headers.js')
  const source = readFileSync(headers, 'utf8')
  const patched = source.replace("return PER_HOP.has(name) || name === 'accept-encoding';", "return PER_HOP.has(name) || name === 'accept-encoding' || name === 'anthropic-beta';")
  t.not(patched, source, 'the patch applies')
  writeFileSync(headers, patched)
  const cell = await runCell(PINNED, cli, 'anthropic', join(broken, 'bin', 'cc-relay.js'))
  t.ok(cell.problems.length > 0, 'the cell fails')
  t.ok(cell.problems.some((p) => /anthropic-beta was dropped/.test(p)), `the reason names the header: ${cell.problems.join('; ')}`)
})
