// `npm run bench -- --profile --perf [--scenarios NAME] [--tls]`: where the relay's main thread spends its
// CPU per event, with Linux `perf` instead of V8's profiler. V8's .cpuprofile counts wall time on the
// thread and gives native work to the JS function that called it, so a uWS write, the `send` syscall
// under it and any time the thread was preempted there all show as the self time of the bridge's
// `#flush`; TLS decryption and libuv's reads show as "(program)". perf samples CPU time (`cpu-clock`)
// with kernel and native frames, and node's `--perf-basic-prof` names the JIT-compiled JS frames.
//
// The relay runs with NODE_OPTIONS `--perf-basic-prof --interpreted-frames-native-stack`; perf records
// its threads only while its counted requests run (`perf record -p PID`, started at the load
// generator's `warm` and stopped at `done`). Each sample of the main thread is given to the innermost
// frame that names a part: a syscall (by the libc wrapper that made it: `send` is uWS writing to the
// client, `read` libuv reading the upstream socket), OpenSSL, Node's TLS glue, V8's GC, uWS, or a JS
// function's file (undici, Node's stream and socket JS, the bridge, the SSE scan, …). Buffer.indexOf and
// EventEmitter.emit count for their caller. TurboFan inlines small functions into their callers, so the
// JS parts are approximate at their edges (a relay handler inlined into undici's `onData` counts as
// undici); the native and kernel parts are exact.
import { spawn, spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/** Node options for the profiled relay: JIT code named in /tmp/perf-PID.map. */
export const PERF_NODE_OPTIONS = '--perf-basic-prof --interpreted-frames-native-stack'
const HZ = 999

/** Why `--perf` cannot run here, or undefined when it can. */
export function perfUnavailable() {
  const probe = spawnSync('perf', ['record', '-q', '-e', 'cpu-clock', '-o', '/dev/null', '--', 'true'], { stdio: 'ignore' })
  return probe.error || probe.status !== 0 ? 'perf is not installed or not allowed here (apt-get install linux-perf; kernel.perf_event_paranoid ≤ 1, or root)' : undefined
}

/** Starts recording every thread of `pid` into `file`; `stop()` ends it and resolves when it is written. */
export function startPerf(pid, file) {
  const child = spawn('perf', ['record', '-q', '-e', 'cpu-clock', '-F', String(HZ), '-g', '-p', String(pid), '-o', file], { stdio: ['ignore', 'ignore', 'inherit'] })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  return {
    stop: () => {
      child.kill('SIGINT')
      return exited
    },
  }
}

/**
 * V8 reuses the space of code it freed, and the map is append-only: for each address keep only the
 * newest code object (the one alive while the counted requests ran, which come last).
 */
function newestOnly(mapFile) {
  const entries = readFileSync(mapFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line, i) => {
      const [start, size, ...name] = line.split(' ')
      return { start: parseInt(start, 16), end: parseInt(start, 16) + parseInt(size, 16), name: name.join(' '), i }
    })
  const SPAN = 1 << 16
  const buckets = new Map()
  const kept = []
  for (const e of entries.reverse()) {
    const spans = []
    for (let b = Math.floor(e.start / SPAN); b <= Math.floor((e.end - 1) / SPAN); b++) spans.push(b)
    if (spans.some((b) => (buckets.get(b) ?? []).some((o) => o.start < e.end && e.start < o.end))) continue
    kept.push(e)
    for (const b of spans) buckets.set(b, [...(buckets.get(b) ?? []), e])
  }
  kept.sort((a, b) => a.i - b.i)
  writeFileSync(mapFile, kept.map((e) => `${e.start.toString(16)} ${(e.end - e.start).toString(16)} ${e.name}`).join('\n') + '\n')
}

/** `perf script` of one thread: each sample's frames, innermost first ({ sym, dso }). */
function samplesOf(file, tid) {
  const out = spawnSync('perf', ['script', '-i', file, '--tid', String(tid), '-F', 'tid,ip,sym,dso'], { encoding: 'utf8', maxBuffer: 1 << 30 })
  return out.stdout
    .split(/\n(?=\s*\d+\s*\n)/)
    .map((block) =>
      block
        .split('\n')
        .slice(1)
        .filter(Boolean)
        .map((line) => {
          const m = /^\s*[0-9a-f]+\s+(.*?)\s+\(([^)]*)\)\s*$/.exec(line)
          return m ? { sym: m[1], dso: m[2] } : { sym: line.trim(), dso: '' }
        }),
    )
    .filter((frames) => frames.length > 0)
}

