/**
 * `${VAR}` / `${VAR:-default}` in config values. Applied to each string scalar after YAML
 * parsing (document.ts), never to raw text or keys, so a variable's content can never change the
 * file's structure. `$${` is a literal `${`.
 */
import { isScalar, parseDocument } from 'yaml'

const REFERENCE = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s

export interface ExpandedScalar {
  readonly value: unknown
  /** One message per failed reference; empty when the value expanded cleanly. */
  readonly errors: readonly string[]
}

interface ExpandedText {
  readonly text: string
  readonly references: number
  readonly errors: readonly string[]
}

/** Substitutes every reference in `text`; `${VAR:-x}` falls back when VAR is unset or empty, as in sh. */
export function expandText(text: string, env: NodeJS.ProcessEnv): ExpandedText {
  let out = ''
  let references = 0
  const errors: string[] = []
  let i = 0
  while (i < text.length) {
    if (text.startsWith('$${', i)) {
      out += '${'
      i += 3
      continue
    }
    if (!text.startsWith('${', i)) {
      out += text[i]
      i += 1
      continue
    }
    const end = text.indexOf('}', i + 2)
    const match = end === -1 ? null : REFERENCE.exec(text.slice(i + 2, end))
    if (match === null) {
      const shown = end === -1 ? text.slice(i) : text.slice(i, end + 1)
      errors.push(`invalid environment reference "${shown}" (write $\${ for a literal \${)`)
      break
    }
    const [, name = '', fallback] = match
    const value = env[name]
    references += 1
    if (fallback !== undefined) out += value === undefined || value === '' ? fallback : value
    else if (value === undefined) errors.push(`environment variable ${name} is not set`)
    else out += value
    i = end + 1
  }
  return { text: out, references, errors }
}

/**
 * A PLAIN (unquoted) scalar is typed by YAML after substitution, as if the value had been written
 * there: `rpm_limit: ${RPM:-60}` is the number 60. Only numbers, booleans and null are taken
 * from that reading; anything else keeps the substituted text exactly (no YAML trimming of
 * `#` comments inside a variable). A quoted scalar always stays a string.
 */
export function expandScalar(value: string, plain: boolean, env: NodeJS.ProcessEnv): ExpandedScalar {
  const { text, references, errors } = expandText(value, env)
  if (errors.length > 0 || !plain || references === 0 || text.trim() === '') return { value: text, errors }
  const doc = parseDocument(text)
  const typed: unknown = isScalar(doc.contents) && doc.errors.length === 0 ? doc.contents.value : text
  const keep = typeof typed === 'number' || typeof typed === 'boolean' || typed === null
  return { value: keep ? typed : text, errors }
}
