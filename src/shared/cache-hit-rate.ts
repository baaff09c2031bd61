/**
 * The prompt-cache hit rate the ledger, `/usage.json`, `cc-relay usage`, the status page and the docs
 * all mean: the share of input tokens read from the cache, `cache_read / (input + cache_read +
 * cache_creation)` (Anthropic's `input_tokens` counts only the uncached part of the prompt). Null when
 * there was no input at all, so "no traffic" never reads as a 0 % hit rate.
 */
export interface CacheCounters {
  readonly input_tokens: number
  readonly cache_read_input_tokens: number
  readonly cache_creation_input_tokens: number
}

export function cacheHitRate(c: CacheCounters): number | null {
  const input = c.input_tokens + c.cache_read_input_tokens + c.cache_creation_input_tokens
  return input > 0 ? Math.round((c.cache_read_input_tokens / input) * 10_000) / 10_000 : null
}
