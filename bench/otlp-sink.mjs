#!/usr/bin/env node
// The OTLP collector the cc-relay[tracing] arm exports to: it takes every POST /v1/traces whole and
// answers 200 (the empty ExportTraceServiceResponse), nothing more, in its own process so its CPU is
// not the relay's. `node bench/otlp-sink.mjs` prints `{"listening":PORT}`.
import { createServer } from 'node:http'

let exports = 0
let bytes = 0
const server = createServer((req, res) => {
  req.on('data', (chunk) => (bytes += chunk.length))
  req.on('end', () => {
    exports++
    res.writeHead(req.url === '/v1/traces' ? 200 : 404, { 'content-type': 'application/x-protobuf' }).end()
  })
})
server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ listening: server.address().port })}\n`))
process.on('SIGTERM', () => {
  process.stderr.write(`otlp-sink: ${exports} exports, ${(bytes / 1e6).toFixed(1)} MB\n`)
  process.exit(0)
})
