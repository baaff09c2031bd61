/** src/supervisor/model-map.ts */
import t from 'tap'
import { PROVIDER_DEFAULTS } from '../../src/config/defaults.js'
import type { ProviderConfig } from '../../src/config/types.js'
import { mapModel, servedModels, stripContextMarker, upstreamModelFor } from '../../src/supervisor/model-map.js'

function provider(name: string, over: Partial<Pick<ProviderConfig, 'enabled' | 'models' | 'model_mapping'>> = {}): ProviderConfig {
  return { ...PROVIDER_DEFAULTS, name, type: 'anthropic', keys: [], options: {}, ...over }
}

t.test('stripContextMarker removes trailing [1m] markers only', async (t) => {
  const cases: [string, string][] = [
    ['claude-sonnet-4-5[1m]', 'claude-sonnet-4-5'],
    ['claude-sonnet-4-5[1M]', 'claude-sonnet-4-5'],
    ['claude-sonnet-4-5[1m][1m]', 'claude-sonnet-4-5'],
    ['claude-sonnet-4-5[1M][1m]', 'claude-sonnet-4-5'],
    ['claude-sonnet-4-5', 'claude-sonnet-4-5'],
    ['claude[1m]-sonnet', 'claude[1m]-sonnet'],
    ['claude-sonnet-4-5[1m] ', 'claude-sonnet-4-5[1m] '],
    ['claude-sonnet-4-5[2m]', 'claude-sonnet-4-5[2m]'],
    ['claude-sonnet-4-5[1m', 'claude-sonnet-4-5[1m'],
    ['[1m]', ''],
    ['', ''],
  ]
  for (const [model, stripped] of cases) t.equal(stripContextMarker(model), stripped, JSON.stringify(model))
})

t.test('mapModel: exact key first, then the longest matching prefix*, `*` alone matches everything', async (t) => {
  const mapping = {
    'claude-*': 'generic',
    'claude-opus-*': 'opus-any',
    'claude-opus-4-1': 'opus-exact',
    'claude-opus-4-*': 'opus-4',
    'gpt-4o': 'exact-only',
  }
  t.equal(mapModel(mapping, 'claude-opus-4-1'), 'opus-exact', 'exact beats every wildcard')
  t.equal(mapModel(mapping, 'claude-opus-4-5'), 'opus-4', 'longest prefix wins')
  t.equal(mapModel(mapping, 'claude-opus-3'), 'opus-any')
  t.equal(mapModel(mapping, 'claude-haiku'), 'generic')
  t.equal(mapModel(mapping, 'claude-'), 'generic', 'a prefix matches itself')
  t.equal(mapModel(mapping, 'gpt-4o'), 'exact-only')
  t.equal(mapModel(mapping, 'gpt-4o-mini'), undefined, 'a key without * is not a prefix')
  t.equal(mapModel(mapping, 'claude'), undefined)
  t.equal(mapModel({}, 'anything'), undefined)

  const star = { '*': 'fallback', 'glm-*': 'glm' }
  t.equal(mapModel(star, 'glm-4.6'), 'glm', 'a longer prefix beats *')
  t.equal(mapModel(star, 'whatever'), 'fallback')
  t.equal(mapModel(star, ''), 'fallback')
  t.equal(mapModel({ 'claude-*': 'short', 'claude-sonnet-*': 'long' }, 'claude-sonnet-4'), 'long')
  t.equal(mapModel({ 'claude-sonnet-*': 'long', 'claude-*': 'short' }, 'claude-sonnet-4'), 'long', 'key order does not matter')
})

t.test('mapModel: a model named like an Object.prototype member is not in an empty mapping', async (t) => {
  for (const model of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
    t.equal(mapModel({}, model), undefined, `mapModel({}, ${model})`)
    t.equal(upstreamModelFor(provider('p', { models: ['m'] }), model), undefined, `upstreamModelFor(models: [m], ${model})`)
  }
})

t.test('upstreamModelFor: mapping, then the models list, then "serves anything" when both are empty', async (t) => {
  const mapped = provider('mapped', { model_mapping: { 'claude-*': 'glm-4.6', 'claude-haiku-4-5': 'glm-4.5-air' }, models: ['glm-4.6', 'extra'] })
  t.equal(upstreamModelFor(mapped, 'claude-sonnet-4-5'), 'glm-4.6')
  t.equal(upstreamModelFor(mapped, 'claude-haiku-4-5'), 'glm-4.5-air')
  t.equal(upstreamModelFor(mapped, 'extra'), 'extra', 'a listed model passes under its own name')
  t.equal(upstreamModelFor(mapped, 'gpt-4o'), undefined)

  const listed = provider('listed', { models: ['claude-opus-4-1', 'claude-sonnet-4-5'] })
  t.equal(upstreamModelFor(listed, 'claude-sonnet-4-5'), 'claude-sonnet-4-5')
  t.equal(upstreamModelFor(listed, 'claude-sonnet-4'), undefined, 'the list is exact, not a prefix')

  const mappingOnly = provider('mapping-only', { model_mapping: { 'a-model': 'upstream-a' } })
  t.equal(upstreamModelFor(mappingOnly, 'a-model'), 'upstream-a')
  t.equal(upstreamModelFor(mappingOnly, 'b-model'), undefined, 'a mapping alone limits what is served')

  const open = provider('open')
  for (const model of ['claude-sonnet-4-5', 'anything-at-all', 'x']) t.equal(upstreamModelFor(open, model), model, `open provider serves ${model}`)

  t.equal(upstreamModelFor(provider('star', { model_mapping: { '*': 'one-model' } }), 'whatever'), 'one-model')
})

t.test('servedModels: mapping keys without wildcards and models lists of enabled providers', async (t) => {
  const providers = [
    provider('a', { model_mapping: { 'claude-sonnet-4-5': 'glm', 'claude-*': 'glm', '*': 'x' }, models: ['glm-4.6'] }),
    provider('b', { models: ['claude-sonnet-4-5', 'gpt-4o'] }),
    provider('off', { enabled: false, models: ['disabled-model'], model_mapping: { 'disabled-key': 'y' } }),
    provider('open'),
  ]
  t.same(servedModels(providers).sort(), ['claude-sonnet-4-5', 'glm-4.6', 'gpt-4o'], 'deduplicated, no wildcards, no disabled provider')
  t.same(servedModels([]), [])
  t.same(servedModels([provider('open')]), [], 'a provider serving anything names no model')
})
