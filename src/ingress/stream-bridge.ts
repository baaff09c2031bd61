/**
 * The ingress end of one request's port: writes what the worker sends to the client socket, and sends
 * back credit as the client takes bytes.
 *
 * Backpressure: uWS `write()` returns false when it had to buffer (the client is slow). Bytes written
 * then are acknowledged only from `onWritable`, once uWS has drained, so a slow client stops the credit,
 * the worker pauses the upstream read, and memory stays bounded by the credit window.
 */
import type { HttpResponse } from 'uWebSockets.js'
import { envelopeFor } from '../shared/errors.js'
import type { RelayErrorData } from '../shared/errors.js'
import type { IngressMessage, Outcome, TaskPort, WorkerMessage } from '../shared/protocol.js'
import { sendError, statusLine } from './respond.js'
import type { ResponseState } from './respond.js'

export interface BridgeEnd {
  readonly status: number
  readonly outcome: Outcome | undefined
  readonly error: RelayErrorData | undefined
}

export class StreamBridge {
  readonly #res: HttpResponse
  readonly #state: ResponseState
  readonly #port: TaskPort
  readonly #requestId: string
  readonly #onEnd: (end: BridgeEnd) => void
  #headSent = false
  #status = 0
  #owed = 0
  #ended = false

  constructor(res: HttpResponse, state: ResponseState, port: TaskPort, requestId: string, onEnd: (end: BridgeEnd) => void) {
    this.#res = res
    this.#state = state
    this.#port = port
    this.#requestId = requestId
    this.#onEnd = onEnd
    port.on('message', (m: WorkerMessage) => this.#onMessage(m))
    res.onWritable(() => {
      if (this.#owed > 0) this.#ack(this.#owed)
      this.#owed = 0
      return true
    })
  }

  get ended(): boolean {
    return this.#ended
  }

  /** The client disconnected (uWS onAborted): stop the upstream. */
  clientAborted(): void {
    if (!this.#ended) this.#send({ t: 'cancel' })
  }

  /** The worker let go without a final message (it does so only after a cancel). */
  abandon(): void {
    if (!this.#ended) this.#finish({ status: this.#status, outcome: undefined, error: undefined })
  }

  /** The worker failed outside the protocol (thread crash, queue full): answer the client with `error`. */
  fail(error: RelayErrorData): void {
    if (!this.#ended) this.#fail(error, undefined)
  }

  #onMessage(m: WorkerMessage): void {
    if (this.#ended) return
    switch (m.t) {
      case 'head':
        return this.#head(m.status, m.headers)
      case 'data':
        return this.#data(m.chunk)
      case 'end':
        if (!this.#state.aborted) this.#res.cork(() => this.#res.end())
        return this.#finish({ status: this.#status, outcome: m.outcome, error: undefined })
      case 'fail':
        return this.#fail(m.error, m.outcome)
    }
  }

  #head(status: number, headers: readonly string[]): void {
    this.#status = status
    this.#headSent = true
    if (this.#state.aborted) return
    const res = this.#res
    res.cork(() => {
      res.writeStatus(statusLine(status))
      let hasRequestId = false
      for (let i = 0; i < headers.length; i += 2) {
        const name = headers[i]!
        if (name === 'request-id') hasRequestId = true
        res.writeHeader(name, headers[i + 1]!)
      }
      // CONTRACT §4: `request-id` is the upstream's when it sent one; ours is always in x-cc-relay-request-id.
      if (!hasRequestId) res.writeHeader('request-id', this.#requestId)
      res.writeHeader('x-cc-relay-request-id', this.#requestId)
    })
  }

  #data(chunk: Uint8Array): void {
    if (this.#state.aborted) return
    let written = false
    this.#res.cork(() => {
      written = this.#res.write(chunk)
    })
    if (written) this.#ack(chunk.byteLength)
    else this.#owed += chunk.byteLength
  }

  #fail(error: RelayErrorData, outcome: Outcome | undefined): void {
    const { status, body } = envelopeFor(error, this.#requestId)
    if (!this.#headSent) {
      sendError(this.#res, this.#state, error, this.#requestId)
      return this.#finish({ status, outcome, error })
    }
    // After the first byte the status is spent: the failure becomes an SSE error event, then the end
    // (CONTRACT §6). The worker only ever sends whole events, so this one starts on a clean line.
    if (!this.#state.aborted) this.#res.cork(() => this.#res.end(`event: error\ndata: ${body}\n\n`))
    this.#finish({ status: this.#status, outcome, error })
  }

  #ack(bytes: number): void {
    this.#send({ t: 'ack', bytes })
  }

  #send(m: IngressMessage): void {
    this.#port.postMessage(m)
  }

  #finish(end: BridgeEnd): void {
    this.#ended = true
    this.#onEnd(end)
  }
}
