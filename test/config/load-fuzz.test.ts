/**
 * Property tests of the config loader (issue 11): whatever a file holds — random text, random YAML, the
 * real keys with values of every wrong type — loading it gives a config or a ConfigError listing
 * problems with paths, never another exception (which would end `serve` or a reload unexplained).
 */
import t from 'tap'
import fc from 'fast-check'
import { stringify } from 'yaml'
import { ConfigError } from '../../src/config/load.js'
import { parse } from './fixtures/helpers.js'

const seed = Number(process.env.CC_RELAY_FUZZ_SEED ?? 20261201)

async function loadsOrExplains(text: string): Promise<boolean> {
  try {
    await parse(text, { SET: 'value' })
    return true
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    return err.problems.length > 0 && err.problems.every((p) => typeof p.path === 'string' && p.message.length > 0)
  }
}

const anyValue = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom('${SET}', '${UNSET}', '${UNSET:-x}', '${', '-1', '1e400', 'NaN', '0x10', '::', '[::1]:80'))
const section = (keys: readonly string[]) => fc.dictionary(fc.oneof(fc.constantFrom(...keys), fc.string({ maxLength: 6 })), anyValue, { maxKeys: 4 })
const provider = fc.record(
  {
    name: anyValue,
    type: fc.oneof(fc.constantFrom('anthropic', 'bedrock', 'nope'), anyValue),
    keys: fc.oneof(fc.array(section(['key', 'rpm_limit', 'tpm_limit', 'priority', 'weight']), { maxLength: 2 }), anyValue),
    model_mapping: fc.oneof(fc.dictionary(fc.string({ maxLength: 6 }), anyValue, { maxKeys: 2 }), anyValue),
    aws_region: anyValue,
    enabled: anyValue,
  },
  { requiredKeys: [] },
)
const config = fc.record(
  {
    server: fc.oneof(section(['listen', 'max_body_bytes', 'keepalive_ms', 'timeouts', 'auth', 'admin', 'tls']), anyValue),
    providers: fc.oneof(fc.array(provider, { maxLength: 3 }), anyValue),
    routing: fc.oneof(section(['strategy', 'max_attempts', 'model_mapping', 'default_provider', 'affinity', 'rules']), anyValue),
    health: fc.oneof(section(['circuit_breaker', 'health_check']), anyValue),
    state: fc.oneof(section(['store', 'redis']), anyValue),
    logging: fc.oneof(section(['level', 'format']), anyValue),
    pricing: anyValue,
    plugin_dirs: anyValue,
  },
  { requiredKeys: [] },
)

t.test('random text, random YAML and wrongly typed real keys: a config or a ConfigError, nothing else', async (t) => {
  await fc.assert(fc.asyncProperty(fc.string({ maxLength: 200 }), loadsOrExplains), { seed, numRuns: 1500 })
  await fc.assert(fc.asyncProperty(fc.jsonValue({ maxDepth: 3 }), (v) => loadsOrExplains(stringify(v))), { seed, numRuns: 1000 })
  await fc.assert(fc.asyncProperty(config, (c) => loadsOrExplains(stringify(c))), { seed, numRuns: 2000 })
  t.pass('1500 + 1000 + 2000 runs')
})
