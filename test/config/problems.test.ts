import t from 'tap'
import { ConfigError } from '../../src/config/load.js'
import { MINIMAL, parse, problemsFrom, problemsOf } from './fixtures/helpers.js'

t.test('a file with many mistakes reports every one, with path and line', async (t) => {
  const text = `server:
  listen: "localhost"
providers:
  - name: main
    type: anthropic
    keys:
      - key: sk-1
        rpm_limt: 60
        tpm_limit: -5
    pooling:
      strategy: fastest
  - name: main
    type: bedrok
  - name: aws
    type: bedrock
    aws_access_key_id: AKIA
    aws_profile: dev
routing:
  strategy: model_based
`
  const error = await parse(text).catch((e: unknown) => e)
  t.ok(error instanceof ConfigError)
  if (!(error instanceof ConfigError)) return
  t.equal(error.source, '/tmp/test.yaml')
  t.same(error.problems, [
    { path: 'server.listen', message: 'must be host:port, with an IPv6 host in brackets ([::1]:8787)', line: 2 },
    { path: 'providers[0].keys[0].rpm_limt', message: 'unknown key "rpm_limt"', line: 8 },
    { path: 'providers[0].keys[0].tpm_limit', message: 'must be ≥ 0', line: 9 },
    { path: 'providers[0].pooling.strategy', message: 'must be one of: least_loaded, round_robin, random, weighted', line: 11 },
    { path: 'providers[1].name', message: 'duplicate provider name "main" (also providers[0])', line: 12 },
    { path: 'providers[1].type', message: 'unknown provider type "bedrok"; known types: anthropic, bedrock', line: 13 },
    { path: 'providers[2].aws_region', message: 'is required', line: 14 },
    { path: 'providers[2].aws_profile', message: 'unknown key "aws_profile"', line: 17 },
    {
      path: 'routing.model_mapping',
      message: 'must map at least one model prefix to a provider when strategy is model_based',
      line: 18,
    },
  ])
  const lines = error.message.split('\n')
  t.equal(lines.length, 9, 'one line per problem')
  t.equal(lines[1], 'providers[0].keys[0].rpm_limt: unknown key "rpm_limt" (line 8)')
})

t.test('schema messages', async (t) => {
  const problems = await problemsOf(`
serve: {}
server:
  max_body_bytes: 1.5
  tls: { cert_file: /etc/cert.pem }
  auth:
    allow_subscription: yes
    clients:
      - { name: a, key: "" }
      - { name: a, key: k }
      - { key: k }
providers:
  - type: anthropic
    priority: high
    weight: 0
    models: claude
    model_mapping: { "cl*ude": x, "claude-*": 5 }
routing:
  strategy: fastest
  max_attempts: 0
  default_provider: nobody
  model_mapping: { claude: ghost }
state: { store: redis }
logging: { level: loud }
`)
  t.same(problems, [
    { path: 'serve', message: 'unknown key "serve"', line: 2 },
    { path: 'server.max_body_bytes', message: 'must be an integer', line: 4 },
    { path: 'server.tls.key_file', message: 'cert_file and key_file must be set together', line: 5 },
    { path: 'server.auth.allow_subscription', message: 'must be true or false', line: 7 },
    { path: 'server.auth.clients[0].key', message: 'must not be empty', line: 9 },
    { path: 'server.auth.clients[1].name', message: 'duplicate client name "a" (also server.auth.clients[0])', line: 10 },
    { path: 'server.auth.clients[2].name', message: 'is required', line: 11 },
    { path: 'providers[0].name', message: 'is required', line: 13 },
    { path: 'providers[0].priority', message: 'must be an integer or null', line: 14 },
    { path: 'providers[0].weight', message: 'must be > 0', line: 15 },
    { path: 'providers[0].models', message: 'must be a list', line: 16 },
    { path: 'providers[0].model_mapping["claude-*"]', message: 'must be a string', line: 17 },
    { path: 'providers[0].model_mapping["cl*ude"]', message: 'a "*" wildcard may only appear once, at the end', line: 17 },
    {
      path: 'routing.strategy',
      message:
        'must be one of: failover, round_robin, weighted_round_robin, shuffle, least_loaded, weighted_failover, model_based',
      line: 19,
    },
    { path: 'routing.max_attempts', message: 'must be ≥ 1', line: 20 },
    { path: 'routing.default_provider', message: 'no provider is named "nobody"', line: 21 },
    { path: 'routing.model_mapping.claude', message: 'no provider is named "ghost"', line: 22 },
    { path: 'state.redis.url', message: 'is required when state.store is redis', line: 23 },
    { path: 'logging.level', message: 'must be one of: trace, debug, info, warn, error, fatal, silent', line: 24 },
  ])
})

