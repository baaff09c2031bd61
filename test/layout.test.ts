/**
 * The layout DESIGN.md fixes (issue 23): the ingress reaches the supervisor and the shared (Redis) state
 * only through the admission step — it never imports `supervisor/shared/*` or the Supervisor, and never
 * reads supervisor state — and no upstream I/O lives in src/supervisor/ (the health checker's probes are
 * in src/health/). A change that breaks the layout fails here, naming the file and the line.
 */
import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

const SRC = join(import.meta.dirname, '..', 'src')

function sources(dir: string): string[] {
  return readdirSync(join(SRC, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name))
}

function offending(files: readonly string[], pattern: RegExp): string[] {
  return files.flatMap((file) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .flatMap((line, i) => (pattern.test(line) ? [`${file.slice(SRC.length + 1)}:${i + 1}: ${line.trim()}`] : [])),
  )
}

t.test('src/ingress/ goes through the admission step', async (t) => {
  const ingress = sources('ingress')
  t.ok(ingress.length > 5, 'the ingress files are found')
  t.same(offending(ingress, /from ['"][./]*\/supervisor\/shared\//), [], 'no import of supervisor/shared/*')
  t.same(offending(ingress, /from ['"][./]*\/supervisor\/(supervisor|state|store|reduce|team)\.js['"]/), [], 'no import of the supervisor or its state')
  t.same(offending(ingress, /\bsupervisor\??\.state\b|\.shared\b.*\.(admit|settle|takeSlot)\(/), [], 'no read of supervisor state, no shared-state call')
})

t.test('src/supervisor/ does no upstream I/O', async (t) => {
  t.same(offending(sources('supervisor'), /from ['"](undici|node:https?|node:net)['"]/), [], 'no HTTP client in the supervisor')
})
