/**
 * The OTLP schema the relay stamps members' telemetry with (src/signin/otlp/schema.ts) is generated from
 * the official opentelemetry-proto files vendored beside it: regenerating must give the committed file,
 * so neither can change without the other.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
// @ts-expect-error: a plain ES module script without types.
import { render } from '../../src/signin/otlp/proto/generate.mjs'

t.test('schema.ts is what src/signin/otlp/proto/generate.mjs makes of the vendored .proto files', async (t) => {
  const committed = readFileSync(join(import.meta.dirname, '..', '..', 'src', 'signin', 'otlp', 'schema.ts'), 'utf8')
  t.equal((render as () => string)(), committed, 'regenerate with: node src/signin/otlp/proto/generate.mjs > src/signin/otlp/schema.ts')
  t.match(committed, /opentelemetry\.proto\.collector\.(trace|metrics|logs)\.v1/)
})