t.test('server.listen forms', async (t) => {
  for (const good of ['127.0.0.1:0', '0.0.0.0:65535', 'localhost:8787', '[::1]:8787', '[::]:80']) {
    await t.resolves(parse(`server: { listen: "${good}" }\n${MINIMAL}`), good)
  }
  const bad: Record<string, string> = {
    '127.0.0.1': 'must be host:port, with an IPv6 host in brackets ([::1]:8787)',
    '::1:8787': 'must be host:port, with an IPv6 host in brackets ([::1]:8787)',
    '127.0.0.1:65536': 'port must be 0–65535',
    '127.0.0.1:http': 'must be host:port, with an IPv6 host in brackets ([::1]:8787)',
    ':8787': 'must name a host (0.0.0.0 for every interface)',
    '[nope]:1': '"nope" is not an IPv6 address',
  }
  for (const [listen, message] of Object.entries(bad)) {
    t.same(await problemsOf(`server: { listen: "${listen}" }\n${MINIMAL}`), [{ path: 'server.listen', message, line: 1 }], listen)
  }
})

t.test('empty file: no providers', async (t) => {
  t.same(await problemsOf(''), [{ path: 'providers', message: 'at least one provider is required' }])
  t.same(await problemsOf('# only a comment\n'), [{ path: 'providers', message: 'at least one provider is required' }])
  t.same(await problemsOf('providers: []\n'), [{ path: 'providers', message: 'at least one provider is required', line: 1 }])
})

t.test('the file must be a mapping', async (t) => {
  t.same(await problemsOf('- a\n- b\n'), [
    { path: '', message: 'the config must be a mapping', line: 1 },
    { path: 'providers', message: 'at least one provider is required', line: 1 },
  ])
})

t.test('YAML syntax errors are problems with their line, and stop there', async (t) => {
  const problems = await problemsOf('providers:\n  - name: a\n    type: [anthropic\nrouting: {}\n')
  t.ok(problems.length >= 1)
  t.match(problems[0], { path: '', message: /^YAML syntax error: /, line: Number })
  t.same(await problemsOf('a: 1\na: 2\n'), [{ path: '', message: 'YAML syntax error: Map keys must be unique', line: 2 }])
})

t.test('disabled providers are still validated', async (t) => {
  t.same(await problemsOf(MINIMAL + '    enabled: false\n    keys: [{ rpm_limit: -1 }]\n'), [
    { path: 'providers[0].keys[0].rpm_limit', message: 'must be ≥ 0', line: 5 },
  ])
})

t.test('routing rules (CONTRACT §8): every mistake at once, each with its path and line', async (t) => {
  const text = `server:
  auth:
    clients: [{ name: alice, key: k-alice }]
providers:
  - { name: main, type: anthropic }
  - { name: local, type: anthropic }
routing:
  rules:
    - name: background
      when: { model: "claude-*-haiku*" }
      use: { providers: [local, nowhere] }
    - name: background
      when: {}
      use: { providers: [main] }
    - name: long
      when: { min_input_tokens: -1, client: bob, colour: red }
      use: { providers: [], model: "" }
    - name: search
      when: { tools: ["web_*search"], headers: { "user-agent": "a*b" } }
      use: { providers: [main], fallback: local }
`
  const error = await parse(text).catch((e: unknown) => e)
  t.ok(error instanceof ConfigError)
  if (!(error instanceof ConfigError)) return
  t.same(
    error.problems.map((p) => `${p.path} (line ${p.line}): ${p.message}`).sort(),
    [
      'routing.rules[0].use.providers[1] (line 11): no provider is named "nowhere"',
      'routing.rules[0].when.model (line 10): a "*" wildcard may only appear once, at the end',
      'routing.rules[1].name (line 12): duplicate rule name "background" (also routing.rules[0])',
      'routing.rules[1].when (line 13): must give at least one condition (a rule that always matches is the strategy itself)',
      'routing.rules[2].use.model (line 17): must not be empty',
      'routing.rules[2].use.providers (line 17): must have at least 1 item',
      'routing.rules[2].when.client (line 16): no client is named "bob" (server.auth.clients)',
      'routing.rules[2].when.colour (line 16): unknown key "colour"',
      'routing.rules[2].when.min_input_tokens (line 16): must be ≥ 0',
      'routing.rules[3].use.fallback (line 20): unknown key "fallback"',
      'routing.rules[3].when.headers["user-agent"] (line 19): a "*" wildcard may only appear once, at the end',
      'routing.rules[3].when.tools[0] (line 19): a "*" wildcard may only appear once, at the end',
    ].sort(),
  )
})

