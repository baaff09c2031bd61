/**
 * What the admission step answers instead of a lease: the error, the headers that go with it, and the
 * reason it is counted under (`cc_relay_refused_total{reason}`, the request log's `refused`).
 */
import { relayError } from '../shared/errors.js'
import type { RelayErrorCode, RelayErrorData } from '../shared/errors.js'

export const REFUSAL_REASONS = ['draining', 'ip', 'auth', 'model_policy', 'budget', 'limit'] as const
export type RefusalReason = (typeof REFUSAL_REASONS)[number]

export interface Refusal {
  readonly ok: false
  readonly reason: RefusalReason
  readonly error: RelayErrorData
  /** Flat [name, value, …] headers for the answer (`retry-after`, usage-limit headers). */
  readonly headers: readonly string[]
  /** Answered before the body was read: the connection is closed rather than parsed further. */
  readonly close: boolean
}

export function refusal(reason: RefusalReason, code: RelayErrorCode, message: string, headers: readonly string[] = [], close = false): Refusal {
  return { ok: false, reason, error: relayError(code, message), headers, close }
}

/** `retry-after` in whole seconds (at least 1), from a wait in ms. */
export const retryAfter = (ms: number): string => String(Math.max(1, Math.ceil(ms / 1000)))
