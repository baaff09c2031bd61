/**
 * One upstream exchange inside a worker: send the prepared request with undici, then stream the answer
 * back over the task's port. It is the undici dispatch handler itself (no Readable in between), so
 * pausing the upstream read is one `controller.pause()`.
 *
 * Successful SSE streams go out as they arrive (byte for byte, or through the plugin's translator).
 * Everything else — non-streaming answers and upstream errors — is read whole first: it is small, it
 * lets a reset mid-body become a clean error instead of half a JSON document, and it lets `mapError`
 * see the body.
 */
import type { Dispatcher } from 'undici'
import type { MappedError, ProviderPlugin, ResponseTranslator, SseEvent } from '../../plugins/sdk.js'
import { errorBody, relayError } from '../shared/errors.js'
import { fault } from '../shared/faults.js'
import type { RelayErrorData } from '../shared/errors.js'
import { isPerHopResponseHeader, isRateHeader } from '../shared/headers.js'
import type { IngressMessage, Outcome, RelayTask, TaskPort, Usage } from '../shared/protocol.js'
import { EventBoundary } from './framing/event-boundary.js'
import { EventStreamDecoder } from './framing/aws-eventstream.js'
import { SseDecoder } from './framing/sse.js'
import { endingError, errorTypeOf, Opening } from './opening.js'
import type { OpeningVerdict } from './opening.js'
import { PortWriter } from './port-writer.js'
import { classifyFailure, ExchangeFault, ProtocolError, TimeoutAbort } from './failures.js'
import type { PreparedRequest } from './prepare.js'
import { absorbEvent, absorbMessage, absorbWholeEvents, emptyReply, emptyUsage } from './usage.js'

const PING = 'event: ping\ndata: {"type": "ping"}\n\n'
const PING_BYTES = Buffer.from(PING)

/** A non-streaming answer larger than this is not a Messages API answer. */
const MAX_BUFFERED_BYTES = 64 << 20

export interface ExchangeEnv {
  readonly dispatcher: Dispatcher
  readonly plugin: ProviderPlugin
  readonly providerName: string
  /** `server.timeouts.first_byte_ms`: from sending the request to the upstream's response head (0 = none). */
  readonly firstByteMs: number
  readonly idleMs: number
  readonly totalMs: number
  /** `server.keepalive_ms`: a `ping` event to the client after this much upstream silence (0 = off). */
  readonly keepaliveMs: number
}

export class Exchange implements Dispatcher.DispatchHandler {
  readonly #env: ExchangeEnv
  readonly #task: RelayTask
  #prepared!: PreparedRequest
  readonly #writer: PortWriter
  readonly #port: TaskPort
  readonly #done: () => void
  readonly #usage: Usage = emptyUsage()
  /** The answer's id, model and stop reason, read with its usage. */
  readonly #reply = emptyReply()
  /** When the answer's first byte left for the client (ms from the start); -1 until then. */
  #ttfeMs = -1
  /** The last whole events passed through, to see whether the stream ends in `event: error`. */
  #lastWhole: Buffer | undefined
  #endedInError: string | undefined
  readonly #startedAt = performance.now()
  /** When the request went to the dispatcher (after preparation: signing, token refresh). */
  #sentAt = -1
  #controller: Dispatcher.DispatchController | undefined
  #status = 0
  readonly #rateHeaders: Record<string, string> = {}
  #ttfbMs = -1
  #streaming = false
  #buffered: Buffer[] = []
  #bufferedBytes = 0
  #headers: string[] = []
  #decoder: SseDecoder | EventStreamDecoder | undefined
  readonly #boundary = new EventBoundary()
  #translator: ResponseTranslator | undefined
  #emit: ((event: string, data: string) => void) | undefined
  /** A stream's head and opening events, held until content starts (undefined once released). */
  #opening: Opening | undefined
  #clientGone = false
  #finished = false
  /**
   * For the worker's timeout sweep: when the upstream was last heard from. Body reads only raise
   * `#heard` and the sweep stamps it (a clock read here costs ~0.2 µs, once per paced event, while the
   * timeouts it serves are checked every 250 ms and default to seconds).
   */
  lastActivity = this.#startedAt
  #heard = false
  #lastPing = 0

