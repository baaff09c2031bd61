/**
 * CONTRACT §1 `telemetry` and §11: a key written in the config wins, else the standard OTEL_* variable,
 * else the contract's default; no endpoint from either means no tracing at all.
 */
import t from 'tap'
import { otlpHeaders, otlpTimeoutMs, otlpUrl, tracingSettings } from '../../src/tracing/settings.js'
import { parse } from '../config/fixtures/helpers.js'

const telemetryOf = async (yaml: string) => (await parse(`providers: [{ name: a, type: anthropic }]\n${yaml}`)).telemetry

t.test('no endpoint in the config or the environment: tracing is off', async (t) => {
  t.equal(tracingSettings(await telemetryOf(''), {}), undefined)
  t.equal(tracingSettings(await telemetryOf('telemetry: { service_name: x, sample_ratio: 0.5 }'), { OTEL_SERVICE_NAME: 'y' }), undefined)
})

t.test('the contract defaults apply when neither the file nor OTEL_* says anything else', async (t) => {
  const s = tracingSettings(await telemetryOf('telemetry: { otlp: { endpoint: "http://collector:4318" } }'), {})!
  t.equal(s.url, 'http://collector:4318/v1/traces', 'the signal path is appended to a base URL')
  t.equal(s.protocol, 'http/protobuf')
  t.equal(s.serviceName, 'cc-relay')
  t.equal(s.sampleRatio, 1)
  t.equal(s.propagateUpstream, true)
  t.equal(s.timeoutMs, undefined, 'the exporter keeps its own 10 s default (and OTEL_EXPORTER_OTLP_TIMEOUT)')
  t.same(s.batch, { maxQueueSize: 2048, maxExportBatchSize: 512, scheduledDelayMillis: 5000, exportTimeoutMillis: 30000 })
  t.same(s.warnings, [])
})

t.test('the standard variables work as they do everywhere', async (t) => {
  const none = await telemetryOf('')
  t.equal(tracingSettings(none, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/' })?.url, 'http://c:4318/v1/traces')
  t.equal(tracingSettings(none, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t:9/custom' })?.url, 'http://t:9/custom', 'the signal endpoint as given')
  const env = {
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_SERVICE_NAME: 'relay-eu',
    OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
    OTEL_TRACES_SAMPLER_ARG: '0.25',
    OTEL_BSP_MAX_QUEUE_SIZE: '100',
  }
  const s = tracingSettings(none, env)!
  t.equal(s.protocol, 'http/json')
  t.equal(s.serviceName, 'relay-eu')
  t.equal(s.sampleRatio, 0.25)
  t.equal(s.batch.maxQueueSize, 100)
  t.equal(s.batch.maxExportBatchSize, 100, 'a batch never exceeds the queue')
  t.equal(tracingSettings(none, { ...env, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf' })?.protocol, 'http/protobuf', 'the per-signal protocol wins')
  t.equal(tracingSettings(none, { ...env, OTEL_TRACES_SAMPLER: 'always_off' })?.sampleRatio, 0)
  t.equal(tracingSettings(none, { ...env, OTEL_SDK_DISABLED: 'true' }), undefined, 'OTEL_SDK_DISABLED turns an environment endpoint off')
  t.equal(tracingSettings(none, { ...env, OTEL_TRACES_EXPORTER: 'none' }), undefined)
})

t.test('config keys override the variables', async (t) => {
  const telemetry = await telemetryOf(`telemetry:
  otlp: { endpoint: "https://otel.example.com/v1/traces", protocol: http/protobuf, headers: { x-api-key: "k" }, timeout_ms: 2500 }
  service_name: from-config
  sample_ratio: 0.1
  propagate_upstream: false`)
  const env = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_SERVICE_NAME: 'from-env', OTEL_TRACES_SAMPLER_ARG: '0.9', OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_SDK_DISABLED: 'true' }
  const s = tracingSettings(telemetry, env)!
  t.equal(s.url, 'https://otel.example.com/v1/traces', 'a URL already ending in /v1/traces is kept')
  t.equal(s.protocol, 'http/protobuf')
  t.same(s.headers, { 'x-api-key': 'k' })
  t.equal(s.timeoutMs, 2500)
  t.equal(s.serviceName, 'from-config')
  t.equal(s.sampleRatio, 0.1)
  t.equal(s.propagateUpstream, false)
})

t.test('what cannot be honoured is said, and the default used', async (t) => {
  const s = tracingSettings(await telemetryOf(''), { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_TRACES_SAMPLER: 'jaeger_remote' })!
  t.equal(s.protocol, 'http/protobuf')
  t.equal(s.sampleRatio, 1)
  t.equal(s.warnings.length, 2)
  t.match(s.warnings.join('\n'), /grpc/)
})

t.test('config validate: the telemetry keys are checked like every other', async (t) => {
  const bad = [
    ['telemetry: { otlp: { endpoint: "collector:4318" } }', /telemetry\.otlp\.endpoint: must be an http/],
    ['telemetry: { otlp: { protocol: grpc } }', /telemetry\.otlp\.protocol/],
    ['telemetry: { sample_ratio: 1.5 }', /telemetry\.sample_ratio/],
    ['telemetry: { propagate_upstrem: false }', /telemetry\.propagate_upstrem: unknown key/],
    ['telemetry: { client_telemetry: keep }', /telemetry\.client_telemetry/],
  ] as const
  for (const [yaml, problem] of bad) await t.rejects(telemetryOf(yaml), problem, yaml)
})

t.test("members' telemetry goes where the relay's traces go, each signal on its own path", async (t) => {
  const written = await telemetryOf('telemetry: { otlp: { endpoint: "http://collector:4318/v1/traces", headers: { X-Key: "k1" }, timeout_ms: 2500 } }')
  t.same(['traces', 'metrics', 'logs'].map((s) => otlpUrl(written, s as 'traces', {})), ['http://collector:4318/v1/traces', 'http://collector:4318/v1/metrics', 'http://collector:4318/v1/logs'], 'a written …/v1/traces names the collector')
  t.same(otlpHeaders(written, 'logs', { OTEL_EXPORTER_OTLP_HEADERS: 'x-key=env,x-tenant=a%20b', OTEL_EXPORTER_OTLP_LOGS_HEADERS: 'x-logs=1,broken' }), { 'x-key': 'k1', 'x-tenant': 'a b', 'x-logs': '1' }, 'env headers, then the signal\'s, then the config\'s')
  t.equal(otlpTimeoutMs(written, 'logs', { OTEL_EXPORTER_OTLP_TIMEOUT: '99' }), 2500)
  const none = await telemetryOf('')
  t.equal(otlpUrl(none, 'metrics', {}), undefined)
  t.equal(otlpUrl(none, 'metrics', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/' }), 'http://c:4318/v1/metrics')
  t.equal(otlpUrl(none, 'logs', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'http://l:9/in' }), 'http://l:9/in')
  t.equal(otlpUrl(none, 'logs', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' }), undefined)
  t.equal(otlpTimeoutMs(none, 'metrics', { OTEL_EXPORTER_OTLP_METRICS_TIMEOUT: '700', OTEL_EXPORTER_OTLP_TIMEOUT: '99' }), 700)
  t.equal(otlpTimeoutMs(none, 'metrics', {}), 10000)
})
