#!/usr/bin/env node
// The floor arm: the plainest Node proxy — a node:http server piping each request to a node:http
// client with keep-alive, and the answer back. No auth, no parsing, no routing, no books.
// `node bench/plain-proxy.mjs --port N --upstream http://127.0.0.1:M`
import { Agent, createServer, request } from 'node:http'

const arg = (name) => process.argv[process.argv.indexOf(`--${name}`) + 1]
const upstream = new URL(arg('upstream'))
const agent = new Agent({ keepAlive: true, maxSockets: Infinity })

createServer((req, res) => {
  const out = request(
    { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host }, agent },
    (answer) => {
      res.writeHead(answer.statusCode, answer.headers)
      answer.pipe(res)
    },
  )
  out.on('error', () => res.destroy())
  req.pipe(out)
}).listen(Number(arg('port')), '127.0.0.1', () => process.stdout.write('{"listening":true}\n'))
