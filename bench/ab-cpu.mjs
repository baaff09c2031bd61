// CPU per event of two (or more) relay builds under the same paced load, HTTPS upstream, rounds
// interleaved: `node bench/ab-cpu.mjs /path/to/old,/path/to/new [concurrency=64] [seconds=4] [rounds=2]
// [gap_ms=10] [events=100]` (each path a built checkout with its node_modules). Only the relays and the
// mock run, at a concurrency a loaded 2-core machine still carries without timeouts (where the full
// bench's 256 streams failed, issue 26); the figure is the relay's run time (all threads, and the main
// thread) per event between the load's warm-up and its last counted request, from schedstat.
import { spawn } from 'node:child_process'
import { readFileSync, readdirSync, writeFileSync, mkdtempSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
const BENCH = new URL('.', import.meta.url).pathname.replace(/\/$/, '')
const { makeCertificate } = await import(`${BENCH}/lib/tls.mjs`)
const { startProcess, freePort, relayListening, stopProcess } = await import(`${BENCH}/lib/processes.mjs`)
const { encodeParams } = await import(`${BENCH}/lib/shape.mjs`)
const [rootsArg, conc = '64', secs = '4', roundsArg = '2', gapArg = '10', eventsArg = '100'] = process.argv.slice(2)
const roots = rootsArg.split(',')
const dir = mkdtempSync(join(tmpdir(), 'cpu26-'))
const tls = makeCertificate(join(dir, 'tls'))
process.env.NODE_EXTRA_CA_CERTS = tls.cert
const mock = await startProcess(`${BENCH}/mock-upstream.mjs`, ['--tls-cert', tls.cert, '--tls-key', tls.key])
const mockUrl = `https://127.0.0.1:${JSON.parse(mock.first).listening}`
const config = join(dir, 'c.yaml')
writeFileSync(config, `server:\n  auth:\n    api_key: "bench-relay-key"\nusage: { db: "${join(dir, 'usage.db')}" }\nproviders:\n  - name: mock\n    type: anthropic\n    base_url: "${mockUrl}"\n    keys: [{ key: "bench-upstream-key" }]\nlogging: { level: info, format: json }\n`)
const runNs = (pid) => readdirSync(`/proc/${pid}/task`).reduce((s, t) => { try { return s + Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]) } catch { return s } }, 0)
const mainNs = (pid) => Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[0])
const relays = []
for (const root of roots) {
  const port = await freePort()
  const relay = await startProcess(join(root, 'bin', 'cc-relay.js'), ['serve', '--config', config, '--listen', `127.0.0.1:${port}`], {}, relayListening)
  relays.push({ root, pid: relay.child.pid, child: relay.child, url: `http://127.0.0.1:${port}`, events: 0, ns: 0, main: 0, errors: 0 })
}
const params = { events: Number(eventsArg), bytes: 48, thinking: 1, tool: 1, gap_ms: Number(gapArg) }
for (let round = 0; round < Number(roundsArg); round++) {
  for (const r of round % 2 ? [...relays].reverse() : relays) {
    const job = { urls: [`${r.url}/v1/messages`], headers: { 'x-api-key': 'bench-relay-key', 'x-bench': encodeParams(params) }, concurrency: Number(conc), mode: 'closed', durationMs: Number(secs) * 1000, warmupMs: 1500 }
    const load = spawn(process.execPath, [`${BENCH}/load.mjs`, JSON.stringify(job)], { stdio: ['pipe', 'pipe', 'inherit'] })
    let out = '', a, m, ns0 = r.ns, main0 = r.main
    load.stdout.on('data', (d) => {
      out += d
      for (const line of String(d).split('\n')) {
        if (line.includes('"phase":"warm"')) { a = runNs(r.pid); m = mainNs(r.pid); load.stdin.write('\n') }
        else if (line.includes('"phase":"done"')) { r.ns += runNs(r.pid) - a; r.main += mainNs(r.pid) - m; load.stdin.write('\n'); load.stdin.end() }
      }
    })
    await new Promise((res) => load.on('exit', res))
    const result = JSON.parse(out.trim().split('\n').filter((l) => l.startsWith('{') && !l.includes('"phase"')).pop())
    r.events += result.events ?? 0
    r.errors += (result.errors ?? 0) + (result.corrupted ?? 0)
    console.log(JSON.stringify({ round, root: r.root, events: result.events, errors: result.errors, corrupted: result.corrupted, reqs: result.requests, nsPerEvent: Math.round((r.ns - ns0) / result.events), mainNsPerEvent: Math.round((r.main - main0) / result.events) }))
  }
}
for (const r of relays) console.log(`${r.root}: ${(r.ns / r.events).toFixed(0)} ns/event all threads, ${(r.main / r.events).toFixed(0)} main, over ${r.events} events, ${r.errors} errors`)
for (const r of relays) await stopProcess(r.child)
await stopProcess(mock.child)