  constructor(env: ExchangeEnv, task: RelayTask, done: () => void) {
    this.#env = env
    this.#task = task
    this.#port = task.port
    this.#writer = new PortWriter(this.#port)
    this.#done = done
    this.#port.on('message', (m: IngressMessage) => {
      try {
        if (m.t === 'ack') this.#writer.ack(m.bytes)
        else this.#cancel()
      } catch (err) {
        this.fault(err)
      }
    })
  }

  /**
   * The exchange's boundary: what the relay's or a plugin's code throws while serving this request
   * fails this request alone (the upstream is aborted, the client gets an error), never the thread.
   */
  fault(err: unknown): void {
    fault('exchange', err, this.#task.requestId)
    if (this.#finished) return
    if (this.#controller && !this.#controller.aborted) return this.#controller.abort(new ExchangeFault(String(err)))
    this.onResponseError(undefined, new ExchangeFault(String(err)))
  }

  start(prepared: PreparedRequest): void {
    this.#prepared = prepared
    if (this.#clientGone) return this.failBeforeStart(relayError('internal', 'the client disconnected'))
    const { url, headers, body } = this.#prepared
    this.#sentAt = performance.now()
    this.#env.dispatcher.dispatch(
      { origin: url.origin, path: url.pathname + url.search, method: 'POST', headers, body, idempotent: false },
      this,
    )
  }

  /** Called by the sweep; aborts the upstream when a configured timeout has passed. */
  checkTimeouts(now: number): void {
    if (this.#heard) {
      this.#heard = false
      this.lastActivity = now
    }
    const { firstByteMs, idleMs, totalMs, keepaliveMs } = this.#env
    if (totalMs > 0 && now - this.#startedAt > totalMs) this.#abort(new TimeoutAbort(`total time of ${totalMs} ms`))
    else if (firstByteMs > 0 && this.#ttfbMs < 0 && this.#sentAt >= 0 && now - this.#sentAt > firstByteMs) {
      this.#abort(new TimeoutAbort(`no response head within ${firstByteMs} ms`))
    }
    else if (idleMs > 0 && this.#ttfbMs >= 0 && now - this.lastActivity > idleMs) this.#abort(new TimeoutAbort(`no data for ${idleMs} ms`))
    else if (keepaliveMs > 0 && this.#streaming && !this.#finished) {
      // CONTRACT §6: keepalive_ms after the head commits it (a long prefill), then pings fill the silence.
      if (this.#opening && now - this.#opening.since >= keepaliveMs) this.#release()
      if (!this.#opening && now - Math.max(this.lastActivity, this.#lastPing) > keepaliveMs) this.#ping(now)
    }
  }

  /**
   * Claude Code aborts a stream after 300 s without a parsed event, and Bedrock sends no pings during long
   * thinking (wire-protocols §1.5): the relay sends Anthropic's own `ping` event, only between whole events.
   * Upstream silence still counts toward `idle_ms`; a ping does not reset it.
   */
  #ping(now: number): void {
    if (!this.#translator && !this.#boundary.atBoundary) return
    this.#lastPing = now
    // Same channel as the stream's own bytes, so the ping never overtakes them.
    if (this.#translator) this.#writer.writeText(PING)
    else this.#writer.write(PING_BYTES)
  }

  get finished(): boolean {
    return this.#finished
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller
    this.#writer.attach(controller)
    if (this.#clientGone) controller.abort(new Error('client disconnected'))
  }

  onResponseStart(_c: Dispatcher.DispatchController, status: number, headers: Record<string, string | string[] | undefined>): void {
    try {
      this.#responseStart(status, headers)
    } catch (err) {
      this.fault(err)
    }
  }

  #responseStart(status: number, headers: Record<string, string | string[] | undefined>): void {
    this.lastActivity = performance.now()
    this.#ttfbMs = this.lastActivity - this.#startedAt
    this.#status = status
    for (const [name, value] of Object.entries(headers)) {
      if (value === undefined || isPerHopResponseHeader(name)) continue
      if (typeof value === 'string' && isRateHeader(name)) this.#rateHeaders[name] = value
      if (Array.isArray(value)) for (const v of value) this.#headers.push(name, v)
      else this.#headers.push(name, value)
    }
    const type = headers['content-type']
    const framing = this.#env.plugin.framing
    const streamType = framing === 'aws-eventstream' ? 'application/vnd.amazon.eventstream' : 'text/event-stream'
    this.#streaming = status >= 200 && status < 300 && typeof type === 'string' && type.startsWith(streamType)
    if (!this.#streaming) return
    this.#translator = this.#env.plugin.translator?.(this.#prepared.input)
    const translator = this.#translator
    if (translator) {
      // What the client receives is Anthropic SSE whatever the upstream framed.
      this.#headers = this.#headers.filter((_, i, all) => all[i - (i % 2)] !== 'content-type')
      this.#headers.push('content-type', 'text/event-stream; charset=utf-8')
      const emit = (event: string, data: string): void => {
        if (this.#finished) return // the opening failed; what the translator still emits goes nowhere
        const frame = { event, data }
        absorbEvent(this.#usage, frame, this.#reply)
        // An error once content has started ends the stream (an error before it fails the opening).
        if (event === 'error' && !this.#opening) this.#endedInError = errorTypeOf(data)
        const text = `event: ${event}\ndata: ${data}\n\n`
        if (this.#opening) this.#judgeOpening(this.#opening.holdEvent(frame, text))
        else this.#writer.writeText(text)
      }
      const onEvent = (e: SseEvent): void => translator.onEvent(e, emit)
      this.#decoder = framing === 'aws-eventstream' ? new EventStreamDecoder(onEvent) : new SseDecoder(onEvent)
      this.#emit = emit
    }
    // Held, with the opening events, until content starts (opening.ts): an error before it can fail over.
    this.#opening = new Opening({ t: 'head', status, headers: this.#headers, ttfbMs: this.#ttfbMs }, this.lastActivity)
  }

  #judgeOpening(verdict: OpeningVerdict): void {
    if (verdict.kind === 'release') this.#release()
    else if (verdict.kind === 'failed') this.#failOpening(verdict.errorType)
  }

  /** Content has started (or the keepalive rule, or the end, says so): the head and what was held go out. */
  #release(): void {
    const opening = this.#opening
    if (!opening) return
    this.#opening = undefined
    this.#ttfeMs = performance.now() - this.#startedAt
    this.#writer.send(opening.head)
    if (opening.text) this.#writer.writeText(opening.text)
    else for (const chunk of opening.chunks) this.#writer.write(chunk)
  }

  /**
   * `event: error` before any content: the attempt failed before the first byte. The held bytes go to
   * the ingress as one whole answer marked with the error's type; it fails over, or, when it cannot,
   * sends them to the client exactly as the upstream did. The upstream is let go.
   */
  #failOpening(errorType: string): void {
    const opening = this.#opening!
    this.#opening = undefined
    this.#sendWhole(opening.head.status, opening.head.headers, opening.body(), { ...this.#outcome(), streamError: errorType })
    this.#abort(new Error(`the upstream failed before any content: ${errorType}`))
  }

  onResponseData(_c: Dispatcher.DispatchController, chunk: Buffer): void {
    try {
      this.#responseData(chunk)
    } catch (err) {
      this.fault(err)
    }
  }

  #responseData(chunk: Buffer): void {
    this.#heard = true
    if (!this.#streaming) {
      this.#bufferedBytes += chunk.byteLength
      if (this.#bufferedBytes > MAX_BUFFERED_BYTES) return this.#abort(new Error('upstream answer exceeds 64 MiB'))
      this.#buffered.push(chunk)
      return
    }
    if (!this.#translator) {
      const whole = this.#boundary.push(chunk)
      absorbWholeEvents(this.#usage, whole, this.#reply)
      if (whole.byteLength > 0) this.#lastWhole = whole
      if (this.#opening) return this.#judgeOpening(this.#opening.holdBytes(whole))
      return this.#writer.write(whole)
    }
    try {
      this.#decoder!.push(chunk)
    } catch (err) {
      this.#abort(new ProtocolError((err as Error).message))
    }
  }

  onResponseEnd(): void {
    try {
      this.#responseEnd()
    } catch (err) {
      // The upstream has finished; only the final message is left to send.
      fault('exchange', err, this.#task.requestId)
      this.onResponseError(undefined, new ExchangeFault(String(err)))
    }
  }

  #responseEnd(): void {
    if (this.#streaming) {
      try {
        this.#decoder?.end()
      } catch (err) {
        return this.onResponseError(undefined, new ProtocolError((err as Error).message))
      }
      const rest = this.#boundary.rest()
      if (rest) {
        absorbWholeEvents(this.#usage, rest, this.#reply)
        if (this.#opening) this.#judgeOpening(this.#opening.holdBytes(rest))
        else this.#writer.write(rest)
      }
      if (!this.#finished && this.#translator && this.#emit) this.#translator.onEnd?.(this.#emit)
      // The opening failed at the very end: its answer has gone whole.
      if (this.#finished) return
      // A stream that ended without content goes out as it came.
      this.#release()
      if (!this.#translator) this.#endedInError = endingError(rest && rest.byteLength > 0 ? rest : this.#lastWhole)
      this.#writer.flush()
      this.#writer.send({ t: 'end', outcome: this.#outcome() })
      return this.#finish()
    }
    let body: Uint8Array = Buffer.concat(this.#buffered, this.#bufferedBytes)
    this.#buffered = []
    const ok = this.#status >= 200 && this.#status < 300
    let mapped: MappedError | undefined
    if (ok) {
      const whole = this.#wholeAnswer(body)
      if (typeof whole === 'string') body = this.#jsonBody(whole)
      else mapped = whole
      if (!mapped) absorbMessage(this.#usage, body.toString(), this.#reply)
    } else {
      mapped = this.#env.plugin.mapError?.(this.#status, headerRecord(this.#headers), body.toString())
    }
    this.#ttfeMs = performance.now() - this.#startedAt
    // A mapped error is what the relay treats the answer as, for failover and the key's books.
    const outcome = mapped ? { ...this.#outcome(mapped.status), ...(mapped.scope ? { scope: mapped.scope } : {}) } : this.#outcome()
    if (mapped) {
      // The plugin's translation of a foreign error, in the envelope Claude Code understands; upstream
      // headers such as retry-after still go along.
      this.#headers = this.#headers.filter((_, i, all) => all[i - (i % 2)] !== 'content-type')
      this.#headers.push('content-type', 'application/json')
      body = Buffer.from(errorBody(mapped.type, mapped.message, this.#task.requestId))
    }
    this.#sendWhole(mapped?.status ?? this.#status, this.#headers, body, outcome)
  }

  /**
   * An answer sent whole: the ingress may still fail over on it (429, 5xx, an error before content)
   * rather than pass it on. A buffer of our own, so it can be transferred across threads.
   */
  #sendWhole(status: number, headers: readonly string[], body: Uint8Array, outcome: Outcome): void {
    const own = this.#port.crossThread === false ? body : Buffer.from(body)
    const transfer = own === body ? undefined : [own.buffer as ArrayBuffer]
    this.#port.postMessage({ t: 'whole', status, headers, body: own, outcome }, transfer)
    this.#finish()
  }

  /**
   * A 2xx answer read whole, through the translator's `onWhole` when it has one: the JSON to send
   * instead, an error, or undefined to pass the answer through byte for byte (the usual case).
   */
  #wholeAnswer(body: Uint8Array): string | MappedError | undefined {
    const translator = this.#env.plugin.translator?.(this.#prepared.input)
    return translator?.onWhole?.(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString())
  }

  /** Rewritten JSON replaces the upstream's body and content type. */
  #jsonBody(json: string): Uint8Array {
    this.#headers = this.#headers.filter((_, i, all) => all[i - (i % 2)] !== 'content-type')
    this.#headers.push('content-type', 'application/json')
    return Buffer.from(json)
  }

  onResponseError(_c: Dispatcher.DispatchController | undefined, err: Error): void {
    if (this.#finished) return
    // A client that left still gets a final message, so the attempt's outcome reaches the books.
    const error: RelayErrorData = this.#clientGone
      ? relayError('internal', 'the client disconnected')
      : classifyFailure(err, this.#env.providerName)
    try {
      this.#writer.flush()
      this.#writer.send({ t: 'fail', error, outcome: this.#outcome(undefined, error.code) })
    } catch (sendErr) {
      // The channel is closed (the ingress let go first): the task still ends.
      fault('exchange', sendErr, this.#task.requestId)
    }
    this.#finish()
  }

  /** The request could not be built (or the client left first): one final message, and done. */
  failBeforeStart(error: RelayErrorData): void {
    if (this.#finished) return
    this.#writer.send({ t: 'fail', error, outcome: this.#outcome(0, error.code) })
    this.#finish()
  }

  #cancel(): void {
    this.#clientGone = true
    this.#abort(new Error('client disconnected'))
  }

  #abort(reason: Error): void {
    if (this.#controller && !this.#controller.aborted) this.#controller.abort(reason)
  }

  #outcome(status = this.#status, errorCode?: string): Outcome {
    return {
      status,
      provider: this.#env.providerName,
      upstreamModel: this.#task.lease.upstreamModel,
      ttfbMs: this.#ttfbMs,
      usage: this.#usage,
      clientAborted: this.#clientGone,
      rateHeaders: this.#rateHeaders,
      ttfeMs: this.#ttfeMs,
      ...(this.#reply.id || this.#reply.model ? { reply: this.#reply } : {}),
      ...(this.#endedInError ? { endedInError: this.#endedInError } : {}),
      ...(this.#prepared?.notes?.length ? { notes: this.#prepared.notes } : {}),
      ...(errorCode ? { errorCode } : {}),
    }
  }

  #finish(): void {
    if (this.#finished) return
    this.#finished = true
    this.#done()
  }
}

function headerRecord(flat: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (let i = 0; i < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!
  return out
}

