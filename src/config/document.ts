/**
 * YAML text → plain data, keeping what error messages need: the line of every path, YAML's own
 * syntax errors, and `${VAR}` expansion done on the parsed scalars (env.ts).
 */
import { LineCounter, isMap, isNode, isScalar, isSeq, parseDocument, Scalar } from 'yaml'
import { expandScalar } from './env.js'
import type { LineIndex, Segments } from './paths.js'
import type { ProblemList } from './problems.js'

interface WalkContext {
  readonly env: NodeJS.ProcessEnv
  readonly counter: LineCounter
  readonly lines: LineIndex
  readonly problems: ProblemList
}

/** yaml's message carries ` at line N, column M:` and a code frame; the line goes in `line`. */
function syntaxMessage(message: string): string {
  const first = message.split('\n', 1)[0] ?? message
  return `YAML syntax error: ${first.replace(/ at line \d+, column \d+:?$/, '')}`
}

function recordLine(node: unknown, segments: Segments, context: WalkContext): void {
  const start = isNode(node) ? node.range?.[0] : undefined
  if (start !== undefined) context.lines.set(segments, context.counter.linePos(start).line)
}

function walk(node: unknown, segments: Segments, context: WalkContext): void {
  if (isMap(node)) {
    for (const { key, value } of node.items) {
      const at = [...segments, isScalar(key) ? String(key.value) : String(key)]
      // A mapping entry is shown at its key: `rpm_limit: -1` and `pooling:` above a block.
      recordLine(key, at, context)
      walk(value, at, context)
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, index) => {
      recordLine(item, [...segments, index], context)
      walk(item, [...segments, index], context)
    })
  } else if (isScalar(node) && typeof node.value === 'string' && node.value.includes('${')) {
    const { value, errors } = expandScalar(node.value, node.type === Scalar.PLAIN, context.env)
    for (const error of errors) context.problems.add(segments, error)
    // The schema would only add "must be an integer" about the same unresolvable value.
    if (errors.length > 0) context.problems.silence(segments)
    node.value = value
  }
}

/**
 * Parses `text`, recording lines in `lines` and problems in `problems`. Returns undefined when
 * the YAML itself is broken: its partial reading would only produce misleading follow-on problems.
 */
export function readDocument(
  text: string,
  env: NodeJS.ProcessEnv,
  lines: LineIndex,
  problems: ProblemList,
): { readonly value: unknown } | undefined {
  const counter = new LineCounter()
  const doc = parseDocument(text, { lineCounter: counter })
  for (const error of doc.errors) {
    problems.addRaw({ path: '', message: syntaxMessage(error.message), line: error.linePos?.[0].line })
  }
  if (doc.errors.length > 0) return undefined
  const context: WalkContext = { env, counter, lines, problems }
  recordLine(doc.contents, [], context)
  walk(doc.contents, [], context)
  try {
    return { value: doc.toJS() }
  } catch (error) {
    // e.g. an alias bomb: yaml refuses excessive alias expansion.
    problems.addRaw({ path: '', message: `YAML error: ${(error as Error).message}` })
    return undefined
  }
}
