/**
 * A programmable upstream on loopback (plain node:http, as a real server would be) that records every
 * request the relay sends: method, path, headers and body bytes. Each test sets `handler` to answer.
 */
import { createServer } from 'node:http'
import { createServer as createTlsServer } from 'node:https'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

export interface Recorded {
  readonly method: string
  readonly url: string
  readonly headers: IncomingMessage['headers']
  readonly body: Buffer
  /** The connection this request came on (a keep-alive connection carries several requests). */
  readonly socket: Socket
  /** Resolves when that connection closes, whoever closed it. */
  readonly socketClosed: Promise<void>
}

export type Handler = (req: IncomingMessage, res: ServerResponse, recorded: Recorded) => void

export class MockUpstream {
  readonly requests: Recorded[] = []
  handler: Handler = (_req, res) => res.writeHead(500).end('no handler')
  /** Sockets closed by the peer (the relay), counted for disconnect tests. */
  closedSockets = 0
  readonly #server: Server
  readonly #sockets = new Set<Socket>()
  readonly #socketClosed = new WeakMap<Socket, Promise<void>>()
  #closeWaiters: (() => void)[] = []
  #requestWaiters: ((r: Recorded) => void)[] = []
  url = ''

  readonly #scheme: string

  /** With `tls`, an HTTPS upstream (a self-signed certificate the relay is told to trust). */
  constructor(tls?: { key: string; cert: string }) {
    this.#scheme = tls ? 'https' : 'http'
    const listener = (req: IncomingMessage, res: ServerResponse): void => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const socket = req.socket
        const recorded = { method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks), socket, socketClosed: this.#closedOf(socket) }
        this.requests.push(recorded)
        for (const w of this.#requestWaiters.splice(0)) w(recorded)
        this.handler(req, res, recorded)
      })
    }
    this.#server = tls ? createTlsServer(tls, listener) : createServer(listener)
    this.#server.on(tls ? 'secureConnection' : 'connection', (s: Socket) => {
      this.#sockets.add(s)
      this.#socketClosed.set(s, new Promise<void>((r) => s.once('close', () => r())))
      s.on('close', () => {
        this.#sockets.delete(s)
        this.closedSockets++
        for (const w of this.#closeWaiters.splice(0)) w()
      })
    })
  }

  async start(): Promise<this> {
    return this.startOn(0)
  }

  /** Listens on a given port (0 = any), e.g. to bring back an upstream that was down. */
  async startOn(port: number): Promise<this> {
    await new Promise<void>((r) => this.#server.listen(port, '127.0.0.1', r))
    this.url = `${this.#scheme}://127.0.0.1:${(this.#server.address() as AddressInfo).port}`
    return this
  }

  /**
   * Resolves when the next upstream socket closes, whichever it is (an idle keep-alive connection timing
   * out counts too): to follow one request's connection use `nextRequest()` and its `socketClosed`.
   */
  nextSocketClose(): Promise<void> {
    return new Promise((r) => this.#closeWaiters.push(r))
  }

  /** Resolves with the next request the upstream receives (its body read), before the handler answers it. */
  nextRequest(): Promise<Recorded> {
    return new Promise((r) => this.#requestWaiters.push(r))
  }

  #closedOf(socket: Socket): Promise<void> {
    // TLS: the request's socket is the TLSSocket that 'secureConnection' registered.
    return this.#socketClosed.get(socket) ?? new Promise<void>((r) => (socket.destroyed ? r() : socket.once('close', () => r())))
  }

  get last(): Recorded {
    return this.requests[this.requests.length - 1]!
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy()
    await new Promise<void>((r) => this.#server.close(() => r()))
  }
}

/** Serialises events into Anthropic SSE framing (`event:` line, `data:` line, blank line). */
export function sse(events: readonly { type: string; [k: string]: unknown }[]): string {
  return events.map((e) => `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`).join('')
}
