/**
 * Config paths as users read them (`providers[1].keys[0].rpm_limit`), and where in the file each
 * one is. Every stage (YAML, env, schema, semantic checks) names places with `Segments`, so a
 * problem gets its line the same way whichever stage found it.
 */

export type Segments = readonly (string | number)[]

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/

/** `['providers', 1, 'model_mapping', 'claude-*']` → `providers[1].model_mapping["claude-*"]`. */
export function formatPath(segments: Segments): string {
  let out = ''
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`
    else if (PLAIN_KEY.test(segment)) out += out === '' ? segment : `.${segment}`
    else out += `[${JSON.stringify(segment)}]`
  }
  return out
}

/**
 * A JSON pointer from typebox (`/providers/1/keys`) → segments. Whether `1` is an index or a
 * key depends on the data, so the pointer is walked through `root`.
 */
export function pointerToSegments(pointer: string, root: unknown): (string | number)[] {
  if (pointer === '') return []
  const segments: (string | number)[] = []
  let node = root
  for (const raw of pointer.slice(1).split('/')) {
    const token = raw.replaceAll('~1', '/').replaceAll('~0', '~')
    if (Array.isArray(node)) {
      const index = Number(token)
      segments.push(index)
      node = node[index]
    } else {
      segments.push(token)
      node = typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[token] : undefined
    }
  }
  return segments
}

/** 1-based line of each path that exists in the file (a mapping entry's line is its key's line). */
export class LineIndex {
  readonly #lines = new Map<string, number>()

  set(segments: Segments, line: number): void {
    this.#lines.set(formatPath(segments), line)
  }

  /** The line of `segments`, else of its nearest ancestor in the file (a missing key → its parent). */
  lineOf(segments: Segments): number | undefined {
    for (let length = segments.length; length >= 0; length--) {
      const line = this.#lines.get(formatPath(segments.slice(0, length)))
      if (line !== undefined) return line
    }
    return undefined
  }
}
