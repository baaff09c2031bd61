/**
 * The ingress end of one attempt's channel: writes what the exchange sends to the client socket, and
 * sends back credit as the client takes bytes.
 *
 * Backpressure: uWS `write()` returns false when it had to buffer (the client is slow). Bytes written
 * then are acknowledged only from `onWritable`, once uWS has drained, so a slow client stops the credit,
 * the exchange pauses the upstream read, and memory stays bounded by the credit window.
 *
 * Until the first byte goes to the client, the attempt's owner may take a failure back (`retry`) and
 * fail over to another key or provider instead; after it, failures become `event: error`.
 */
import type { HttpResponse } from 'uWebSockets.js'
import { envelopeFor, relayError } from '../shared/errors.js'
import { fault } from '../shared/faults.js'
import type { RelayErrorData } from '../shared/errors.js'
import type { IngressMessage, Outcome, TaskPort, WorkerMessage } from '../shared/protocol.js'
import { sendError, writeHead } from './respond.js'
import type { ResponseState } from './respond.js'

/** What the owner of an attempt (src/ingress/attempts.ts) hears and decides. */
export interface AttemptHooks {
  /**
   * A whole answer (non-streaming, an upstream error, or a stream that failed before its first content
   * block: `outcome.streamError`): true = hold it back and fail over.
   */
  retryAnswer(status: number, headers: readonly string[], body: Uint8Array, outcome: Outcome): boolean
  /** A failure before any byte reached the client: true = hold it back and fail over. */
  retryFailure(error: RelayErrorData): boolean
  /** Every attempt ends here exactly once, with its outcome when the exchange sent one. */
  settled(outcome: Outcome | undefined): void
  /** Start the next attempt (after `settled`, so the books already know why this one failed). */
  retry(): void
  /** The response to the client is complete (not called for an attempt that was taken back). */
  done(status: number, error: RelayErrorData | undefined, outcome: Outcome | undefined): void
  /**
   * Headers added to the response head (`routing.debug`, the relay's overhead, usage-limit headers)
   * given the upstream's time to its head and the answer's status.
   */
  headHeaders(ttfbMs: number, status: number): readonly string[]
  /** Upstream response headers to leave out of the head (undefined: none). */
  readonly dropHeader?: ((name: string) => boolean) | undefined
}

const RESOLVED = Promise.resolve()

export class StreamBridge {
  readonly #res: HttpResponse
  readonly #state: ResponseState
  readonly #port: TaskPort
  readonly #requestId: string
  readonly #hooks: AttemptHooks
  #headSent = false
  #status = 0
  #owed = 0
  #ended = false
  /** The head not written yet: it leaves with this turn's first bytes (`#flush`). */
  #head: { status: number; headers: readonly string[]; ttfbMs: number } | undefined
  /** Chunks not written yet: every chunk of one upstream read leaves in one cork, one `send`. */
  readonly #queue: Uint8Array[] = []
  #flushScheduled = false
  /** What `#corked` writes: set by `#flush` just before it corks (no closure per flush). */
  #outHead: { status: number; headers: readonly string[]; ttfbMs: number } | undefined
  #outBytes: Uint8Array | undefined
  #outLast: (() => void) | undefined
  #outWritten = 0
  readonly #corked = (): void => this.#writeCorked()
  /** The one `ack` message, refilled each time: a port reads (or clones) it before `postMessage` returns. */
  readonly #ackMessage = { t: 'ack' as const, bytes: 0 }
  readonly #flushQueued = (): void => {
    this.#flushScheduled = false
    try {
      if (!this.#ended) this.#flush()
    } catch (err) {
      this.#fault(err)
    }
  }

