#!/usr/bin/env node
// `node bench/body-scan.mjs [--kb 200] [--runs 2000]`: what the ingress's one pass over a request body
// costs (issue 11): the validating scan (grammar, string escapes, raw control characters, UTF-8) beside
// the grammar-only scan it replaced (string contents skipped with a native search: `trusted` mode now),
// the native UTF-8 check alone, and JSON.parse for scale. The body is shaped like a long Claude Code
// conversation (bench/lib/shape.mjs requestBody), with code, escapes and non-ASCII text.
// Runs against the compiled dist/ (npm run build first).
import { isUtf8 } from 'node:buffer'
import { parseArgs } from 'node:util'
import { scanObject } from '../dist/src/shared/json-scan.js'
import { quantile, timeRuns } from './lib/timing.mjs'

const { values } = parseArgs({ options: { kb: { type: 'string', default: '200' }, runs: { type: 'string', default: '2000' } } })
const target = Number(values.kb) * 1024
const runs = Number(values.runs)

// Turns like Claude Code's: prose, code with quotes, backslashes and newlines (escaped), non-ASCII.
const turn = (i) =>
  JSON.stringify({
    role: i % 2 ? 'assistant' : 'user',
    content: [{ type: 'text', text: `Step ${i}: edit “src/main.ts” — café, 日本語.\n\`\`\`ts\nconst path = "C:\\\\temp\\\\file${i}.ts"\nif (x) {\n\treturn 'ok'\n}\n\`\`\`\n`.repeat(6) }],
  })
const turns = []
let size = 0
for (let i = 0; size < target; i++) {
  const t = turn(i)
  turns.push(t)
  size += t.length
}
const text = `{"model":"claude-sonnet-4-5","max_tokens":32000,"stream":true,"messages":[${turns.join(',')}]}`
const body = Buffer.allocUnsafeSlow(Buffer.byteLength(text))
body.write(text)

function measure(name, fn) {
  const p50 = quantile(timeRuns(fn, runs), 0.5)
  return { name, p50_us: Number(p50.toFixed(1)), ns_per_byte: Number(((p50 * 1000) / body.length).toFixed(2)) }
}

if (!scanObject(body).ok) throw new Error('the bench body must be valid')
const rows = [
  measure('validating scan (the ingress, now)', () => scanObject(body)),
  measure('grammar-only scan (trusted mode; the ingress before issue 11)', () => scanObject(body, { trusted: true })),
  measure('isUtf8 alone (native)', () => isUtf8(body)),
  measure('JSON.parse(body.toString())', () => JSON.parse(body.toString())),
]
console.log(`body: ${(body.length / 1024).toFixed(0)} KB, ${runs} runs each, median`)
for (const r of rows) console.log(`  ${r.name.padEnd(64)} ${String(r.p50_us).padStart(8)} µs  ${r.ns_per_byte} ns/byte`)
