import t from 'tap'
import Type from 'typebox'
import { parseConfig, type DiscoverTypes, type ProviderTypeInfo } from '../../src/config/load.js'
import { parse, problemsFrom, problemsOf } from './fixtures/helpers.js'

t.test('type-specific keys become validated options; common keys never leak into them', async (t) => {
  const config = await parse(`
providers:
  - name: aws
    type: bedrock
    enabled: false
    aws_region: eu-west-1
    aws_access_key_id: \${AWS_KEY:-AKIA}
    keys: [{ rpm_limit: 5 }]
`)
  const provider = config.providers[0]
  t.same(provider?.options, { aws_region: 'eu-west-1', aws_access_key_id: 'AKIA' })
  t.equal(provider?.enabled, false)
  t.equal(provider?.keys[0]?.key, '', 'a bedrock key entry is a pool slot without a credential')
  t.notOk(provider && 'aws_region' in provider, 'options stay under `options`')
  t.ok(Object.isFrozen(provider?.options))
})

t.test('option problems are reported at the provider entry, next to the common ones', async (t) => {
  t.same(
    await problemsOf(`
providers:
  - name: a
    type: anthropic
    aws_region: eu
  - name: b
    type: bedrock
    aws_region: ""
    aws_regoin: eu
    weight: -1
`),
    [
      { path: 'providers[0].aws_region', message: 'unknown key "aws_region"', line: 5 },
      { path: 'providers[1].aws_region', message: 'must not be empty', line: 8 },
      { path: 'providers[1].aws_regoin', message: 'unknown key "aws_regoin"', line: 9 },
      { path: 'providers[1].weight', message: 'must be > 0', line: 10 },
    ],
  )
})

t.test('unknown type names the known ones; missing name and type are required', async (t) => {
  t.same(await problemsOf('providers:\n  - name: x\n    type: vertex\n    gcp_region: us\n'), [
    { path: 'providers[0].type', message: 'unknown provider type "vertex"; known types: anthropic, bedrock', line: 3 },
  ])
  t.same(await problemsOf('providers:\n  - {}\n'), [
    { path: 'providers[0].name', message: 'is required', line: 2 },
    { path: 'providers[0].type', message: 'is required', line: 2 },
  ])
})

t.test('a plugin schema that explicitly allows extra keys is respected; union options collapse', async (t) => {
  const types = new Map<string, ProviderTypeInfo>([
    [
      'open',
      {
        type: 'open',
        optionsSchema: Type.Object(
          { mode: Type.Optional(Type.Union([Type.Literal('fast'), Type.Literal('slow')])) },
          { additionalProperties: true },
        ),
      },
    ],
  ])
  const discover: DiscoverTypes = async () => types
  const load = (text: string) => parseConfig(text, { source: 'x.yaml', env: {}, discover, configDir: '/' })
  const config = await load('providers:\n  - { name: o, type: open, mode: fast, anything: 1 }\n')
  t.same(config.providers[0]?.options, { mode: 'fast', anything: 1 })
  t.same(await problemsFrom(load('providers:\n  - { name: o, type: open, mode: medium }\n')), [
    { path: 'providers[0].mode', message: 'must be one of: fast, slow', line: 2 },
  ])
})

t.test('no plugins found at all', async (t) => {
  const discover: DiscoverTypes = async () => new Map()
  const load = parseConfig('providers: [{ name: a, type: anthropic }]\n', { source: 'x', env: {}, discover, configDir: '/' })
  t.same(await problemsFrom(load), [
    { path: 'providers[0].type', message: 'unknown provider type "anthropic"; known types: (none found)', line: 1 },
  ])
})