  constructor(res: HttpResponse, state: ResponseState, port: TaskPort, requestId: string, hooks: AttemptHooks) {
    this.#res = res
    this.#state = state
    this.#port = port
    this.#requestId = requestId
    this.#hooks = hooks
    port.on('message', (m: WorkerMessage) => {
      try {
        this.#onMessage(m)
      } catch (err) {
        this.#fault(err)
      }
    })
    res.onWritable(() => {
      try {
        if (this.#owed > 0) this.#ack(this.#owed)
        this.#owed = 0
      } catch (err) {
        this.#fault(err)
      }
      return true
    })
  }

  /**
   * This attempt's boundary: a fault while relaying ends this request alone — an error answer, or
   * `event: error` once bytes have gone out — and stops its upstream; the process and every other
   * stream go on.
   */
  #fault(err: unknown): void {
    fault('ingress.bridge', err, this.#requestId)
    if (this.#ended) return
    try {
      this.#send({ t: 'cancel' })
    } catch {
      // The channel is gone: the exchange has ended already.
    }
    try {
      this.#fail(relayError('internal', 'the relay failed while relaying this answer'), undefined)
    } catch (again) {
      // Writing the error failed too (the socket is gone): the request still ends, and is counted.
      fault('ingress.bridge', again, this.#requestId)
      if (!this.#ended) this.#finish(500, relayError('internal', 'the relay failed while relaying this answer'), undefined)
    }
  }

  get ended(): boolean {
    return this.#ended
  }

  /** The client disconnected (uWS onAborted): stop the upstream. */
  clientAborted(): void {
    if (!this.#ended) this.#send({ t: 'cancel' })
  }

  /** The exchange let go without a final message (its worker thread died after a cancel). */
  abandon(): void {
    if (!this.#ended) this.#finish(this.#status, undefined, undefined)
  }

  /** The exchange failed outside the protocol (thread crash, queue full, shutdown): answer with `error`. */
  fail(error: RelayErrorData): void {
    if (!this.#ended) this.#fail(error, undefined)
  }

  #onMessage(m: WorkerMessage): void {
    if (this.#ended) return
    switch (m.t) {
      case 'head':
        this.#status = m.status
        this.#headSent = true
        this.#head = m
        return this.#schedule()
      case 'data':
        this.#queue.push(m.chunk)
        return this.#schedule()
      case 'whole':
        return this.#whole(m.status, m.headers, m.body, m.outcome)
      case 'end':
        this.#flush(() => this.#res.end())
        return this.#finish(this.#status, undefined, m.outcome)
      case 'fail':
        return this.#fail(m.error, m.outcome)
    }
  }

  #whole(status: number, headers: readonly string[], body: Uint8Array, outcome: Outcome): void {
    if (!this.#state.aborted && this.#hooks.retryAnswer(status, headers, body, outcome)) return this.#takenBack(outcome)
    this.#status = status
    if (!this.#state.aborted) {
      this.#res.cork(() => {
        writeHead(this.#res, status, headers, this.#requestId, this.#hooks.headHeaders(outcome.ttfbMs, status), this.#hooks.dropHeader)
        this.#res.end(body)
      })
    }
    this.#finish(status, undefined, outcome)
  }

  /**
   * Writes are gathered until the current turn's microtasks run: the chunks undici hands over from one
   * socket read (a burst of events) leave as one cork, one `send`, and no chunk waits for a later read.
   */
  #schedule(): void {
    if (this.#flushScheduled) return
    this.#flushScheduled = true
    // A resolved promise, not queueMicrotask: Node wraps every queueMicrotask callback in an
    // AsyncResource, which cost more than the write it schedules (one per event on a paced stream).
    void RESOLVED.then(this.#flushQueued)
  }

  /** Writes the pending head and chunks in one cork, then `last` (the end of the response) if given. */
  #flush(last?: () => void): void {
    const head = this.#head
    const queue = this.#queue
    this.#head = undefined
    let bytes: Uint8Array | undefined
    if (queue.length > 0) {
      // One native write of the joined bytes costs less than one per chunk (a burst is ~100 events).
      bytes = queue.length === 1 ? queue[0]! : Buffer.concat(queue)
      queue.length = 0
    }
    if (this.#state.aborted || (head === undefined && bytes === undefined && last === undefined)) return
    this.#outHead = head
    this.#outBytes = bytes
    this.#outLast = last
    this.#outWritten = 0
    this.#res.cork(this.#corked)
    const written = this.#outWritten
    this.#outWritten = 0
    if (written > 0) this.#ack(written)
  }

  /**
   * Reads and clears what `#flush` set before it writes, and reports what went out only at its end: a
   * nested `#flush` (a failure heard while writing) works on its own values, as separate closures did.
   */
  #writeCorked(): void {
    const head = this.#outHead
    const bytes = this.#outBytes
    const last = this.#outLast
    this.#outHead = undefined
    this.#outBytes = undefined
    this.#outLast = undefined
    let written = 0
    if (head) writeHead(this.#res, head.status, head.headers, this.#requestId, this.#hooks.headHeaders(head.ttfbMs, head.status), this.#hooks.dropHeader)
    if (bytes !== undefined) {
      // Bytes uWS had to buffer (a slow client) are acknowledged from onWritable, once they are out.
      if (this.#res.write(bytes)) written = bytes.byteLength
      else this.#owed += bytes.byteLength
    }
    last?.()
    this.#outWritten = written
  }

  #fail(error: RelayErrorData, outcome: Outcome | undefined): void {
    if (!this.#headSent) {
      if (!this.#state.aborted && this.#hooks.retryFailure(error)) return this.#takenBack(outcome)
      const status = sendError(this.#res, this.#state, error, this.#requestId, false, this.#hooks.headHeaders(0, 500))
      return this.#finish(status, error, outcome)
    }
    // After the first byte the status is spent: the failure becomes an SSE error event, then the end
    // (CONTRACT §6). The exchange only ever sends whole events, so this one starts on a clean line.
    const { body } = envelopeFor(error, this.#requestId)
    this.#flush(() => this.#res.end(`event: error\ndata: ${body}\n\n`))
    this.#finish(this.#status, error, outcome)
  }

  #ack(bytes: number): void {
    const message = this.#ackMessage
    message.bytes = bytes
    this.#send(message)
  }

  #send(m: IngressMessage): void {
    this.#port.postMessage(m)
  }

  /** This attempt ends without touching the response, and the next one starts. */
  #takenBack(outcome: Outcome | undefined): void {
    this.#ended = true
    this.#hooks.settled(outcome)
    this.#hooks.retry()
  }

  #finish(status: number, error: RelayErrorData | undefined, outcome: Outcome | undefined): void {
    this.#ended = true
    this.#hooks.settled(outcome)
    this.#hooks.done(status, error, outcome)
  }
}
