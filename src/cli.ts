/**
 * The `cc-relay` command line (CONTRACT §2). bin/cc-relay.js imports this from dist/.
 */
import { ConfigError, loadConfig } from './config/load.js'
import { pluginCatalog } from './plugin-types.js'

const USAGE = `usage:
  cc-relay serve [--config FILE] [--listen HOST:PORT]
  cc-relay config validate [FILE | --config FILE]
  cc-relay config init [--output FILE]
  cc-relay plugins [--config FILE]
  cc-relay status [--url URL] [--config FILE]
  cc-relay route FILE.json|- [--config FILE] [--client NAME] [--header "name: value"]... [--json]
  cc-relay usage [--url URL] [--config FILE] [--since YYYY-MM-DD] [--until YYYY-MM-DD] [--by day,client,group,provider,model] [--format table|csv|json]
  cc-relay users [list | revoke EMAIL] [--url URL] [--config FILE] [--json]
  cc-relay claude-code setup [--url URL] [--key KEY] [--model-discovery] [--remove] [--config FILE]
`

interface Parsed {
  readonly words: string[]
  readonly flags: Map<string, string>
  /** Every value of an option that may be given more than once (`--header`). */
  readonly repeated: Map<string, string[]>
}

const REPEATABLE: readonly string[] = ['header']

/** `--name value` and `--name=value`; everything else is a word. */
function parse(argv: readonly string[], valued: readonly string[], switches: readonly string[]): Parsed | string {
  const words: string[] = []
  const flags = new Map<string, string>()
  const repeated = new Map<string, string[]>()
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (!arg.startsWith('--')) {
      words.push(arg)
      continue
    }
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined]
    if (switches.includes(name) && inline === undefined) {
      flags.set(name, 'true')
      continue
    }
    if (!valued.includes(name)) return `unknown option --${name}`
    const value = inline ?? argv[++i]
    if (value === undefined) return `--${name} needs a value`
    flags.set(name, value)
    if (REPEATABLE.includes(name)) repeated.set(name, [...(repeated.get(name) ?? []), value])
  }
  return { words, flags, repeated }
}

async function validate(file: string | undefined): Promise<number> {
  try {
    const { source, config } = await loadConfig({ file, discover: pluginCatalog().discover })
    const enabled = config.providers.filter((p) => p.enabled).length
    process.stdout.write(`${source}: valid (${config.providers.length} providers, ${enabled} enabled)\n`)
    const { configWarnings } = await import('./config/warnings.js')
    for (const warning of configWarnings(config)) process.stderr.write(`warning: ${warning}\n`)
    return 0
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`${err.source}: invalid\n${err.message}\n`)
    return 1
  }
}

/** The provider types this relay (and the config's `plugin_dirs`) offer, and where each came from. */
async function listPlugins(file: string | undefined): Promise<number> {
  const catalog = pluginCatalog()
  try {
    await loadConfig({ file, discover: catalog.discover })
  } catch (err) {
    // An invalid config still names its plugin_dirs; what was discovered before the problem is listed.
    if (!(err instanceof ConfigError)) throw err
    if (catalog.loaded().length === 0) await catalog.discover([], process.cwd())
  }
  for (const p of catalog.loaded()) process.stdout.write(`${p.type.padEnd(12)} ${p.source}${p.plugin.description ? `\n${' '.repeat(13)}${p.plugin.description}` : ''}\n`)
  return 0
}

async function initConfig(output: string | undefined): Promise<number> {
  const { STARTER_CONFIG } = await import('./config/starter.js')
  if (output === undefined) {
    process.stdout.write(STARTER_CONFIG)
    return 0
  }
  const { existsSync, writeFileSync } = await import('node:fs')
  if (existsSync(output)) {
    process.stderr.write(`cc-relay: ${output} exists; not overwriting it\n`)
    return 1
  }
  writeFileSync(output, STARTER_CONFIG, { mode: 0o600 })
  process.stdout.write(`wrote ${output}\n`)
  return 0
}

export async function main(argv: readonly string[]): Promise<number> {
  const parsed = parse(argv, ['config', 'listen', 'output', 'url', 'key', 'client', 'header', 'since', 'until', 'by', 'format'], ['remove', 'json', 'model-discovery'])
  if (typeof parsed === 'string') {
    process.stderr.write(`cc-relay: ${parsed}\n${USAGE}`)
    return 2
  }
  const { words, flags, repeated } = parsed
  const [command, sub, extra] = words
  if (command === 'serve' && sub === undefined) {
    const { serve } = await import('./main.js')
    return serve({ config: flags.get('config'), listen: flags.get('listen') })
  }
  if (command === 'config' && sub === 'validate' && !flags.has('listen')) {
    if (extra !== undefined && flags.has('config')) {
      process.stderr.write(`cc-relay: give the file either as an argument or with --config\n${USAGE}`)
      return 2
    }
    return validate(extra ?? flags.get('config'))
  }
  if (command === 'config' && sub === 'init' && extra === undefined) return initConfig(flags.get('output'))
  if (command === 'plugins' && sub === undefined) return listPlugins(flags.get('config'))
  if (command === 'status' && sub === undefined) {
    const { statusCommand } = await import('./admin/status-cli.js')
    return statusCommand({ url: flags.get('url'), config: flags.get('config') })
  }
  if (command === 'usage' && sub === undefined) {
    const { usageCommand } = await import('./admin/usage-cli.js')
    return usageCommand({ url: flags.get('url'), config: flags.get('config'), since: flags.get('since'), until: flags.get('until'), by: flags.get('by'), format: flags.get('format') })
  }
  if (command === 'route' && sub !== undefined && extra === undefined) {
    const { routeCommand } = await import('./route-cli.js')
    return routeCommand({ file: sub, config: flags.get('config'), client: flags.get('client'), headers: repeated.get('header') ?? [], json: flags.has('json') })
  }
  if (command === 'users' && words.length <= 3) {
    const { usersCommand } = await import('./signin/users-cli.js')
    return usersCommand({ action: sub, email: extra, url: flags.get('url'), config: flags.get('config'), json: flags.has('json') })
  }
  if (command === 'claude-code' && sub === 'setup' && extra === undefined) {
    const { claudeCodeSetup } = await import('./claude-code-setup.js')
    return claudeCodeSetup({ url: flags.get('url'), key: flags.get('key'), remove: flags.has('remove'), modelDiscovery: flags.has('model-discovery'), config: flags.get('config') })
  }
  if (command === 'help' || command === undefined) {
    process.stdout.write(USAGE)
    return command === undefined ? 2 : 0
  }
  process.stderr.write(`cc-relay: unknown command ${JSON.stringify(words.join(' '))}\n${USAGE}`)
  return 2
}
