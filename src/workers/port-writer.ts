/**
 * The worker's side of one request's port: batches body bytes and applies the client's credit.
 *
 * Chunks that arrive within one event-loop turn leave as one message (a thread hop costs far more than
 * a memcpy: STACK.md measured 64 B messages at under 1 M/s, batches at 5–7 M chunks/s), copied into an
 * ArrayBuffer of our own so it can be transferred rather than cloned (an upstream Buffer may be a view
 * into a shared pool). A MessagePort has no backpressure, so bytes the client has not taken yet are
 * counted: past CREDIT_WINDOW_BYTES the upstream read is paused until the ingress acks.
 */
import { CREDIT_WINDOW_BYTES } from '../shared/protocol.js'
import type { TaskPort, WorkerMessage } from '../shared/protocol.js'

/**
 * `CC_RELAY_COALESCE=0` posts every upstream chunk as its own message: the alternative the bench
 * compares coalescing against (bench/README.md). Not a setting to run with.
 */
const COALESCE = process.env.CC_RELAY_COALESCE !== '0'

const EMPTY = new Uint8Array(0)

export interface FlowControl {
  pause(): void
  resume(): void
}

export class PortWriter {
  readonly #port: TaskPort
  /** Same-thread ports need neither batching nor copies: a write is a function call. */
  readonly #direct: boolean
  #pending: Uint8Array[] = []
  #pendingBytes = 0
  /** Translated events, gathered as text (string concatenation is cheap) and encoded once per flush. */
  #pendingText = ''
  #scheduled = false
  #unacked = 0
  #paused = false
  #flow: FlowControl | undefined
  readonly #flush = (): void => this.flush()
  /**
   * The one `data` message of a same-thread port, refilled per chunk: its listener reads it before
   * `postMessage` returns and keeps only the chunk (no object per paced event).
   */
  readonly #local: { t: 'data'; chunk: Uint8Array } = { t: 'data', chunk: EMPTY }

  constructor(port: TaskPort) {
    this.#port = port
    this.#direct = port.crossThread === false
  }

  /** What to pause when the client falls behind (the upstream read). */
  attach(flow: FlowControl): void {
    this.#flow = flow
  }

  send(message: WorkerMessage): void {
    this.#port.postMessage(message)
  }

  write(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return
    if (this.#direct) return this.#post(chunk, false)
    this.#pending.push(chunk)
    this.#pendingBytes += chunk.byteLength
    if (!COALESCE) return this.flush()
    if (!this.#scheduled) {
      this.#scheduled = true
      setImmediate(this.#flush)
    }
  }

  /** Text for the client (a translator's SSE events). A stream uses either this or `write`, never both. */
  writeText(text: string): void {
    this.#pendingText += text
    if (this.#direct) return this.flush()
    if (!this.#scheduled) {
      this.#scheduled = true
      setImmediate(this.#flush)
    }
  }

  /** Sends what is pending now (also called before the final message, so nothing overtakes it). */
  flush(): void {
    this.#scheduled = false
    if (this.#pendingText) {
      const text = this.#pendingText
      this.#pendingText = ''
      // allocUnsafeSlow: a buffer of our own, transferable without detaching a shared pool.
      const out = Buffer.allocUnsafeSlow(Buffer.byteLength(text))
      out.write(text)
      return this.#post(out, !this.#direct)
    }
    const total = this.#pendingBytes
    if (total === 0) return
    const out = Buffer.allocUnsafeSlow(total)
    let offset = 0
    for (const c of this.#pending) {
      out.set(c, offset)
      offset += c.byteLength
    }
    this.#pending = []
    this.#pendingBytes = 0
    this.#post(out, true)
  }

  #post(chunk: Uint8Array, transfer: boolean): void {
    // Counted before posting: a same-thread port may ack inside postMessage.
    this.#unacked += chunk.byteLength
    if (this.#direct) {
      const message = this.#local
      message.chunk = chunk
      this.#port.postMessage(message)
      message.chunk = EMPTY
    } else this.#port.postMessage({ t: 'data', chunk } satisfies WorkerMessage, transfer ? [chunk.buffer as ArrayBuffer] : undefined)
    if (!this.#paused && this.#unacked > CREDIT_WINDOW_BYTES && this.#flow) {
      this.#paused = true
      this.#flow.pause()
    }
  }

  /** The client took `bytes` more. */
  ack(bytes: number): void {
    this.#unacked -= bytes
    if (this.#paused && this.#unacked <= CREDIT_WINDOW_BYTES / 2) {
      this.#paused = false
      this.#flow?.resume()
    }
  }
}
