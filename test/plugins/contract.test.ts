/**
 * The plugin contract, checked for every provider plugin the relay finds — discovered exactly as the
 * relay discovers them (`pluginSources` + `loadPlugins` of the built `dist/`), so a plugin added to
 * `plugins/` is checked by the next `npm test` without touching this file. Generic on purpose: the only
 * per-type knowledge is a table of valid sample options.
 */
import t from 'tap'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { PrepareInput, ProviderPlugin, Route, SseEvent } from '../../plugins/sdk.js'
import { claudeCodeBody } from '../fixtures/anthropic.js'
import { toolLoop } from '../helpers/shaping-bodies.js'

const ROOT = join(import.meta.dirname, '..', '..')
const fromDist = async <T>(path: string): Promise<T> => (await import(pathToFileURL(join(ROOT, 'dist', path)).href)) as T
const { pluginSources, loadPlugins, authOf } = await fromDist<typeof import('../../src/shared/plugins.js')>('src/shared/plugins.js')
const { bodyTools, RejectedRequest } = await fromDist<typeof import('../../src/shared/json-edit.js')>('src/shared/json-edit.js')
const { parseConfig, ConfigError } = await fromDist<typeof import('../../src/config/load.js')>('src/config/load.js')
const { pluginCatalog } = await fromDist<typeof import('../../src/plugin-types.js')>('src/plugin-types.js')

/** Valid type-specific options per type (the seed's examples); a type not listed takes none. */
const SAMPLE_OPTIONS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  azure: { azure_resource_name: 'my-azure-resource', azure_api_version: '2024-06-01' },
  bedrock: { aws_region: 'us-east-1' },
  vertex: { gcp_project_id: 'my-project', gcp_region: 'us-east5' },
}
const optionsFor = (type: string) => SAMPLE_OPTIONS[type] ?? {}

const CREDENTIAL_HEADERS = ['authorization', 'x-api-key', 'api-key', 'x-cc-relay-key', 'proxy-authorization', 'cookie']

/** What the core hands `prepare`: Claude Code's headers, credentials already stripped. */
const CLIENT_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'application/json',
  'anthropic-version': '2023-06-01',
  'anthropic-beta': 'claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27',
  'user-agent': 'claude-cli/2.1.300 (external, cli)',
  'x-app': 'cli',
  'x-claude-code-session-id': 'contract-session',
}

/** Top-level fields no plugin knows: they must survive unless the plugin says (notes) it removed them. */
const UNKNOWN_FIELDS = ['future_field', 'x_unknown_extension']

/**
 * The object that carries the client's fields upstream: the body itself, or the body an envelope holds
 * as a base64 string (Bedrock's CountTokens: `{"input":{"invokeModel":{"body":"<base64>"}}}`).
 */
function carriedBody(parsed: unknown): Record<string, unknown> {
  const strings = (value: unknown): string[] =>
    typeof value === 'string' ? [value] : typeof value === 'object' && value !== null ? Object.values(value).flatMap(strings) : []
  for (const candidate of strings(parsed)) {
    try {
      const inner: unknown = JSON.parse(Buffer.from(candidate, 'base64').toString('utf8'))
      if (typeof inner === 'object' && inner !== null && !Array.isArray(inner) && 'messages' in inner) return inner as Record<string, unknown>
    } catch {
      // Not a base64 body: look further.
    }
  }
  return parsed as Record<string, unknown>
}

const BODIES: readonly { name: string; text: string }[] = [
  { name: 'Claude Code body, streaming', text: claudeCodeBody('claude-sonnet-4-5', true) },
  { name: 'Claude Code body, not streaming', text: claudeCodeBody('claude-sonnet-4-5', false) },
  { name: 'tool loop with signed thinking', text: toolLoop('claude-sonnet-4-5', true) },
  { name: 'minimal', text: '{"model":"claude-sonnet-4-5","max_tokens":1,"messages":[{"role":"user","content":"hi"}],"future_field":1}' },
]

const sources = pluginSources([], ROOT)
const loaded = await loadPlugins(sources)

t.test('discovery finds the built-in plugins, each type once', async (t) => {
  const types = loaded.map((p) => p.type)
  t.same([...types].sort(), ['anthropic', 'azure', 'bedrock', 'ollama', 'openai', 'vertex', 'zai'], 'all seven built-in types')
  t.equal(new Set(types).size, sources.length, 'one type per plugin source, no duplicates')
})

function input(plugin: ProviderPlugin, route: Route, text: string, baseUrl: string): PrepareInput {
  const parsed = JSON.parse(text) as { model: string; stream?: boolean }
  return {
    route,
    requestId: 'req_contract',
    body: Buffer.from(text),
    model: parsed.model,
    stream: parsed.stream === true,
    query: 'beta=true',
    headers: { ...CLIENT_HEADERS },
    baseUrl,
    options: optionsFor(plugin.type),
  }
}

