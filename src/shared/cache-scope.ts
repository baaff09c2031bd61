/**
 * Removes `scope` from `cache_control` objects, on bytes.
 *
 * One mechanism for the plugins that need it (`tools.removeCacheScope`): Bedrock, Vertex and Foundry.
 * Evidence (wire-protocols §1.3, §4, §5): Claude Code sends `cache_control: {type, scope}` with the
 * `prompt-caching-scope-2026-01-05` beta; Bedrock, Vertex AI and Foundry accept only `type` and `ttl` there. litellm strips the
 * key for Vertex in `litellm/llms/vertex_ai/vertex_ai_partner_models/anthropic/experimental_pass_through/
 * transformation.py` (`self._remove_scope_from_cache_control(...)`, defined in
 * `litellm/llms/anthropic/experimental_pass_through/messages/transformation.py`: "Some providers (Vertex AI,
 * Azure AI Foundry) do not support the `scope` field in cache_control").
 *
 * Only `cache_control` objects where the Messages API defines them are touched — top level, `system[i]`,
 * `tools[i]`, `messages[i].content[j]` and the blocks inside a `tool_result`'s `content` — so a tool's
 * schema or input that happens to have a `cache_control` key keeps every byte. Every other byte of the
 * body stays as the client sent it (no re-serialisation: tool inputs may hold integers beyond 2^53).
 */

import { skipTrustedString, skipWs } from './json-scan.js'

const QUOTE = 0x22

type Step = string | number

interface Removal {
  readonly start: number
  readonly end: number
}

/** Where the Messages API puts a `cache_control` object: the path that leads to it. */
function isCacheControlPath(path: readonly Step[]): boolean {
  const n = path.length
  if (path[n - 1] !== 'cache_control') return false
  const at = (i: number, want: 'index' | string): boolean => (want === 'index' ? typeof path[i] === 'number' : path[i] === want)
  const shape = (...want: string[]): boolean => n - 1 === want.length && want.every((w, i) => at(i, w))
  return (
    shape() ||
    shape('system', 'index') ||
    shape('tools', 'index') ||
    shape('messages', 'index', 'content', 'index') ||
    shape('messages', 'index', 'content', 'index', 'content', 'index')
  )
}

class Walker {
  readonly removals: Removal[] = []
  readonly #b: Buffer
  readonly #path: Step[] = []

  constructor(b: Buffer) {
    this.#b = b
  }

  /** Walks the value at `i`; returns the offset after it. */
  value(i: number): number {
    const b = this.#b
    const c = b[i]
    if (c === 0x7b) return this.#object(i)
    if (c === 0x5b) return this.#array(i)
    if (c === QUOTE) return skipTrustedString(b, i)
    // A number or literal: runs to the next delimiter (the core has already checked the grammar).
    let j = i
    for (;;) {
      const d = b[j]
      if (d === undefined || d === 0x2c || d === 0x7d || d === 0x5d || d === 0x20 || d === 0x0a || d === 0x0d || d === 0x09) return j
      j++
    }
  }

  #array(i: number): number {
    const b = this.#b
    i = skipWs(b, i + 1)
    if (b[i] === 0x5d) return i + 1
    for (let index = 0; ; index++) {
      this.#path.push(index)
      i = skipWs(b, this.value(i))
      this.#path.pop()
      if (b[i] === 0x2c) i = skipWs(b, i + 1)
      else if (b[i] === 0x5d) return i + 1
      else throw new Error(`unexpected byte at ${i}`)
    }
  }

  #object(i: number): number {
    const b = this.#b
    const members: { keyStart: number; valueEnd: number; key: string }[] = []
    i = skipWs(b, i + 1)
    let end: number
    if (b[i] === 0x7d) end = i + 1
    else {
      for (;;) {
        const keyStart = i
        const keyEnd = skipTrustedString(b, i)
        const raw = b.toString('utf8', keyStart + 1, keyEnd - 1)
        const key = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw
        i = skipWs(b, keyEnd)
        if (b[i] !== 0x3a) throw new Error(`expected ':' at ${i}`)
        i = skipWs(b, i + 1)
        this.#path.push(key)
        const valueEnd = this.value(i)
        this.#path.pop()
        members.push({ keyStart, valueEnd, key })
        i = skipWs(b, valueEnd)
        if (b[i] === 0x2c) i = skipWs(b, i + 1)
        else if (b[i] === 0x7d) {
          end = i + 1
          break
        } else throw new Error(`unexpected byte at ${i}`)
      }
    }
    if (isCacheControlPath(this.#path)) {
      const index = members.findIndex((m) => m.key === 'scope')
      const found = members[index]
      if (found) {
        const prev = members[index - 1]
        const next = members[index + 1]
        // Take one separating comma with the member, as BodyTools.deleteField does.
        if (prev) this.removals.push({ start: prev.valueEnd, end: found.valueEnd })
        else if (next) this.removals.push({ start: found.keyStart, end: next.keyStart })
        else this.removals.push({ start: found.keyStart, end: found.valueEnd })
      }
    }
    return end
  }
}

/** The body without `cache_control.scope`, and how many were removed (0: the same bytes back). */
export function removeCacheScope(body: Uint8Array): { body: Uint8Array; removed: number } {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength)
  // The common case costs one memchr-like search: no `scope` anywhere, nothing to walk.
  if (b.indexOf('scope') < 0) return { body, removed: 0 }
  const walker = new Walker(b)
  walker.value(skipWs(b, 0))
  const cuts = walker.removals
  if (cuts.length === 0) return { body, removed: 0 }
  cuts.sort((x, y) => x.start - y.start)
  const parts: Buffer[] = []
  let at = 0
  for (const cut of cuts) {
    parts.push(b.subarray(at, cut.start))
    at = cut.end
  }
  parts.push(b.subarray(at))
  return { body: Buffer.concat(parts), removed: cuts.length }
}
