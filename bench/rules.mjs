#!/usr/bin/env node
// `node bench/rules.mjs [--kb 200] [--runs 2000]`: what routing rules cost per request on a Claude Code turn
// (issue 15), beside the ingress's one validating pass over the same body for scale. The five rules are
// the ones the bench's `cc-relay[rules]` arm runs (none matches, so every check runs), compiled as the
// relay compiles them; each run is a fresh sniff, so the body facts a rule reads are read again.
// Runs against the compiled dist/ (npm run build first).
import { parseArgs } from 'node:util'
import { RuleSet } from '../dist/src/ingress/rules.js'
import { sniffBody } from '../dist/src/ingress/sniff.js'
import { claudeCodeBody } from './lib/shape.mjs'
import { quantile, timeRuns } from './lib/timing.mjs'

const { values } = parseArgs({ options: { kb: { type: 'string', default: '200' }, runs: { type: 'string', default: '2000' } } })
const runs = Number(values.runs)
const text = claudeCodeBody(Number(values.kb) * 1000, true, 'claude-sonnet-4-5')
const body = Buffer.from(text)
const rules = new RuleSet([
  { name: 'background', when: { model: 'claude-haiku-*' }, use: { providers: ['mock'], model: 'small' } },
  { name: 'long-context', when: { min_input_tokens: 2_000_000 }, use: { providers: ['mock'] } },
  { name: 'plain-turns', when: { thinking: false, tools: ['Bash'] }, use: { providers: ['mock'] } },
  { name: 'web-search', when: { tools: ['web_search*'] }, use: { providers: ['mock'] } },
  { name: 'vision', when: { images: true }, use: { providers: ['mock'] } },
])

function measure(name, fn) {
  const samples = timeRuns(fn, runs)
  const at = (q) => quantile(samples, q).toFixed(1)
  process.stdout.write(`${name.padEnd(44)} p50 ${at(0.5).padStart(7)} µs   p99 ${at(0.99).padStart(7)} µs\n`)
}

process.stdout.write(`Claude Code turn of ${(body.length / 1024).toFixed(0)} KB, ${runs} runs\n`)
measure('sniff (the validating pass, every request)', () => sniffBody(body))
measure('sniff + 5 rules, none matching', () => {
  const sniffed = sniffBody(body)
  if (rules.match({ model: sniffed.model, inputTokens: Math.ceil(body.length / 4), client: '', headers: {}, body: sniffed.facts })) throw new Error('a rule matched')
})
