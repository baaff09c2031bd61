/** src/supervisor/rate-signals.ts: retry-after forms, throttle vs quota, and spent budgets. */
import t from 'tap'
import { DEFAULT_COOLDOWN_MS, retryAfterMs, signalFor429, signalFromBudget } from '../../src/supervisor/rate-signals.js'
import { T0 } from './fixtures/helpers.js'

const HOUR = 3_600_000
const httpDate = (ms: number): string => new Date(ms).toUTCString()
const rfc3339 = (ms: number): string => new Date(ms).toISOString()
const epochSeconds = (ms: number): string => String(Math.floor(ms / 1000))

t.test('retryAfterMs: seconds, HTTP date, retry-after-ms', async (t) => {
  const cases: [name: string, headers: Record<string, string>, ms: number | undefined][] = [
    ['seconds', { 'retry-after': '10' }, 10_000],
    ['fractional seconds', { 'retry-after': '0.5' }, 500],
    ['zero', { 'retry-after': '0' }, 0],
    ['padded seconds', { 'retry-after': ' 7 ' }, 7000],
    ['negative seconds clamp to 0', { 'retry-after': '-5' }, 0],
    ['HTTP date 30 s ahead', { 'retry-after': httpDate(T0 + 30_000) }, 30_000],
    ['HTTP date 2 h ahead', { 'retry-after': httpDate(T0 + 2 * HOUR) }, 2 * HOUR],
    ['HTTP date in the past clamps to 0', { 'retry-after': httpDate(T0 - 60_000) }, 0],
    ['retry-after-ms', { 'retry-after-ms': '1500' }, 1500],
    ['retry-after-ms wins over retry-after', { 'retry-after': '10', 'retry-after-ms': '250' }, 250],
    ['unparsable retry-after-ms falls back to retry-after', { 'retry-after': '3', 'retry-after-ms': 'soon' }, 3000],
    ['none', {}, undefined],
    ['garbage', { 'retry-after': 'soon' }, undefined],
    ['empty', { 'retry-after': '' }, undefined],
  ]
  for (const [name, headers, ms] of cases) t.equal(retryAfterMs(headers, T0), ms, name)
})

t.test('signalFor429: a short retry-after is a throttle for exactly that long; more than an hour is a quota', async (t) => {
  const cases: [name: string, headers: Record<string, string>, until: number, kind: 'throttle' | 'quota'][] = [
    ['retry-after 10 s', { 'retry-after': '10' }, T0 + 10_000, 'throttle'],
    ['retry-after 0', { 'retry-after': '0' }, T0, 'throttle'],
    ['retry-after exactly one hour is still a throttle', { 'retry-after': '3600' }, T0 + HOUR, 'throttle'],
    ['retry-after one hour and a second is a quota', { 'retry-after': '3601' }, T0 + HOUR + 1000, 'quota'],
    ['retry-after as an HTTP date 2 h ahead is a quota', { 'retry-after': httpDate(T0 + 2 * HOUR) }, T0 + 2 * HOUR, 'quota'],
    ['retry-after as an HTTP date 20 s ahead is a throttle', { 'retry-after': httpDate(T0 + 20_000) }, T0 + 20_000, 'throttle'],
    ['retry-after-ms 1.5 s', { 'retry-after-ms': '1500' }, T0 + 1500, 'throttle'],
    ['retry-after-ms over an hour', { 'retry-after-ms': String(HOUR + 1) }, T0 + HOUR + 1, 'quota'],
    ['no hint: the default cooldown', {}, T0 + DEFAULT_COOLDOWN_MS, 'throttle'],
    ['unparsable hint: the default cooldown', { 'retry-after': 'later' }, T0 + DEFAULT_COOLDOWN_MS, 'throttle'],
  ]
  for (const [name, headers, until, kind] of cases) t.same(signalFor429(headers, T0), { until, kind, scope: 'model' }, `${name}: for that model only`)
})

