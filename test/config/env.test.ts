import t from 'tap'
import { expandScalar, expandText } from '../../src/config/env.js'
import { MINIMAL, parse, problemsOf } from './fixtures/helpers.js'

t.test('expandText', async (t) => {
  const env = { A: 'alpha', B: 'beta', EMPTY: '' }
  t.same(expandText('${A}', env), { text: 'alpha', references: 1, errors: [] })
  t.equal(expandText('${MISSING:-fallback}', env).text, 'fallback')
  t.equal(expandText('${EMPTY:-fallback}', env).text, 'fallback', ':- also covers an empty variable, as in sh')
  t.equal(expandText('${EMPTY}', env).text, '', 'set but empty is set')
  t.equal(expandText('${MISSING:-}', env).text, '')
  t.equal(expandText('x-${A}/${B}:${MISSING:-8}!', env).text, 'x-alpha/beta:8!')
  t.equal(expandText('cost $5 and $${A} and $$', env).text, 'cost $5 and ${A} and $$')
  t.equal(expandText('${A:-a:-b}', {}).text, 'a:-b', 'the default is everything after the first :-')
  t.same(expandText('${MISSING} ${ALSO}', env).errors, [
    'environment variable MISSING is not set',
    'environment variable ALSO is not set',
  ])
  t.match(expandText('${1BAD}', env).errors, [/invalid environment reference "\$\{1BAD\}"/])
  t.match(expandText('open ${A', env).errors, [/invalid environment reference "\$\{A"/])
})

t.test('expandScalar retypes plain scalars only', async (t) => {
  const env = { N: '60', T: 'true', S: 'hello # not a comment' }
  t.same(expandScalar('${N}', true, env).value, 60)
  t.same(expandScalar('${N}', false, env).value, '60')
  t.same(expandScalar('${T}', true, env).value, true)
  t.same(expandScalar('${X:-null}', true, env).value, null)
  t.same(expandScalar('${X:-}', true, env).value, '', 'empty stays an empty string, not null')
  t.same(expandScalar('${S}', true, env).value, 'hello # not a comment', 'text is kept exactly')
  t.same(expandScalar('$${N}', true, env).value, '${N}', 'a literal is not a reference: no retyping')
  t.same(expandScalar('1${N}', true, env).value, 160)
})

t.test('expansion inside a config file', async (t) => {
  const config = await parse(
    `
server:
  listen: \${HOST:-127.0.0.1}:\${PORT:-9000}
  auth:
    api_key: "\${RELAY_KEY:-}"
    allow_subscription: \${SUB:-true}
providers:
  - name: anthropic
    type: anthropic
    base_url: "$\${literal}"
    keys:
      - key: \${ANTHROPIC_API_KEY}
        rpm_limit: \${RPM:-60}
        tpm_limit: \${TPM}
      - key: "\${TPM}"
routing:
  model_mapping:
    "\${NOT_EXPANDED}": anthropic
`,
    { ANTHROPIC_API_KEY: 'sk-ant-1', TPM: '5000', PORT: '8080' },
  )
  t.equal(config.server.listen, '127.0.0.1:8080', 'several references with text around them')
  t.equal(config.server.auth.api_key, '', '${VAR:-} is an empty string')
  t.equal(config.server.auth.allow_subscription, true, 'plain scalar → boolean')
  t.equal(config.providers[0]?.base_url, '${literal}', '$${ is a literal ${')
  t.equal(config.providers[0]?.keys[0]?.key, 'sk-ant-1')
  t.equal(config.providers[0]?.keys[0]?.rpm_limit, 60, 'default, retyped to a number')
  t.equal(config.providers[0]?.keys[0]?.tpm_limit, 5000, 'set, retyped to a number')
  t.equal(config.providers[0]?.keys[1]?.key, '5000', 'quoted stays a string')
  t.same(Object.keys(config.routing.model_mapping), ['${NOT_EXPANDED}'], 'keys are never expanded')
})

t.test('a quoted number stays a string and fails an integer field', async (t) => {
  const problems = await problemsOf(MINIMAL + '    max_output_tokens: "${MAX:-10}"\n')
  t.same(problems, [{ path: 'providers[0].max_output_tokens', message: 'must be an integer', line: 4 }])
})

t.test('unset variable without default: one problem naming it and the path', async (t) => {
  const problems = await problemsOf(
    MINIMAL +
      `    keys:
      - key: \${ANTHROPIC_API_KEY}
        rpm_limit: \${RPM}
      - key: \${A}-\${B}
`,
  )
  t.same(problems, [
    { path: 'providers[0].keys[0].key', message: 'environment variable ANTHROPIC_API_KEY is not set', line: 5 },
    { path: 'providers[0].keys[0].rpm_limit', message: 'environment variable RPM is not set', line: 6 },
    { path: 'providers[0].keys[1].key', message: 'environment variable A is not set', line: 7 },
    { path: 'providers[0].keys[1].key', message: 'environment variable B is not set', line: 7 },
  ], 'and no follow-on "must be an integer" for rpm_limit')
})