/** Garbage a translator may meet: broken JSON, wrong shapes, empty and binary frames, exception frames. */
const GARBAGE_EVENTS: readonly SseEvent[] = [
  { event: '', data: '' },
  { event: 'message_start', data: '{' },
  { event: 'message_start', data: '{"type":"message_start"}' },
  { event: 'content_block_delta', data: 'null' },
  { event: 'content_block_delta', data: '[]' },
  { event: 'content_block_delta', data: '{"type":"content_block_delta","index":"x","delta":7}' },
  { event: 'chunk', data: '{"bytes":"@@not base64@@"}', headers: { ':event-type': 'chunk', ':message-type': 'event' } },
  { event: 'chunk', data: '{"bytes":"bm90IGpzb24="}', headers: { ':event-type': 'chunk' } },
  { event: 'chunk', data: 'not json at all', headers: { ':event-type': 'chunk' } },
  { event: 'throttlingException', data: '{"message":"slow down"}', headers: { ':exception-type': 'throttlingException', ':message-type': 'exception' } },
  { event: 'internalServerException', data: '', headers: { ':message-type': 'exception' } },
  { event: 'error', data: '{"type":"error"}' },
  { event: 'message_delta', data: '{"type":"message_delta","usage":"lots"}' },
  { event: '\u0000', data: '\u0000\uffff\ud800' },
  { event: 'message_stop', data: 'x'.repeat(100_000) },
]

const GARBAGE_BODIES = ['', 'garbage', '{', 'null', '[]', '{"error":null}', '{"error":{"code":7}}', '{"error":{"code":400,"message":{"nested":1},"status":9}}', '{"type":"error","error":{"type":"overloaded_error","message":"m"}}', '<html><body>502 Bad Gateway</body></html>', '\u0000\ufffd', 'x'.repeat(200_000)]
/** The core asks `mapError` about non-2xx answers only. */
const GARBAGE_STATUSES = [302, 400, 401, 403, 404, 408, 413, 422, 429, 500, 502, 503, 504, 529, 599, 999]
const GARBAGE_HEADERS: readonly Record<string, string>[] = [{}, { 'content-type': 'application/json' }, { 'x-amzn-errortype': 'ThrottlingException:http://internal.amazon.com/coral/', 'retry-after': 'soon' }]

