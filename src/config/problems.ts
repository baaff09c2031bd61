/**
 * Config problems are collected, never thrown one by one: a user fixing a file wants every
 * mistake in one run (CONTRACT §2, `config validate`).
 */
import { formatPath, type LineIndex, type Segments } from './paths.js'

export interface ConfigProblem {
  /** `providers[1].keys[0].rpm_limit`; '' for the file as a whole (unreadable, YAML syntax). */
  readonly path: string
  readonly message: string
  /** 1-based line in the file; for a missing key, the line of its parent. */
  readonly line?: number
}

export function formatProblem({ path, message, line }: ConfigProblem): string {
  return `${path === '' ? '' : `${path}: `}${message}${line === undefined ? '' : ` (line ${line})`}`
}

export class ConfigError extends Error {
  readonly problems: readonly ConfigProblem[]
  /** The config file's absolute path, or '(embedded default)'. */
  readonly source: string

  constructor(problems: readonly ConfigProblem[], source: string) {
    super(problems.map(formatProblem).join('\n'))
    this.name = 'ConfigError'
    this.problems = problems
    this.source = source
  }
}

export class ProblemList {
  readonly #lines: LineIndex
  readonly #problems: ConfigProblem[] = []
  readonly #seen = new Set<string>()
  /** Paths whose value is already known to be wrong: later stages would only repeat it. */
  readonly #silenced = new Set<string>()

  constructor(lines: LineIndex) {
    this.#lines = lines
  }

  get size(): number {
    return this.#problems.length
  }

  add(segments: Segments, message: string): void {
    const path = formatPath(segments)
    if (this.#silenced.has(path)) return
    this.addRaw({ path, message, line: this.#lines.lineOf(segments) })
  }

  addRaw(problem: ConfigProblem): void {
    const key = `${problem.path}\n${problem.message}`
    if (this.#seen.has(key)) return
    this.#seen.add(key)
    const { path, message, line } = problem
    this.#problems.push(line === undefined ? { path, message } : { path, message, line })
  }

  /** Drops whatever later stages find at `segments`: the value there is already reported. */
  silence(segments: Segments): void {
    this.#silenced.add(formatPath(segments))
  }

  /** In file order (problems without a line last), so the list reads top to bottom. */
  sorted(): ConfigProblem[] {
    return this.#problems
      .map((problem, index) => ({ problem, index }))
      .sort((a, b) => (a.problem.line ?? Infinity) - (b.problem.line ?? Infinity) || a.index - b.index)
      .map(({ problem }) => problem)
  }
}
