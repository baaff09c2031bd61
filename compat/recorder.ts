/**
 * What the CLI sends, exactly: a plain HTTP proxy between Claude Code and the relay that keeps every
 * request's method, path, headers and body, and the status and headers the relay answered, and passes both ways
 * through untouched.
 */
import { createServer, request } from 'node:http'
import type { IncomingHttpHeaders, Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface Sent {
  readonly method: string
  readonly path: string
  readonly headers: IncomingHttpHeaders
  readonly body: Buffer
  status: number
  /** The relay's answer headers. */
  answer: IncomingHttpHeaders
}

export class Recorder {
  readonly sent: Sent[] = []
  readonly #server: Server
  url = ''

  constructor(target: string) {
    const to = new URL(target)
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const entry: Sent = { method: req.method!, path: req.url!, headers: req.headers, body: Buffer.concat(chunks), status: 0, answer: {} }
        this.sent.push(entry)
        const upstream = request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: { ...req.headers, host: to.host } }, (answer) => {
          entry.status = answer.statusCode ?? 0
          entry.answer = answer.headers
          res.writeHead(answer.statusCode ?? 502, answer.headers)
          answer.pipe(res)
        })
        upstream.on('error', (err) => {
          entry.status = 502
          if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' })
          res.end(`compat recorder: the relay did not answer: ${err.message}`)
        })
        upstream.end(entry.body)
      })
    })
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.#server.listen(0, '127.0.0.1', r))
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`
    return this
  }

  close(): Promise<void> {
    this.#server.closeAllConnections()
    return new Promise((r) => this.#server.close(() => r()))
  }
}
