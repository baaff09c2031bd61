/**
 * `state.store: redis` (issue 7): the limits of every pooled key hold across all relays that share one
 * Redis. Each lease the local supervisor grants on a limited key is confirmed by one atomic Redis round
 * trip (admission-script.ts) that checks and reserves the key's rpm/tpm/itpm/otpm windows for all
 * instances together; a refusal cools the key locally until the shared window frees up. Real usage is
 * settled afterwards, pipelined, off the request's path.
 *
 * Redis failing never fails a request: a command error or timeout switches this instance to local
 * enforcement with every limit divided by the number of relays last seen (so together they stay within
 * it), logged once, shown in /metrics and the status; the heartbeat notices when Redis is back.
 * Instances heartbeat into a sorted set, so each knows how many are live.
 */
import { createHash, randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import type { KeyConfig, RelayConfig } from '../../config/types.js'
import { fault } from '../../shared/faults.js'
import type { Logger } from '../../shared/log.js'
import type { SharedEvent } from '../../shared/protocol.js'
import { ADMIT_SCRIPT, SLOT_SCRIPT } from './admission-script.js'

const HEARTBEAT_MS = 1000
/** A lease still open after this long (a relay that crashed mid-stream) stops counting by itself. */
const LEASE_TTL_MS = 10 * 60_000

/** What the shared state needs from the relay around it. */
export interface SharedHooks {
  /** Re-applies the effective config to the supervisor (after a switch between shared and local). */
  readonly reapply: () => void
  /** Another relay's announcement (or a reading: other relays' load, a session's affinity). */
  readonly hear: (event: SharedEvent) => void
  /** The pooled keys whose load other relays share: provider name, key hash, key id. */
  readonly pooledKeys: () => readonly { readonly provider: string; readonly hash: string; readonly id: string }[]
}
/** An instance not heard from for this long is no longer counted. */
const INSTANCE_TTL_MS = 5000

/** A lease's hold on the shared windows, settled with the real usage when the attempt ends. */
export interface SharedReservation {
  readonly keyId: string
  readonly second: number
  /** Tokens reserved in the tpm, itpm and otpm windows (0 where the key has no such limit). */
  readonly reserved: readonly [number, number, number]
}

export type SharedVerdict =
  | { readonly ok: true; readonly reservation: SharedReservation | undefined }
  | { readonly ok: false; readonly retryAfterMs: number }

interface AdmitCommand {
  ccAdmit(...args: (string | number)[]): Promise<number>
  ccSlot(...args: (string | number)[]): Promise<number>
}

/** The sliding-minute limits one admission checks: a pooled key's, or a team client's (no itpm/otpm). */
export type WindowLimits = Pick<KeyConfig, 'rpm_limit' | 'tpm_limit' | 'itpm_limit' | 'otpm_limit'>

const isLimited = (k: WindowLimits): boolean => k.rpm_limit > 0 || k.tpm_limit > 0 || k.itpm_limit > 0 || k.otpm_limit > 0

/** Every limit split `n` ways (never below 1): what one of `n` relays may use on its own. */
export function dividedLimits(config: RelayConfig, n: number): RelayConfig {
  if (n <= 1) return config
  const part = (limit: number): number => (limit > 0 ? Math.max(1, Math.floor(limit / n)) : 0)
  return {
    ...config,
    providers: config.providers.map((p) => ({
      ...p,
      keys: p.keys.map((k) => ({ ...k, rpm_limit: part(k.rpm_limit), tpm_limit: part(k.tpm_limit), itpm_limit: part(k.itpm_limit), otpm_limit: part(k.otpm_limit) })),
    })),
    server: {
      ...config.server,
      auth: {
        ...config.server.auth,
        clients: config.server.auth.clients.map((c) => ({ ...c, rpm_limit: part(c.rpm_limit), tpm_limit: part(c.tpm_limit), max_concurrent: part(c.max_concurrent) })),
        groups: config.server.auth.groups.map((g) => ({ ...g, rpm_limit: part(g.rpm_limit), tpm_limit: part(g.tpm_limit), max_concurrent: part(g.max_concurrent) })),
      },
    },
  }
}

export class SharedState {
  readonly instanceId = randomUUID().slice(0, 8)
  readonly #redis: Redis & AdmitCommand
  /** Pub/sub needs a connection of its own; it queues its SUBSCRIBE until connected and renews it on reconnect. */
  readonly #subscriber: Redis
  readonly #channel: string
  readonly #prefix: string
  readonly #log: Logger
  readonly #hooks: SharedHooks
  #heartbeat: NodeJS.Timeout | undefined
  #degraded = false
  #instances = 1
  #seq = 0

  constructor(config: RelayConfig, log: Logger, hooks: SharedHooks) {
    const { url, key_prefix, connect_timeout_ms, command_timeout_ms } = config.state.redis
    this.#prefix = key_prefix
    this.#log = log
    this.#hooks = hooks
    this.#redis = new Redis(url, {
      connectTimeout: connect_timeout_ms,
      commandTimeout: command_timeout_ms,
      // Fail at once while disconnected (the relay falls back to local limits) instead of queueing.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (times) => Math.min(100 * times, 2000),
    }) as Redis & AdmitCommand
    this.#redis.on('error', () => {}) // reported through #degrade, once per outage
    this.#redis.defineCommand('ccAdmit', { numberOfKeys: 5, lua: ADMIT_SCRIPT })
    this.#redis.defineCommand('ccSlot', { numberOfKeys: 1, lua: SLOT_SCRIPT })
    this.#channel = `${key_prefix}events`
    this.#subscriber = new Redis(url, { connectTimeout: connect_timeout_ms, retryStrategy: (times) => Math.min(100 * times, 2000) })
    this.#subscriber.on('error', () => {})
    this.#subscriber.subscribe(this.#channel).catch(() => {})
    this.#subscriber.on('message', (_channel: string, text: string) => {
      let message: { from?: string; event?: SharedEvent }
      try {
        message = JSON.parse(text) as typeof message
      } catch {
        return
      }
      // Another relay's bytes: whatever they hold, applying them must not throw out of Redis's callback.
      try {
        if (message?.from !== this.instanceId && message?.event) hooks.hear(message.event)
      } catch (err) {
        fault('shared.message', err)
      }
    })
  }

  /**
   * Whether this relay may send one more probe to a half-open provider: the probes of one open period
   * are counted across all relays together. Redis failing allows it (the local limit still holds).
   */
  async admitProbe(provider: string, period: number, limit: number): Promise<boolean> {
    if (this.#degraded) return true
    const key = `${this.#prefix}probe:{${provider}}:${period}`
    try {
      const count = await this.#redis.incr(key)
      if (count === 1) this.#redis.pexpire(key, 600_000).catch(() => {})
      return count <= limit
    } catch {
      return true
    }
  }

  /**
   * One of `max` concurrency slots of `id` (a team client's `max_concurrent`) across all relays; the
   * answer is the slot's name to free, false when all are taken, or true when Redis is away (local
   * limits apply then).
   */
  async takeSlot(id: string, max: number): Promise<string | boolean> {
    if (this.#degraded) return true
    const now = Date.now()
    const member = `${this.instanceId}:${this.#seq++}`
    try {
      const taken = await this.#redis.ccSlot(`${this.#prefix}slots:{${id}}`, now, now + LEASE_TTL_MS, member, max)
      return taken === 1 ? member : false
    } catch (err) {
      this.#degrade(err as Error)
      return true
    }
  }

  freeSlot(id: string, slot: string): void {
    this.#redis.zrem(`${this.#prefix}slots:{${id}}`, slot).catch(() => {})
  }

  /** A lease on a pooled key began here: other relays count it (for `least_loaded`) until it ends or expires. */
  leaseStarted(keyId: string, leaseId: number): void {
    if (this.#degraded) return
    this.#redis.zadd(`${this.#prefix}inflight:{${keyId}}`, Date.now() + LEASE_TTL_MS, `${this.instanceId}:${leaseId}`).catch(() => {})
  }

  leaseEnded(keyId: string, leaseId: number): void {
    if (this.#degraded) return
    this.#redis.zrem(`${this.#prefix}inflight:{${keyId}}`, `${this.instanceId}:${leaseId}`).catch(() => {})
  }

  /** Other relays' open leases per pooled key, handed to the supervisor as readings. */
  async #readLoad(): Promise<void> {
    const keys = this.#hooks.pooledKeys()
    if (keys.length === 0) return
    const now = Date.now()
    const pipeline = this.#redis.pipeline()
    for (const k of keys) {
      pipeline.zremrangebyscore(`${this.#prefix}inflight:{${k.id}}`, '-inf', now)
      pipeline.zrange(`${this.#prefix}inflight:{${k.id}}`, '0', '-1')
    }
    const replies = (await pipeline.exec()) ?? []
    const own = `${this.instanceId}:`
    keys.forEach((k, i) => {
      const [err, members] = replies[i * 2 + 1] ?? [new Error('no reply'), []]
      if (err) return
      const inflight = (members as string[]).filter((m) => !m.startsWith(own)).length
      this.#hooks.hear({ type: 'load', provider: k.provider, keyHash: k.hash, inflight })
    })
  }

  /** Where a session's affinity lives: hashed, since a session id can carry account metadata. */
  #sessionKey(session: string): string {
    return `${this.#prefix}aff:${createHash('sha256').update(session).digest('hex').slice(0, 24)}`
  }

  /** The provider and key that last served `session` on any relay (undefined when unknown or Redis is away). */
  async recallSession(session: string): Promise<{ provider: string; keyHash: string | undefined; family: string } | undefined> {
    if (this.#degraded) return undefined
    try {
      const text = await this.#redis.get(this.#sessionKey(session))
      if (!text) return undefined
      const [provider, keyHash, family] = JSON.parse(text) as [string, string | null, string]
      return { provider, keyHash: keyHash ?? undefined, family }
    } catch {
      return undefined // affinity is a preference: a slow or absent Redis only loses it
    }
  }

  /** Records where `session` was served, for `ttlMs` (fire and forget). */
  rememberSession(session: string, provider: string, keyHash: string | undefined, family: string, ttlMs: number): void {
    if (this.#degraded) return
    this.#redis.set(this.#sessionKey(session), JSON.stringify([provider, keyHash ?? null, family]), 'PX', ttlMs).catch(() => {})
  }

  /** Tells the other relays (fire and forget: an announcement lost while Redis is down is only news). */
  announce(event: SharedEvent): void {
    if (this.#degraded) return
    this.#redis.publish(this.#channel, JSON.stringify({ from: this.instanceId, event })).catch(() => {})
  }

  /**
   * Waits (up to the connect timeout) for the first connection and heartbeat, so the relay starts
   * sharing from its first request; a Redis that is down at start means starting on local limits.
   * Heartbeats (and so any switch to local limits, which re-applies the config) start here.
   */
  async started(connectTimeoutMs: number): Promise<void> {
    const ready = new Promise<void>((resolve) => {
      if (this.#redis.status === 'ready') return resolve()
      this.#redis.once('ready', () => resolve())
      setTimeout(resolve, connectTimeoutMs).unref()
    })
    await ready
    await this.#beat()
    this.#heartbeat = setInterval(() => void this.#beat().catch((err: unknown) => fault('shared.heartbeat', err)), HEARTBEAT_MS)
    this.#heartbeat.unref()
  }

  /** What the status page and metrics show. */
  get status(): { kind: 'redis'; shared: boolean; instances: number } {
    return { kind: 'redis', shared: !this.#degraded, instances: this.#instances }
  }

  /** The config the local supervisor should enforce: whole when Redis is shared, divided when not. */
  effective(config: RelayConfig): RelayConfig {
    return this.#degraded ? dividedLimits(config, this.#instances) : config
  }

  /**
   * Confirms a lease on a key (or a team client's request, as `client:name`) across all relays;
   * nothing limited, no round trip.
   */
  async admit(keyId: string, key: WindowLimits, estimate: { input: number; output: number }, leaseId?: number): Promise<SharedVerdict> {
    if (this.#degraded) return { ok: true, reservation: undefined }
    if (!isLimited(key)) {
      if (leaseId !== undefined) this.leaseStarted(keyId, leaseId)
      return { ok: true, reservation: undefined }
    }
    const now = Date.now()
    const reserved: [number, number, number] = [
      key.tpm_limit > 0 ? estimate.input + estimate.output : 0,
      key.itpm_limit > 0 ? estimate.input : 0,
      key.otpm_limit > 0 ? estimate.output : 0,
    ]
    const k = (window: string): string => `${this.#prefix}w:{${keyId}}:${window}`
    try {
      // Client windows (no lease) record their in-flight member in a scratch key that simply expires.
      const inflight = leaseId === undefined ? k('admitted') : `${this.#prefix}inflight:{${keyId}}`
      const wait = await this.#redis.ccAdmit(
        k('rpm'), k('tpm'), k('itpm'), k('otpm'), inflight,
        now, `${now}-${this.instanceId}-${this.#seq++}`,
        key.rpm_limit, key.tpm_limit, key.itpm_limit, key.otpm_limit, ...reserved,
        `${this.instanceId}:${leaseId ?? 'client'}`, now + (leaseId === undefined ? 1000 : LEASE_TTL_MS),
      )
      if (wait > 0) return { ok: false, retryAfterMs: wait }
      return { ok: true, reservation: { keyId, second: Math.floor(now / 1000), reserved } }
    } catch (err) {
      this.#degrade(err as Error)
      return { ok: true, reservation: undefined }
    }
  }

  /** Replaces a reservation with the real usage (pipelined, unawaited: nothing waits on it). */
  settle(r: SharedReservation | undefined, used: { input: number; output: number }): void {
    if (!r || this.#degraded) return
    const actual = [used.input + used.output, used.input, used.output]
    const pipeline = this.#redis.pipeline()
    ;(['tpm', 'itpm', 'otpm'] as const).forEach((window, i) => {
      if (r.reserved[i] === 0) return // the key has no such limit
      const delta = actual[i]! - r.reserved[i]!
      if (delta !== 0) pipeline.hincrby(`${this.#prefix}w:{${r.keyId}}:${window}`, String(r.second), delta)
    })
    if (pipeline.length > 0) pipeline.exec().catch(() => {})
  }

  async close(): Promise<void> {
    clearInterval(this.#heartbeat)
    await this.#redis.zrem(`${this.#prefix}instances`, this.instanceId).catch(() => {})
    this.#redis.disconnect()
    this.#subscriber.disconnect()
  }

  async #beat(): Promise<void> {
    const key = `${this.#prefix}instances`
    const now = Date.now()
    try {
      const replies = await this.#redis
        .multi()
        .zadd(key, now, this.instanceId)
        .zremrangebyscore(key, '-inf', now - INSTANCE_TTL_MS)
        .zcard(key)
        .pexpire(key, INSTANCE_TTL_MS * 2)
        .exec()
      // A transaction that could not run resolves with null or with an error per command.
      if (!replies) throw new Error('Redis transaction aborted')
      for (const [err] of replies) if (err) throw err
      const instances = Math.max(1, Number(replies[2]![1]))
      const changed = instances !== this.#instances
      this.#instances = instances
      if (this.#degraded) this.#recover()
      else if (changed) this.#log.info({ instances }, 'relay instances sharing state')
      await this.#readLoad()
    } catch (err) {
      this.#degrade(err as Error)
    }
  }

  #degrade(err: Error): void {
    if (this.#degraded) return
    this.#degraded = true
    this.#log.warn(
      { err: err.message, instances: this.#instances },
      `shared state (Redis) unavailable: enforcing limits locally, divided by ${this.#instances} relay instance(s), until it is back`,
    )
    this.#hooks.reapply()
  }

  #recover(): void {
    this.#degraded = false
    this.#log.info({ instances: this.#instances }, 'shared state (Redis) back: limits are shared again')
    this.#hooks.reapply()
  }
}
