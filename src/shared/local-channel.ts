/**
 * A same-thread stand-in for MessageChannel, for requests whose upstream I/O runs on the main thread
 * (passthrough providers: no translation, so no reason to pay for a thread hop). Delivery is
 * synchronous: no queue, no structured clone, no transfer; the bytes are handed over as they are.
 */
import type { TaskPort } from './protocol.js'

class LocalPort implements TaskPort {
  readonly crossThread = false
  peer: LocalPort | undefined
  listener: ((message: never) => void) | undefined
  closed = false

  postMessage(message: unknown): void {
    if (!this.closed) this.peer?.listener?.(message as never)
  }

  on(_event: string, listener: (message: never) => void): this {
    this.listener = listener
    return this
  }

  close(): void {
    this.closed = true
    if (this.peer) this.peer.closed = true
  }
}

export function localChannel(): { port1: TaskPort; port2: TaskPort } {
  const port1 = new LocalPort()
  const port2 = new LocalPort()
  port1.peer = port2
  port2.peer = port1
  return { port1, port2 }
}
