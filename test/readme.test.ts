/**
 * README.md is the front door: short, and true. Its team config validates exactly as `serve` would
 * read it, and every document it links to exists.
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { BIN, writeConfig } from './helpers/relay.js'

const ROOT = join(import.meta.dirname, '..')
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')

t.test('the README stays a front door: at most 300 lines', async (t) => {
  const lines = readme.split('\n').length
  t.ok(lines <= 300, `${lines} lines`)
})

t.test("the README's team config is valid", async (t) => {
  const section = readme.slice(readme.indexOf("## A team's relay in one file"))
  const yaml = /```yaml\n([\s\S]*?)```/.exec(section)?.[1]
  t.ok(yaml, 'the section has a YAML block')
  const env = { ...process.env, ALICE_RELAY_KEY: 'a', IAN_RELAY_KEY: 'i', CI_RELAY_KEY: 'c', RELAY_ADMIN_KEY: 'admin', ANTHROPIC_KEY_1: 'k1', ANTHROPIC_KEY_2: 'k2' }
  const run = spawnSync(process.execPath, [BIN, 'config', 'validate', writeConfig(yaml!)], { env, encoding: 'utf8' })
  t.equal(run.status, 0, run.stdout + run.stderr)
  t.match(run.stdout, /valid \(3 providers, 3 enabled\)/)
})

t.test('every local link in the README and docs/ leads to a file', async (t) => {
  for (const file of ['README.md', ...['configuration', 'routing', 'providers', 'operations', 'errors', 'performance', 'development', 'sign-in'].map((d) => `docs/${d}.md`)]) {
    const text = readFileSync(join(ROOT, file), 'utf8')
    for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      if (/^https?:/.test(target!)) continue
      t.ok(existsSync(join(ROOT, file, '..', target!)), `${file} → ${target}`)
    }
  }
})
