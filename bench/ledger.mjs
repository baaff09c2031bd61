#!/usr/bin/env node
// `node bench/ledger.mjs [--requests N]`: what the usage ledger costs (issue 16). On the request path a
// request's usage is booked into the batch in memory (`book`); once a second the batch is written in one
// transaction. This times both, with the file store (LMDB) and the memory store: the booking per request,
// and a write of a batch of 20 rows (a busy second of a team: clients × providers × models).
// Runs against the compiled dist/ (npm run build first).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { MemoryStore, UsageLedger } from '../dist/src/ledger/ledger.js'
import { FileLedgerStore } from '../dist/src/ledger/file-store.js'
import { quantile } from './lib/timing.mjs'

const { values } = parseArgs({ options: { requests: { type: 'string', default: '200000' } } })
const requests = Number(values.requests)
const log = { info() {}, warn() {} }
const usage = { input_tokens: 1200, output_tokens: 300, cache_read_input_tokens: 40_000, cache_creation_input_tokens: 2000, cache_creation_1h_input_tokens: 2000 }
const dir = mkdtempSync(join(tmpdir(), 'cc-relay-ledger-bench-'))


for (const [name, store] of [['file (LMDB)', FileLedgerStore.open(join(dir, 'usage.db'))], ['memory', new MemoryStore()]]) {
  const ledger = new UsageLedger(store, log, 400)
  // Booking: the only work on the request path.
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < requests; i++) ledger.book({ client: `client-${i % 5}`, group: '', provider: `p${i % 2}`, model: `m${i % 2}`, usage, cost: 0.01 })
  const bookNs = Number(process.hrtime.bigint() - t0) / requests
  await ledger.flush()
  // Writes of 20-row batches, as the timer makes them.
  const writes = []
  const cpu = []
  for (let round = 0; round < 300; round++) {
    for (let i = 0; i < 20; i++) ledger.book({ client: `client-${i % 5}`, group: '', provider: `p${i % 2}`, model: `m${i % 4}`, usage, cost: 0.01 })
    const c0 = process.cpuUsage()
    const w0 = process.hrtime.bigint()
    await ledger.flush()
    writes.push(Number(process.hrtime.bigint() - w0) / 1e6)
    const c = process.cpuUsage(c0)
    cpu.push((c.user + c.system) / 1000)
  }
  await ledger.close()
  process.stdout.write(`${name.padEnd(12)} book ${bookNs.toFixed(0)} ns/request   write of 20 rows: p50 ${quantile(writes.sort((a, b) => a - b), 0.5).toFixed(3)} ms, p99 ${quantile(writes, 0.99).toFixed(3)} ms, CPU p50 ${quantile(cpu.sort((a, b) => a - b), 0.5).toFixed(3)} ms\n`)
}
rmSync(dir, { recursive: true, force: true })