t.test('routing rules: a valid set loads in order, with their conditions', async (t) => {
  const config = await parse(`${MINIMAL}
routing:
  rules:
    - { name: background, when: { model: "claude-haiku-*" }, use: { providers: [anthropic], model: small } }
    - { name: search, when: { tools: ["web_search*"], thinking: false }, use: { providers: [anthropic] } }
`)
  t.same(config.routing.rules.map((r) => r.name), ['background', 'search'])
  t.same(config.routing.rules[0]!.use, { providers: ['anthropic'], model: 'small' })
  t.same(config.routing.rules[1]!.when, { tools: ['web_search*'], thinking: false })
})

t.test('budgets (CONTRACT §9): negative amounts and unknown periods are errors with their paths', async (t) => {
  const text = `server:
  auth:
    clients:
      - { name: a, key: k1, budget: { usd: -1, period: day } }
      - { name: b, key: k2, budget: { usd: 5, period: fortnight } }
      - { name: c, key: k3, budget: { usd: 5 } }
providers:
  - { name: main, type: anthropic }
usage: { db: "", retention_days: 0, path: x }
pricing:
  m: { input: 1, output: 2, cache_write_1h: -2 }
`
  const error = await parse(text).catch((e: unknown) => e)
  t.ok(error instanceof ConfigError)
  if (!(error instanceof ConfigError)) return
  const paths = error.problems.map((p) => p.path)
  for (const path of ['server.auth.clients[0].budget.usd', 'server.auth.clients[1].budget.period', 'server.auth.clients[2].budget.period', 'usage.retention_days', 'usage.path', 'pricing.m.cache_write_1h']) {
    t.ok(paths.includes(path), `${path} is reported`)
  }
})

t.test('team policy (CONTRACT §10): unknown groups, misplaced stars, bad CIDRs and duplicate groups are errors with their paths', async (t) => {
  const text = `server:
  auth:
    allow_ips: ["10.0.0.0/8", "10.0.0.0/33", "not-an-ip", "fd00::/129", "::1"]
    groups:
      - { name: interns, models: ["claude-*-haiku", ""], deny_models: ["claude-opus-*"] }
      - { name: interns }
      - { name: ops, rpm_limit: -1, member_budget: { usd: 1, period: year } }
    clients:
      - { name: a, key: k1, group: nobody }
      - { name: b, key: k2, group: interns, models: ["*x"] }
  admin: { allow_ips: ["192.168.1.1/24", "1.2.3"] }
providers:
  - { name: main, type: anthropic }
`
  const problems = await problemsFrom(parse(text))
  const paths = problems.map((p) => `${p.path}: ${p.message}`)
  for (const expected of [
    'server.auth.allow_ips[1]: "/33" is not a prefix length of 0–32',
    'server.auth.allow_ips[2]: "not-an-ip" is not an IPv4 or IPv6 address',
    'server.auth.allow_ips[3]: "/129" is not a prefix length of 0–128',
    'server.auth.groups[0].models[0]: a "*" wildcard may only appear once, at the end',
    'server.auth.groups[1].name: duplicate group name "interns" (also server.auth.groups[0])',
    'server.auth.clients[0].group: no group is named "nobody" (server.auth.groups)',
    'server.auth.clients[1].models[0]: a "*" wildcard may only appear once, at the end',
    'server.admin.allow_ips[1]: "1.2.3" is not an IPv4 or IPv6 address',
  ]) {
    t.ok(paths.includes(expected), expected)
  }
  t.ok(paths.some((p) => p.startsWith('server.auth.groups[0].models[1]')), 'an empty pattern')
  t.ok(paths.some((p) => p.startsWith('server.auth.groups[2].rpm_limit')), 'a negative group limit')
  t.ok(paths.some((p) => p.startsWith('server.auth.groups[2].member_budget.period')), 'an unknown budget period')
  t.notOk(paths.some((p) => p.startsWith('server.auth.allow_ips[0]') || p.startsWith('server.auth.allow_ips[4]') || p.startsWith('server.admin.allow_ips[0]')), 'valid entries pass')
})

t.test('team policy: a policy that allows no served model loads, with a warning', async (t) => {
  const { configWarnings } = await import('../../src/config/warnings.js')
  const config = await parse(`server:
  auth:
    groups:
      - { name: ci, models: ["qwen*"] }
      - { name: none, deny_models: ["*"] }
      - { name: fine, models: ["claude-haiku-*"] }
    clients:
      - { name: a, key: k1, group: ci, models: ["gpt-*"] }
providers:
  - { name: main, type: anthropic, models: ["claude-haiku-4-5", "claude-sonnet-4-5"] }
`)
  const warnings = configWarnings(config)
  t.match(warnings, [/^group ci: models \(qwen\*\) allow no model an enabled provider serves/, /^group none: deny_models "\*" denies every model/, /^client a: models \(gpt-\*\)/])
  t.equal(warnings.length, 3, 'the group that allows a served model is fine')
})
