/**
 * Stamped member batches on their way to the OTLP collector, off the request path (CONTRACT §11, §12):
 * the endpoint answers its 200 once a batch is queued, and a few posts at a time drain the queue. The
 * queue is bounded in batches and in bytes; a batch that does not fit is dropped and counted, as is one
 * the collector refuses, times out on or cannot be reached for, so a slow or dead collector costs a
 * member nothing but the lost telemetry. Batches are not retried: Claude Code sends fresh ones every
 * few seconds, and a retry queue behind a dead collector is only more memory.
 */
import { Agent, request } from 'undici'
import type { OtlpSignal } from '../../tracing/settings.js'

export interface ForwardTarget {
  readonly url: string
  /** May hold a collector's key: never logged. */
  readonly headers: Readonly<Record<string, string>>
  readonly timeoutMs: number
}

export interface ForwarderLimits {
  readonly maxBatches: number
  readonly maxBytes: number
  /** Posts in flight at once. */
  readonly concurrency: number
}

export type ForwardDrop = 'queue_full' | 'export_failed'

export interface ForwarderHooks {
  forwarded(signal: OtlpSignal): void
  dropped(signal: OtlpSignal, reason: ForwardDrop, detail: string | undefined): void
}

interface Batch {
  readonly signal: OtlpSignal
  readonly contentType: string
  readonly body: Buffer
}

export const DEFAULT_LIMITS: ForwarderLimits = { maxBatches: 1024, maxBytes: 64 * 1024 * 1024, concurrency: 4 }

export class TelemetryForwarder {
  readonly #targets: Readonly<Partial<Record<OtlpSignal, ForwardTarget>>>
  readonly #limits: ForwarderLimits
  readonly #hooks: ForwarderHooks
  readonly #agent: Agent
  readonly #queue: Batch[] = []
  #bytes = 0
  #active = 0
  #idle: (() => void)[] = []

  constructor(targets: Partial<Record<OtlpSignal, ForwardTarget>>, hooks: ForwarderHooks, limits: ForwarderLimits = DEFAULT_LIMITS) {
    this.#targets = targets
    this.#hooks = hooks
    this.#limits = limits
    // Its own connections: a stalled collector must not hold sockets any other part of the relay needs.
    this.#agent = new Agent({ connections: limits.concurrency, keepAliveTimeout: 30_000 })
  }

  /** Whether `signal` has somewhere to go (no endpoint for it: its batches are discarded). */
  has(signal: OtlpSignal): boolean {
    return this.#targets[signal] !== undefined
  }

  /** Queues a batch; false (and counted) when the queue is full. Never waits. */
  enqueue(signal: OtlpSignal, contentType: string, body: Buffer): boolean {
    if (this.#queue.length >= this.#limits.maxBatches || this.#bytes + body.length > this.#limits.maxBytes) {
      this.#hooks.dropped(signal, 'queue_full', undefined)
      return false
    }
    this.#queue.push({ signal, contentType, body })
    this.#bytes += body.length
    this.#pump()
    return true
  }

  #pump(): void {
    while (this.#active < this.#limits.concurrency && this.#queue.length > 0) {
      const batch = this.#queue.shift()!
      this.#bytes -= batch.body.length
      this.#active++
      void this.#post(batch).finally(() => {
        this.#active--
        this.#pump()
        if (this.#active === 0 && this.#queue.length === 0) for (const resolve of this.#idle.splice(0)) resolve()
      })
    }
  }

  async #post(batch: Batch): Promise<void> {
    const target = this.#targets[batch.signal]
    if (!target) return
    try {
      const res = await request(target.url, {
        method: 'POST',
        dispatcher: this.#agent,
        headers: { ...target.headers, 'content-type': batch.contentType },
        body: batch.body,
        headersTimeout: target.timeoutMs,
        bodyTimeout: target.timeoutMs,
        signal: AbortSignal.timeout(target.timeoutMs),
      })
      await res.body.dump()
      if (res.statusCode >= 200 && res.statusCode < 300) this.#hooks.forwarded(batch.signal)
      else this.#hooks.dropped(batch.signal, 'export_failed', `the collector answered HTTP ${res.statusCode}`)
    } catch (err) {
      const cause = (err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message
      this.#hooks.dropped(batch.signal, 'export_failed', cause)
    }
  }

  /** Sends what is queued for at most `ms` (a dead collector must not hold up a shutdown), then closes. */
  async close(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const idle = this.#active === 0 && this.#queue.length === 0 ? Promise.resolve() : new Promise<void>((resolve) => this.#idle.push(resolve))
    await Promise.race([idle, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))])
    clearTimeout(timer)
    await this.#agent.destroy().catch(() => {})
  }
}