const OPENSSL = /^(_?aesni|_?aes_|gcm|_?ghash|ssl|SSL|EVP|tls1?_|WPACKET|BIO|CRYPTO|OPENSSL|ossl|sha\d|_?x86_64_AES|ChaCha|Poly|RECORD_LAYER|PACKET|HMAC|bn_|BN_|EC_|ecp_|__ecp|x25519|X509|ASN1|asn1)/
const GC = /v8::internal::(Scavenger|Heap::|MarkCompact|ConcurrentMarking|MinorMarkCompact|MarkingVisitor|IncrementalMarking|SemiSpace|PagedSpace|Sweeper|ArrayBufferSweeper|GlobalHandles::|Evacuat)/
const JS_PARTS = [
  [/stream-bridge\.js|local-channel\.js/, 'bridge (src/ingress/stream-bridge, src/shared/local-channel)'],
  [/workers\/framing\//, 'SSE boundary scan (src/workers/framing)'],
  [/workers\/usage\.js/, 'usage read (src/workers/usage)'],
  [/workers\/port-writer\.js/, 'port writer (src/workers/port-writer)'],
  [/workers\/exchange\.js/, 'exchange (src/workers/exchange)'],
  [/node_modules\/undici\/|wasm-function|wasm-to-js/, 'undici (llhttp parser, handlers)'],
  [/node_modules\/piscina\//, 'piscina (task dispatch)'],
  [/node:internal\/worker|messageport|node:worker_threads|node:internal\/event_target/, 'MessagePort (messages between threads)'],
  [/node_modules\/(pino|sonic-boom)|request-log\.js/, 'request log'],
  [/node_modules\/prom-client|admin\/metrics\.js/, 'metrics'],
  [/dist\/src\/ingress\//, 'ingress, per request (src/ingress)'],
  [/dist\/src\//, 'relay, per request (supervisor, books, prepare, telemetry)'],
  [/node:internal\/streams|node:stream|node:net|node:_tls|stream_base_commons|node:internal\/tls/, "Node's socket and stream JS (TLSSocket, Readable)"],
  [/node:internal\/timers|node:timers|task_queues|node:internal\/process/, 'event loop JS (nextTick, microtasks, timers)'],
]

/** The part one sample counts for (its innermost frame that names one). */
export function partOf(frames) {
  for (const f of frames) {
    if (f.dso.includes('kernel')) {
      // A syscall, named by the user-space wrapper that made it (libc: __send, read, writev, …).
      const wrapper = frames.find((x) => !x.dso.includes('kernel'))
      const syscall = frames.some((x) => x.sym.startsWith('entry_SYSCALL'))
      if (syscall && wrapper?.dso.includes('libc')) return `kernel: ${wrapper.sym.replace(/^__(GI___)?(libc_)?/, '').replace(/@.*/, '')}`
      return frames.some((x) => /page_fault/.test(x.sym)) ? 'kernel: page faults' : 'kernel: interrupts, scheduling'
    }
    if (OPENSSL.test(f.sym) && !f.dso.includes('libc')) return 'TLS: OpenSSL (decrypt, records)'
    if (GC.test(f.sym)) return 'V8 GC (on the main thread)'
    if (f.dso.includes('uws_')) return 'uWS native (cork, write)'
    if (/node::crypto::(TLSWrap|NodeBIO)/.test(f.sym)) return "TLS: Node's TLSWrap (BIO, clear-text buffers)"
    if (/node::worker::(MessagePort|Message)|node::worker::.*Deserializ|v8::ValueDeserializer/.test(f.sym)) return 'MessagePort (messages between threads)'
    if (/node::(LibuvStreamWrap|StreamBase|EmitToJSStreamListener)/.test(f.sym)) return "Node's native socket read (buffers, callback into JS)"
    if (/node:buffer|node:internal\/buffer|node:events/.test(f.sym)) continue
    if (f.sym.startsWith('JS:') || f.sym.startsWith('Eval:')) {
      const part = JS_PARTS.find(([re]) => re.test(f.sym))
      return part ? part[1] : 'other JS'
    }
  }
  if (frames.some((f) => /uv__io_poll|uv_run/.test(f.sym))) return 'event loop native (libuv)'
  if (frames[0].dso.includes('libc')) return /alloc|free|malloc|chunk/.test(frames[0].sym) ? 'malloc/free (callers unknown: libc keeps no frame pointers)' : `libc: ${frames[0].sym}`
  return 'native, other'
}

/**
 * The report: per scenario, the main thread's CPU per event by part (`recordings`: [{ scenario, file,
 * events }]). The relay must have exited (its perf map is complete then).
 */
export function renderPerf(dir, pid, recordings) {
  const map = `/tmp/perf-${pid}.map`
  if (existsSync(map)) {
    copyFileSync(map, join(dir, `perf-${pid}.map`))
    newestOnly(map)
  }
  const out = []
  const scenarios = [...new Set(recordings.map((r) => r.scenario))]
  for (const scenario of scenarios) {
    const mine = recordings.filter((r) => r.scenario === scenario)
    const events = mine.reduce((a, r) => a + r.events, 0)
    const samples = mine.flatMap((r) => samplesOf(r.file, pid))
    const parts = new Map()
    for (const s of samples) {
      const part = partOf(s)
      parts.set(part, (parts.get(part) ?? 0) + 1)
    }
    const perEvent = (n) => ((n / HZ / events) * 1e6).toFixed(2)
    out.push(`${scenario}: the relay's main thread, ${samples.length} samples (${(samples.length / HZ).toFixed(2)} s of CPU) over ${events} events: ${perEvent(samples.length)} µs per event`)
    out.push(`  ${'%'.padStart(5)}  ${'µs/event'.padStart(8)}  part`)
    for (const [part, n] of [...parts].sort((a, b) => b[1] - a[1])) out.push(`  ${((100 * n) / samples.length).toFixed(1).padStart(5)}  ${perEvent(n).padStart(8)}  ${part}`)
    out.push('')
  }
  out.push(`perf data: ${dir} (perf report -i FILE --tid ${pid}; the JIT map is /tmp/perf-${pid}.map, newest code only; the original is beside the data)`)
  return out.join('\n') + '\n'
}