t.test('signalFor429: a unified window that says rejected cools the key until its reset', async (t) => {
  const reset5h = T0 + 4 * HOUR
  const reset7d = T0 + 3 * 24 * HOUR
  const cases: [name: string, headers: Record<string, string>, until: number, kind: 'throttle' | 'quota'][] = [
    [
      '5h rejected, reset in epoch seconds, beats a short retry-after',
      { 'anthropic-ratelimit-unified-5h-status': 'rejected', 'anthropic-ratelimit-unified-5h-reset': epochSeconds(reset5h), 'retry-after': '10' },
      reset5h,
      'quota',
    ],
    ['5h rejected, reset as RFC 3339', { 'anthropic-ratelimit-unified-5h-status': 'rejected', 'anthropic-ratelimit-unified-5h-reset': rfc3339(reset5h) }, reset5h, 'quota'],
    ['overall unified status rejected', { 'anthropic-ratelimit-unified-status': 'rejected', 'anthropic-ratelimit-unified-reset': epochSeconds(reset5h) }, reset5h, 'quota'],
    [
      'a window without its own reset uses the overall reset',
      { 'anthropic-ratelimit-unified-7d-status': 'rejected', 'anthropic-ratelimit-unified-reset': epochSeconds(reset7d) },
      reset7d,
      'quota',
    ],
    [
      'two windows rejected: the later reset',
      {
        'anthropic-ratelimit-unified-5h-status': 'rejected',
        'anthropic-ratelimit-unified-5h-reset': epochSeconds(reset5h),
        'anthropic-ratelimit-unified-7d-status': 'rejected',
        'anthropic-ratelimit-unified-7d-reset': epochSeconds(reset7d),
      },
      reset7d,
      'quota',
    ],
    [
      'only the rejected window counts',
      {
        'anthropic-ratelimit-unified-5h-status': 'allowed',
        'anthropic-ratelimit-unified-5h-reset': epochSeconds(reset7d),
        'anthropic-ratelimit-unified-7d-status': 'rejected',
        'anthropic-ratelimit-unified-7d-reset': epochSeconds(reset5h),
      },
      reset5h,
      'quota',
    ],
    [
      'allowed: the retry-after decides',
      { 'anthropic-ratelimit-unified-5h-status': 'allowed', 'anthropic-ratelimit-unified-5h-reset': epochSeconds(reset5h), 'retry-after': '10' },
      T0 + 10_000,
      'throttle',
    ],
    [
      'rejected with a reset already past: the retry-after decides',
      { 'anthropic-ratelimit-unified-5h-status': 'rejected', 'anthropic-ratelimit-unified-5h-reset': epochSeconds(T0 - 60_000), 'retry-after': '10' },
      T0 + 10_000,
      'throttle',
    ],
    [
      'rejected without any reset: the retry-after decides',
      { 'anthropic-ratelimit-unified-5h-status': 'rejected', 'retry-after': '10' },
      T0 + 10_000,
      'throttle',
    ],
  ]
  // Without a representative claim, a rejected subscription window is taken as account-wide.
  for (const [name, headers, until, kind] of cases) t.same(signalFor429(headers, T0), { until, kind, scope: kind === 'quota' ? 'key' : 'model' }, name)
})

t.test('signalFor429: the representative claim decides whether a rejected subscription window is the account or one model family', async (t) => {
  const reset = T0 + 4 * HOUR
  const rejected = { 'anthropic-ratelimit-unified-status': 'rejected', 'anthropic-ratelimit-unified-reset': epochSeconds(reset) }
  const cases: [claim: string, scope: 'model' | 'key'][] = [
    ['five_hour', 'key'],
    ['seven_day', 'key'],
    ['overage', 'key'],
    ['seven_day_opus', 'model'],
    ['seven_day_sonnet', 'model'],
  ]
  for (const [claim, scope] of cases) {
    const headers = { ...rejected, 'anthropic-ratelimit-unified-representative-claim': claim }
    t.same(signalFor429(headers, T0), { until: reset, kind: 'quota', scope }, claim)
    t.same(signalFromBudget(headers, T0), { until: reset, kind: 'quota', scope }, `${claim} on a non-429 answer`)
  }
})

t.test('signalFromBudget: a spent budget cools the key for that model until its reset; anything else is no signal', async (t) => {
  const r20 = rfc3339(T0 + 20_000)
  const r40 = rfc3339(T0 + 40_000)
  const cases: [name: string, headers: Record<string, string>, until: number, kind: 'none' | 'throttle' | 'quota'][] = [
    ['requests remaining 0, RFC 3339 reset', { 'anthropic-ratelimit-requests-remaining': '0', 'anthropic-ratelimit-requests-reset': r20 }, T0 + 20_000, 'throttle'],
    ['tokens remaining 0', { 'anthropic-ratelimit-tokens-remaining': '0', 'anthropic-ratelimit-tokens-reset': r40 }, T0 + 40_000, 'throttle'],
    ['input tokens remaining 0', { 'anthropic-ratelimit-input-tokens-remaining': '0', 'anthropic-ratelimit-input-tokens-reset': r20 }, T0 + 20_000, 'throttle'],
    ['output tokens remaining 0', { 'anthropic-ratelimit-output-tokens-remaining': '0', 'anthropic-ratelimit-output-tokens-reset': r40 }, T0 + 40_000, 'throttle'],
    [
      'two spent budgets: the later reset',
      {
        'anthropic-ratelimit-requests-remaining': '0',
        'anthropic-ratelimit-requests-reset': r20,
        'anthropic-ratelimit-tokens-remaining': '0',
        'anthropic-ratelimit-tokens-reset': r40,
      },
      T0 + 40_000,
      'throttle',
    ],
    ['budget left', { 'anthropic-ratelimit-requests-remaining': '5', 'anthropic-ratelimit-requests-reset': r20 }, 0, 'none'],
    ['remaining 0 with the reset already past', { 'anthropic-ratelimit-requests-remaining': '0', 'anthropic-ratelimit-requests-reset': rfc3339(T0 - 1) }, 0, 'none'],
    ['remaining 0 without a reset', { 'anthropic-ratelimit-requests-remaining': '0' }, 0, 'none'],
    [
      'unified rejected on a non-429 answer',
      { 'anthropic-ratelimit-unified-status': 'rejected', 'anthropic-ratelimit-unified-reset': epochSeconds(T0 + HOUR) },
      T0 + HOUR,
      'quota',
    ],
    ['no headers', {}, 0, 'none'],
    ['retry-after alone on a non-429 is no budget signal', { 'retry-after': '30' }, 0, 'none'],
  ]
  for (const [name, headers, until, kind] of cases) t.same(signalFromBudget(headers, T0), { until, kind, scope: kind === 'quota' ? 'key' : 'model' }, name)
})