for (const { type, plugin, source } of loaded) {
  t.test(`${type} (${source.slice(ROOT.length + 1)})`, async (t) => {
    const options = optionsFor(type)

    t.test('declaration', async (t) => {
      t.match(type, /^[a-z][a-z0-9_-]*$/, 'type is lower-case')
      t.equal(loaded.filter((p) => p.type === type).length, 1, 'type is unique')
      t.ok(plugin.routes.length > 0, 'serves at least one route')
      for (const route of plugin.routes) t.ok(route === 'messages' || route === 'count_tokens', `route ${route}`)
      t.ok(plugin.framing === 'sse' || plugin.framing === 'aws-eventstream', 'known framing')
      if (plugin.clientCredentials === 'forward') t.equal(type, 'anthropic', 'only anthropic may receive a client credential')
      else t.equal(plugin.clientCredentials, 'never')
      if (plugin.thinkingFamily !== undefined) t.match(plugin.thinkingFamily, /^\S+$/, 'thinkingFamily is a non-empty name')
      t.doesNotThrow(() => authOf(plugin, options), 'auth resolves to a valid spec for valid options')
    })

    t.test('options: the sample validates through the config loader; unknown keys are refused', async (t) => {
      const configDir = mkdtempSync(join(tmpdir(), 'cc-relay-contract-'))
      const entry = (extra: Record<string, unknown>) =>
        JSON.stringify({ providers: [{ name: 'p', type, keys: [{ key: 'k' }], ...options, ...extra }] })
      const discover = pluginCatalog().discover
      const config = await parseConfig(entry({}), { source: 'contract.yaml', env: {}, discover, configDir })
      t.same(config.providers[0]?.options, options, 'the options arrive as written')
      try {
        await parseConfig(entry({ zz_not_an_option: 'x' }), { source: 'contract.yaml', env: {}, discover, configDir })
        t.fail('an unknown key was accepted')
      } catch (err) {
        t.ok(err instanceof ConfigError, 'a ConfigError')
        t.match((err as InstanceType<typeof ConfigError>).problems, [{ path: 'providers[0].zz_not_an_option', message: 'unknown key "zz_not_an_option"' }])
      }
      if (plugin.options) {
        const schema = plugin.options((await import('typebox')).default) as { type?: unknown }
        t.equal(schema.type, 'object', 'options is an object schema')
      }
    })

    t.test('defaultBaseUrl and healthCheck give absolute URLs', async (t) => {
      const base = plugin.defaultBaseUrl(options)
      const url = new URL(base)
      t.ok(url.protocol === 'https:' || url.protocol === 'http:', `${base} is absolute http(s)`)
      if (plugin.healthCheck) {
        const check = plugin.healthCheck(base.replace(/\/+$/, ''), options)
        t.ok(/^https?:$/.test(new URL(check.url).protocol), 'health check URL is absolute')
        t.ok(check.method === undefined || check.method === 'GET' || check.method === 'HEAD')
      }
    })

    t.test('prepare: absolute URL under the base, valid JSON, unknown fields kept, no credentials, input untouched', async (t) => {
      const bases = [plugin.defaultBaseUrl(options).replace(/\/+$/, ''), 'http://127.0.0.1:9/private/root']
      for (const route of plugin.routes) {
        for (const baseUrl of bases) {
          for (const { name, text } of BODIES) {
            const at = `${route}, ${name}, base ${baseUrl}`
            const req = input(plugin, route, text, baseUrl)
            const before = Buffer.from(req.body)
            let spec
            try {
              spec = plugin.prepare(req, bodyTools)
            } catch (err) {
              t.fail(`${at}: prepare threw ${err instanceof RejectedRequest ? 'a rejection' : 'an error'} on a representative body: ${(err as Error).message}`)
              continue
            }
            t.ok(Buffer.from(req.body).equals(before), `${at}: the input body is not mutated`)
            const url = new URL(spec.url)
            t.ok(/^https?:$/.test(url.protocol) && spec.url.startsWith(`${baseUrl}/`), `${at}: ${spec.url} is absolute and under the base`)
            let parsed: unknown
            t.doesNotThrow(() => (parsed = JSON.parse(Buffer.from(spec.body).toString('utf8'))), `${at}: body is valid JSON`)
            t.ok(typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed), `${at}: body is a JSON object`)
            const original = JSON.parse(text) as Record<string, unknown>
            const notes = (spec.notes ?? []).join('\n')
            for (const field of UNKNOWN_FIELDS) {
              if (!(field in original) || notes.includes(field)) continue
              t.same(carriedBody(parsed)[field], original[field], `${at}: unknown field ${field} kept`)
            }
            for (const name of Object.keys(spec.headers)) {
              t.equal(name, name.toLowerCase(), `${at}: header ${name} is lower-case`)
              t.notOk(CREDENTIAL_HEADERS.includes(name), `${at}: no credential header ${name} from the plugin`)
              t.equal(typeof spec.headers[name], 'string')
            }
            if (spec.notes !== undefined) t.ok(spec.notes.every((n) => typeof n === 'string' && n.length > 0), `${at}: notes are text`)
          }
        }
      }
    })

    t.test('translator and mapError never throw on garbage', async (t) => {
      const req = input(plugin, plugin.routes[0]!, BODIES[0]!.text, plugin.defaultBaseUrl(options))
      if (plugin.translator && plugin.translator(req)) {
        /** One translator fed `events`, then the end: what the client would get. */
        const translate = (events: readonly SseEvent[], what: string): [unknown, unknown][] => {
          const emitted: [unknown, unknown][] = []
          const emit = (event: string, data: string) => void emitted.push([event, data])
          t.doesNotThrow(() => {
            const translator = plugin.translator!(req)!
            for (const event of events) translator.onEvent(event, emit)
            translator.onEnd?.(emit)
          }, what)
          t.ok(emitted.length > 0, `${what}: the client is told something`)
          t.ok(emitted.every(([e, d]) => typeof e === 'string' && typeof d === 'string'), `${what}: emit gets strings`)
          // A stream that never finished properly ends in one error event: nothing after it, no second one.
          t.equal(emitted.at(-1)?.[0], 'error', `${what}: the output ends in an error event (${emitted.map(([e]) => e).join(', ')})`)
          t.equal(emitted.filter(([e]) => e === 'error').length, 1, `${what}: exactly one error event`)
          return emitted
        }
        translate([], 'onEnd with no events')
        translate(GARBAGE_EVENTS, 'garbage events')
        for (const event of GARBAGE_EVENTS) translate([event], `one garbage event: ${event.event.slice(0, 30)} ${event.data.slice(0, 30)}`)
      }
      if (plugin.mapError) {
        let bad = 0
        for (const status of GARBAGE_STATUSES) {
          for (const body of GARBAGE_BODIES) {
            for (const headers of GARBAGE_HEADERS) {
              try {
                const mapped = plugin.mapError(status, headers, body)
                // An error status stays an error status; an odd one (3xx, 999) may only be kept or made an error.
                const statusOk = (s: number) => Number.isInteger(s) && ((s >= 400 && s <= 599) || (s === status && (status < 400 || status > 599)))
                const ok = mapped === undefined || (statusOk(mapped.status) && typeof mapped.type === 'string' && mapped.type !== '' && typeof mapped.message === 'string')
                if (!ok) {
                  bad++
                  t.fail(`mapError(${status}, ${JSON.stringify(headers)}, ${JSON.stringify(body.slice(0, 40))}) gave ${JSON.stringify(mapped)}`)
                }
              } catch (err) {
                bad++
                t.fail(`mapError(${status}, …, ${JSON.stringify(body.slice(0, 40))}) threw ${(err as Error).message}`)
              }
            }
          }
        }
        t.equal(bad, 0, 'mapError answered undefined or an Anthropic error for every garbage input')
      }
    })
  })
}
