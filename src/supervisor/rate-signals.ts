/**
 * What an upstream says about a key's budget, read from its answer headers (API-RL; wire-protocols §1.6):
 * how long to leave the key alone, whether that is a per-minute throttle or an exhausted quota, and
 * for what (CONTRACT §6). A throttle cools the key for `retry-after`; an exhausted quota (a
 * `retry-after` over an hour, or a `anthropic-ratelimit-unified-*-status: rejected`) cools it until the
 * quota resets. Anthropic's request and token limits are per model, so these cool the answer's model
 * only; a subscription window that is account-wide (`five_hour`, `seven_day`) cools the whole key.
 */

const HOUR_MS = 3_600_000
/** A 429 without any retry hint: back off briefly rather than hammer the key. */
export const DEFAULT_COOLDOWN_MS = 5_000

export interface RateSignal {
  /** Leave the key alone until this time (epoch ms); 0 = no cooldown. */
  readonly until: number
  readonly kind: 'none' | 'throttle' | 'quota'
  /** What is spent: the key for the answer's model only, or the whole key (every model, the account). */
  readonly scope: 'model' | 'key'
}

const NONE: RateSignal = { until: 0, kind: 'none', scope: 'model' }

/**
 * The scope of a rejected subscription window, from `anthropic-ratelimit-unified-representative-claim`:
 * a claim naming a model family (`seven_day_opus`, `seven_day_sonnet`) limits that family; the others
 * (`five_hour`, `seven_day`, `overage`) and a missing claim limit the whole account.
 */
function unifiedScope(headers: Readonly<Record<string, string>>): 'model' | 'key' {
  const claim = headers['anthropic-ratelimit-unified-representative-claim'] ?? ''
  return /opus|sonnet|haiku/i.test(claim) ? 'model' : 'key'
}

/** `retry-after` as seconds or an HTTP date; `retry-after-ms` wins when present. */
export function retryAfterMs(headers: Readonly<Record<string, string>>, now: number): number | undefined {
  const ms = Number(headers['retry-after-ms'])
  if (headers['retry-after-ms'] !== undefined && Number.isFinite(ms)) return Math.max(0, ms)
  const value = headers['retry-after']
  if (value === undefined) return undefined
  const seconds = Number(value)
  if (value.trim() !== '' && Number.isFinite(seconds)) return Math.max(0, seconds * 1000)
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

/** Epoch ms from an RFC 3339 string or epoch seconds. */
function resetTime(value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const seconds = Number(value)
  if (Number.isFinite(seconds)) return seconds * 1000
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : date
}

/** The latest reset among the unified (subscription) windows that say `rejected`. */
function unifiedRejectedUntil(headers: Readonly<Record<string, string>>): number | undefined {
  let until: number | undefined
  for (const [name, value] of Object.entries(headers)) {
    const m = /^anthropic-ratelimit-unified(-.+)?-status$/.exec(name)
    if (!m || value !== 'rejected') continue
    const reset = resetTime(headers[`anthropic-ratelimit-unified${m[1] ?? ''}-reset`]) ?? resetTime(headers['anthropic-ratelimit-unified-reset'])
    if (reset !== undefined) until = Math.max(until ?? 0, reset)
  }
  return until
}

/** For a 429: how long, and which kind. */
export function signalFor429(headers: Readonly<Record<string, string>>, now: number): RateSignal {
  const quota = unifiedRejectedUntil(headers)
  if (quota !== undefined && quota > now) return { until: quota, kind: 'quota', scope: unifiedScope(headers) }
  const wait = retryAfterMs(headers, now)
  if (wait === undefined) return { until: now + DEFAULT_COOLDOWN_MS, kind: 'throttle', scope: 'model' }
  return { until: now + wait, kind: wait > HOUR_MS ? 'quota' : 'throttle', scope: 'model' }
}

/**
 * For any answer: a budget the upstream reports as spent (`…-remaining: 0`) cools the key for that
 * model until its `…-reset`, without touching the relay's own accounting.
 */
export function signalFromBudget(headers: Readonly<Record<string, string>>, now: number): RateSignal {
  let until = 0
  for (const kind of ['requests', 'tokens', 'input-tokens', 'output-tokens']) {
    if (headers[`anthropic-ratelimit-${kind}-remaining`] !== '0') continue
    const reset = resetTime(headers[`anthropic-ratelimit-${kind}-reset`])
    if (reset !== undefined && reset > now) until = Math.max(until, reset)
  }
  const quota = unifiedRejectedUntil(headers)
  if (quota !== undefined && quota > now) return { until: Math.max(until, quota), kind: 'quota', scope: unifiedScope(headers) }
  return until > 0 ? { until, kind: 'throttle', scope: 'model' } : NONE
}
