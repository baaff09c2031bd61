/**
 * Estimated cost of a request from its usage and a price table (USD per million tokens). The built-in
 * table holds Anthropic's list prices for Claude models as published in 2025–2026; `pricing:` in the
 * config adds models and overrides these. Upstream names come in each backend's spelling
 * (`claude-sonnet-4-5-20250929`, `us.anthropic.claude-sonnet-4-5-20250929-v1:0`, `claude-sonnet-4-5@20250929`),
 * so the match starts at `claude-` when the name contains it. A model without a price has no cost
 * (shown as unknown), rather than a guessed one.
 */
import type { ModelPrice } from '../config/types.js'
import type { Usage } from '../shared/protocol.js'

const price = (input: number, output: number): ModelPrice => ({ input, output, cache_write: input * 1.25, cache_write_1h: input * 2, cache_read: input * 0.1 })

export const BUILT_IN_PRICES: Readonly<Record<string, ModelPrice>> = {
  'claude-opus-4-5*': price(5, 25),
  'claude-opus-4-1*': price(15, 75),
  'claude-opus-4*': price(15, 75),
  'claude-sonnet-4*': price(3, 15),
  'claude-3-7-sonnet*': price(3, 15),
  'claude-haiku-4-5*': price(1, 5),
  'claude-3-5-haiku*': price(0.8, 4),
  'claude-3-haiku*': price(0.25, 1.25),
}

export class PriceTable {
  /** Exact names, then prefixes longest first. */
  readonly #exact = new Map<string, ModelPrice>()
  readonly #prefixes: [string, ModelPrice][] = []
  readonly #cache = new Map<string, ModelPrice | null>()

  constructor(operator: Readonly<Record<string, ModelPrice>>) {
    const merged = { ...BUILT_IN_PRICES, ...operator }
    for (const [pattern, p] of Object.entries(merged)) {
      if (pattern.endsWith('*')) this.#prefixes.push([pattern.slice(0, -1), p])
      else this.#exact.set(pattern, p)
    }
    this.#prefixes.sort((a, b) => b[0].length - a[0].length)
  }

  priceOf(model: string): ModelPrice | undefined {
    let found = this.#cache.get(model)
    if (found === undefined) {
      found = this.#lookup(model) ?? this.#lookup(model.slice(Math.max(0, model.indexOf('claude-')))) ?? null
      // Model names are few; the cache stays small.
      if (this.#cache.size < 1000) this.#cache.set(model, found)
    }
    return found ?? undefined
  }

  /** USD, or undefined when the model has no price. */
  costOf(model: string, usage: Usage): number | undefined {
    const p = this.priceOf(model)
    if (!p) return undefined
    // Cache writes by lifetime: the 1-hour part at cache_write_1h, the rest (5 minutes) at cache_write.
    const hour = Math.min(usage.cache_creation_1h_input_tokens ?? 0, usage.cache_creation_input_tokens)
    const perToken =
      usage.input_tokens * p.input +
      usage.output_tokens * p.output +
      (usage.cache_creation_input_tokens - hour) * p.cache_write +
      hour * (p.cache_write_1h ?? p.input * 2) +
      usage.cache_read_input_tokens * p.cache_read
    return perToken / 1_000_000
  }

  #lookup(model: string): ModelPrice | undefined {
    const exact = this.#exact.get(model)
    if (exact) return exact
    for (const [prefix, p] of this.#prefixes) if (model.startsWith(prefix)) return p
    return undefined
  }
}
