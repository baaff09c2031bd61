#!/usr/bin/env node
// The plain proxy arm: the plainest Node proxy — a node:http server piping each request to a keep-alive
// node:http client (node:https when the upstream is https, as under the bench's --tls; the certificate is
// trusted through NODE_EXTRA_CA_CERTS), and the answer back. No auth, no parsing, no routing, no books.
// `node bench/plain-proxy.mjs --port N --upstream http(s)://127.0.0.1:M`
import * as http from 'node:http'
import * as https from 'node:https'

const arg = (name) => process.argv[process.argv.indexOf(`--${name}`) + 1]
const upstream = new URL(arg('upstream'))
const client = upstream.protocol === 'https:' ? https : http
const agent = new client.Agent({ keepAlive: true, maxSockets: Infinity })

http
  .createServer((req, res) => {
    const out = client.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host }, agent },
      (answer) => {
        res.writeHead(answer.statusCode, answer.headers)
        answer.pipe(res)
      },
    )
    out.on('error', () => res.destroy())
    req.pipe(out)
  })
  .listen(Number(arg('port')), '127.0.0.1', () => process.stdout.write('{"listening":true}\n'))
