/**
 * The `cc-relay` command line (CONTRACT §2). bin/cc-relay.js imports this from dist/.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { ConfigError, loadConfig } from './config/load.js'
import { pluginCatalog } from './plugin-types.js'
import { PROJECT_ROOT, surveyPlugins } from './shared/plugins.js'

const USAGE = `usage:
  cc-relay serve [--config FILE] [--listen HOST:PORT] [--reuse-port]
  cc-relay config validate [FILE | --config FILE]
  cc-relay config init [--output FILE]
  cc-relay plugins [--config FILE]
  cc-relay status [--url URL] [--config FILE]
  cc-relay route FILE.json|- [--config FILE] [--client NAME] [--header "name: value"]... [--json]
  cc-relay usage [--url URL] [--config FILE] [--since YYYY-MM-DD] [--until YYYY-MM-DD] [--by day,client,group,provider,model] [--format table|csv|json]
  cc-relay users [list | revoke EMAIL] [--url URL] [--config FILE] [--json]
  cc-relay claude-code setup [--url URL] [--key KEY] [--model-discovery] [--remove] [--config FILE]
  cc-relay --help | --version
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

/**
 * The provider types this relay (and the config's `plugin_dirs`) offer, and where each came from. A
 * listing, not a start: a plugin `serve` would refuse (a duplicate type, another contract version) is
 * listed or named on stderr, and the exit is 0 (CONTRACT §2). An explicit `--config` that is not there
 * is an error (exit 1): its `plugin_dirs` would be silently left out.
 */
async function listPlugins(file: string | undefined): Promise<number> {
  if (file !== undefined && !existsSync(resolve(file))) {
    process.stderr.write(`cc-relay: config file not found: ${resolve(file)}\n`)
    return 1
  }
  let dirs: readonly string[] = []
  let base = process.cwd()
  // The loader tells where plugins come from; the survey below loads them one by one, forgiving.
  const catalog = pluginCatalog()
  try {
    await loadConfig({
      file,
      discover: async (pluginDirs, configDir) => {
        dirs = pluginDirs
        base = configDir
        return catalog.discover(pluginDirs, configDir)
      },
    })
  } catch (err) {
    // An invalid config still names its plugin_dirs: what it offers is listed, and the problem named.
    if (err instanceof ConfigError) process.stderr.write(`warning: ${err.source} is invalid (cc-relay config validate says why); listing the plugins it names\n`)
    else if (!(err instanceof Error)) throw err
  }
  const { found, problems } = await surveyPlugins(dirs, base)
  for (const p of found) process.stdout.write(`${p.type.padEnd(12)} ${p.source}${p.plugin.description ? `\n${' '.repeat(13)}${p.plugin.description}` : ''}\n`)
  for (const problem of problems) process.stderr.write(`warning: ${problem} (serve refuses to start)\n`)
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

/** A usage error: the message, the usage text, exit 2. */
function usageError(message: string): number {
  process.stderr.write(`cc-relay: ${message}\n${USAGE}`)
  return 2
}

function version(): string {
  return (JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version
}

export async function main(argv: readonly string[]): Promise<number> {
  // `--help`/`-h` anywhere prints the usage (a command is not run); `--version` alone prints the version.
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE)
    return 0
  }
  if (argv.length === 1 && argv[0] === '--version') {
    process.stdout.write(`cc-relay ${version()}\n`)
    return 0
  }
  const parsed = parse(argv, ['config', 'listen', 'output', 'url', 'key', 'client', 'header', 'since', 'until', 'by', 'format'], ['remove', 'json', 'model-discovery', 'reuse-port'])
  if (typeof parsed === 'string') return usageError(parsed)
  const { words, flags, repeated } = parsed
  const [command, sub, extra] = words
  const tooMany = (most: number, what: string): number | undefined => (words.length > most ? usageError(`${what} takes no argument ${JSON.stringify(words[most])}`) : undefined)
  if (command === 'serve') {
    const refused = tooMany(1, 'serve')
    if (refused !== undefined) return refused
    const { serve } = await import('./main.js')
    return serve({ config: flags.get('config'), listen: flags.get('listen'), reusePort: flags.has('reuse-port') })
  }
  if (command === 'config') {
    if (sub === 'validate') {
      if (words.length > 3 || (extra !== undefined && flags.has('config'))) return usageError('config validate checks one config file: give it as an argument or with --config')
      return validate(extra ?? flags.get('config'))
    }
    if (sub === 'init') return tooMany(2, 'config init') ?? initConfig(flags.get('output'))
    return usageError(sub === undefined ? 'config needs a subcommand: validate or init' : `config has no subcommand ${JSON.stringify(sub)}: validate or init`)
  }
  if (command === 'plugins') return tooMany(1, 'plugins') ?? listPlugins(flags.get('config'))
  if (command === 'status') {
    const refused = tooMany(1, 'status')
    if (refused !== undefined) return refused
    const { statusCommand } = await import('./admin/status-cli.js')
    return statusCommand({ url: flags.get('url'), config: flags.get('config') })
  }
  if (command === 'usage') {
    const refused = tooMany(1, 'usage')
    if (refused !== undefined) return refused
    const { usageCommand } = await import('./admin/usage-cli.js')
    return usageCommand({ url: flags.get('url'), config: flags.get('config'), since: flags.get('since'), until: flags.get('until'), by: flags.get('by'), format: flags.get('format') })
  }
  if (command === 'route') {
    if (sub === undefined) return usageError('route needs a request body file: cc-relay route FILE.json (or - for standard input)')
    const refused = tooMany(2, 'route')
    if (refused !== undefined) return refused
    const { routeCommand } = await import('./route-cli.js')
    return routeCommand({ file: sub, config: flags.get('config'), client: flags.get('client'), headers: repeated.get('header') ?? [], json: flags.has('json') })
  }
  if (command === 'users') {
    const refused = tooMany(3, 'users')
    if (refused !== undefined) return refused
    const { usersCommand } = await import('./signin/users-cli.js')
    return usersCommand({ action: sub, email: extra, url: flags.get('url'), config: flags.get('config'), json: flags.has('json') })
  }
  if (command === 'claude-code') {
    if (sub !== 'setup') return usageError(sub === undefined ? 'claude-code needs a subcommand: setup' : `claude-code has no subcommand ${JSON.stringify(sub)}: setup`)
    const refused = tooMany(2, 'claude-code setup')
    if (refused !== undefined) return refused
    const { claudeCodeSetup } = await import('./claude-code-setup.js')
    return claudeCodeSetup({ url: flags.get('url'), key: flags.get('key'), remove: flags.has('remove'), modelDiscovery: flags.has('model-discovery'), config: flags.get('config') })
  }
  if (command === 'help' || command === undefined) {
    process.stdout.write(USAGE)
    return command === undefined ? 2 : 0
  }
  return usageError(`unknown command ${JSON.stringify(words.join(' '))}`)
}
