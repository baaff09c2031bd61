/**
 * The command line as a new user meets it, README and docs followed literally (issue 27): usage errors
 * exit 2 and say what the command needs, `--help` and `--version` answer, `plugins` lists what it found
 * (a duplicate type included) and refuses a config file that is not there, and what `config init` and the
 * docs point to exists. Every run is the real binary, with a deadline.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BIN, writeConfig } from './helpers/relay.js'

const ROOT = join(import.meta.dirname, '..')
// No config in the working folder or the home folder: only what each case passes counts.
const EMPTY_DIR = mkdtempSync(join(tmpdir(), 'cc-relay-new-user-'))

interface Run {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** The binary, asynchronously, killed after 120 s (a hung command fails its test, not the file). */
function cli(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000, cwd: EMPTY_DIR, env: { ...process.env, HOME: EMPTY_DIR, ...env } }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null
      resolve({ code, stdout, stderr: err?.killed ? `${stderr}\n(killed after 120 s)` : stderr })
    })
  })
}

t.test('usage errors exit 2 and name what the command needs', async (t) => {
  const extra = await cli(['config', 'validate', 'a.yaml', 'b.yaml'])
  t.equal(extra.code, 2, `config validate with two files: ${extra.stderr}`)
  t.match(extra.stderr, /one config file/)

  const route = await cli(['route'])
  t.equal(route.code, 2, 'route without a file')
  t.notMatch(route.stderr, /unknown command/, 'route is a known command')
  t.match(route.stderr, /route needs a request body file/)

  const config = await cli(['config'])
  t.equal(config.code, 2, 'config without a subcommand')
  t.notMatch(config.stderr, /unknown command/, 'config is a known command')
  t.match(config.stderr, /config needs a subcommand: validate or init/)

  for (const command of ['usage', 'status', 'users']) {
    const r = await cli([command, '--url', 'ftp://x'])
    t.equal(r.code, 2, `${command} --url ftp://x is a usage error: ${r.stderr}`)
    t.match(r.stderr, /--url must be http:\/\/ or https:\/\//)
  }
})

t.test('--help, -h and --version answer with exit 0', async (t) => {
  for (const flag of ['--help', '-h', 'help']) {
    const r = await cli([flag])
    t.equal(r.code, 0, `${flag}: ${r.stderr}`)
    t.match(r.stdout, /^usage:\n {2}cc-relay serve/, `${flag} prints the usage`)
  }
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version
  const v = await cli(['--version'])
  t.equal(v.code, 0, v.stderr)
  t.equal(v.stdout, `cc-relay ${version}\n`)
  const serveHelp = await cli(['serve', '--help'])
  t.equal(serveHelp.code, 0, 'a command with --help prints the usage instead of running')
  t.match(serveHelp.stdout, /cc-relay serve/)
})

t.test('plugins: a duplicate type is listed with both sources (exit 0); a missing --config file exits 1', async (t) => {
  const dup = join(ROOT, 'test', 'fixtures', 'plugins-dup')
  const file = writeConfig(`plugin_dirs: ["${dup}"]\nproviders: [{ name: a, type: anthropic }]\n`)
  const r = await cli(['plugins', '--config', file])
  t.equal(r.code, 0, `docs: plugins exits 0; stderr: ${r.stderr}`)
  t.match(r.stdout, /^ollama /m, 'the other types are listed')
  t.match(r.stdout, /plugins-dup\/anthropic\/index\.mjs/, 'the duplicate is listed with its source')
  t.match(r.stderr, /provider type "anthropic" is defined twice/, 'and named as the problem serve refuses')

  const missing = await cli(['plugins', '--config', join(EMPTY_DIR, 'nope.yaml')])
  t.equal(missing.code, 1, 'a --config file that is not there is not ignored')
  t.match(missing.stderr, /config file not found: .*nope\.yaml/)
  t.equal(missing.stdout, '')

  const none = await cli(['plugins'])
  t.equal(none.code, 0, 'no config at all: the built-in types')
  t.match(none.stdout, /^anthropic /m)
})

t.test("config init's header points to a reference that exists", async (t) => {
  const r = await cli(['config', 'init'])
  t.equal(r.code, 0)
  const header = r.stdout.split('\n').filter((l) => l.startsWith('#')).slice(0, 3).join('\n')
  t.notMatch(header, /README\.md "Config reference"/, 'the README has no such section')
  const doc = /(docs\/[\w-]+\.md)/.exec(header)?.[1]
  t.ok(doc, `the header names the reference document: ${header}`)
  if (doc) t.ok(existsSync(join(ROOT, doc)), `${doc} exists`)
})

t.test('every list of admin endpoints names /usage.json', async (t) => {
  const lists: [string, RegExp][] = [
    ['README.md', /^Admin endpoints:.*$/m],
    ['docs/errors.md', /^\| `admin_unauthenticated` .*$/m],
    ['docs/configuration.md', /^\| `server\.admin\.api_key` .*$/m],
    ['docs/operations.md', /^\*\*Admin access\*\* .*$/m],
  ]
  for (const [file, line] of lists) {
    const found = line.exec(readFileSync(join(ROOT, file), 'utf8'))?.[0]
    t.ok(found, `${file} lists the admin endpoints`)
    t.match(found ?? '', /\/usage\.json/, `${file}: ${found}`)
  }
})

t.test("plugins/README.md says what a type without count_tokens gets: the relay's estimate", async (t) => {
  const readme = readFileSync(join(ROOT, 'plugins', 'README.md'), 'utf8')
  const paragraph = readme.split('\n\n').find((p) => p.includes('Routes a type does not serve')) ?? ''
  t.ok(paragraph, 'the paragraph is there')
  t.notMatch(paragraph, /404/, 'no 404: test/e2e/new-user-drain.test.ts shows the estimate')
  t.match(paragraph, /x-cc-relay-estimate: true/)
})
