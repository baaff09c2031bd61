/**
 * One log line per request, written when it ends: who served it, how long it took, what it cost in
 * tokens (read from the stream's usage). No headers, no bodies, no keys. With tracing on, the same
 * timings become the request's spans (src/tracing/recorder.ts), built in `done`.
 */
import type { Telemetry } from '../admin/telemetry.js'
import type { TraceRecorder } from '../tracing/recorder.js'
import type { RelayErrorData } from '../shared/errors.js'
import type { Logger } from '../shared/log.js'
import type { Outcome } from '../shared/protocol.js'

/**
 * The log line of a request the relay answers itself on the spot (`GET /v1/models`, an unknown path's
 * 404, a wrong method's 405): the same `request` line as a relayed request's, with the method and path
 * (never the query), so every answered request is logged once (docs/configuration.md). These are not
 * counted as requests in the books or metrics: those count the relay's work, `/v1/messages` and
 * `count_tokens` (docs/operations.md "What counts").
 */
export function logAnswered(log: Logger, line: { request_id: string; route: string; method: string; path: string; status: number; startedAt: number; client?: string | undefined; refused?: string | undefined; error?: RelayErrorData | undefined }): void {
  const { startedAt, error, client, refused, ...rest } = line
  const out: Record<string, unknown> = { ...rest, method: line.method.toUpperCase(), duration_ms: Math.round(performance.now() - startedAt) }
  if (client) out.client = client
  if (refused) out.refused = refused
  if (error) {
    out.error = error.code
    out.error_message = error.message
  }
  if (line.status >= 500) log.warn(out, 'request')
  else log.info(out, 'request')
}

export class RequestLog {
  readonly #log: Logger
  readonly #telemetry: Telemetry
  readonly #id: string
  readonly #route: string
  readonly #startedAt = performance.now()
  #model = ''
  #client = ''
  #aborted = false
  #done = false
  readonly #onDone: ((outcome: Outcome | undefined) => void)[] = []
  /** This request's trace while tracing is on (CONTRACT §11); undefined costs nothing. */
  trace: TraceRecorder | undefined
  /** Claude Code's `x-claude-code-session-id`, for the status page's sessions and the trace. */
  #session: string | undefined

  constructor(log: Logger, telemetry: Telemetry, id: string, route: string) {
    this.#log = log
    this.#telemetry = telemetry
    this.#id = id
    this.#route = route
  }

  /** The request's headers, read once on arrival: its session, and its caller's trace context when tracing is on. */
  headers(headers: Readonly<Record<string, string | undefined>>): void {
    this.#session = headers['x-claude-code-session-id']
    const tracing = this.#telemetry.tracing
    if (tracing) this.trace = tracing.begin(headers)
  }

  /** The team client's name (`server.auth.clients`): every line and metric is attributed to it. */
  client(name: string): void {
    this.#client = name
    this.#identified = true
  }
  /** Set once the admission's door knew the caller (its key, token, or an open relay's shared caller). */
  #identified = false

  /** Milliseconds since the request arrived. */
  elapsedMs(): number {
    return performance.now() - this.#startedAt
  }

  model(model: string): void {
    this.#model = model
  }

  /** The team group the request is booked to (CONTRACT §10). */
  group(name: string): void {
    this.#group = name
  }
  #group = ''

  /** Why the admission step refused the request (CONTRACT §10): named in the line. */
  refused(reason: string): void {
    this.#refused = reason
  }
  #refused: string | undefined

  /** Where the final attempt's upstream exchange ran (src/ingress/dispatch.ts): logged as `io`. */
  io(where: 'main' | 'worker'): void {
    this.#io = where
  }
  #io: 'main' | 'worker' | undefined

  /** The routing rule the request matched (CONTRACT §8). */
  rule(name: string): void {
    this.#rule = name
  }
  #rule = ''

  /** Called once, when the request ends, with its final attempt's outcome if one reached an upstream. */
  onDone(callback: (outcome: Outcome | undefined) => void): void {
    this.#onDone.push(callback)
  }

  /** The request has ended (its answer is complete, or its client left). */
  get finished(): boolean {
    return this.#done
  }

  /** An attempt given up for another (logged with the request as `failovers`). */
  failover(provider: string, scope: 'key' | 'provider', reason: string): void {
    ;(this.#failovers ??= []).push({ provider, scope, reason })
    this.trace?.failedOver(scope)
  }
  #failovers: { provider: string; scope: string; reason: string }[] | undefined

  clientAborted(): void {
    this.#aborted = true
  }

  done(status: number, error: RelayErrorData | undefined, outcome?: Outcome, attempts?: number): void {
    if (this.#done) return
    this.#done = true
    for (const callback of this.#onDone) callback(outcome)
    const durationMs = performance.now() - this.#startedAt
    const cost = this.#telemetry.finished(
      { route: this.#route, client: this.#client, identified: this.#identified, group: this.#group, rule: this.#rule, status, errorCode: error?.code, provider: outcome?.provider, upstreamModel: outcome?.upstreamModel, usage: outcome?.usage, session: this.#session },
      durationMs,
    )
    this.trace?.end({
      route: this.#route, model: this.#model, client: this.#client, group: this.#group, rule: this.#rule, requestId: this.#id,
      startedAt: this.#startedAt, status, error, outcome, cost, clientAborted: this.#aborted,
    })
    const line: Record<string, unknown> = {
      request_id: this.#id,
      route: this.#route,
      model: this.#model,
      status,
      duration_ms: Math.round(durationMs),
      client_aborted: this.#aborted,
    }
    if (this.#client) line.client = this.#client
    if (this.#group) line.group = this.#group
    if (this.#refused) line.refused = this.#refused
    if (this.#rule) line.rule = this.#rule
    if (outcome) {
      line.provider = outcome.provider
      line.upstream_model = outcome.upstreamModel
      line.ttfb_ms = outcome.ttfbMs < 0 ? null : Math.round(outcome.ttfbMs)
      if (outcome.ttfeMs !== undefined) line.ttfe_ms = outcome.ttfeMs < 0 ? null : Math.round(outcome.ttfeMs)
      line.input_tokens = outcome.usage.input_tokens
      line.output_tokens = outcome.usage.output_tokens
      line.cache_read_input_tokens = outcome.usage.cache_read_input_tokens
      line.cache_creation_input_tokens = outcome.usage.cache_creation_input_tokens
      if (outcome.notes) line.shaped = outcome.notes
    }
    if (this.#io) line.io = this.#io
    if (attempts !== undefined && attempts > 1) line.attempts = attempts
    if (this.#failovers) line.failovers = this.#failovers
    if (error) {
      line.error = error.code
      line.error_message = error.message
    }
    if (status >= 500 || (error && error.code !== 'unauthenticated')) this.#log.warn(line, 'request')
    else this.#log.info(line, 'request')
  }
}
