/**
 * `--profile --perf` (bench/perf.mjs) gives each perf sample of the relay's main thread to the innermost
 * frame that names a part. The recording needs perf and the right to use it, which a test machine may
 * lack; how samples are read is checked here on frames as `perf script` prints them.
 */
import t from 'tap'
import * as perfJs from '../../bench/perf.mjs'

type Frame = { sym: string; dso: string }
const { partOf } = perfJs as unknown as { partOf(frames: Frame[]): string }
const K = '[kernel.kallsyms]'
const NODE = '/usr/bin/node'
const LIBC = '/usr/lib/x86_64-linux-gnu/libc.so.6'
const MAP = '/tmp/perf-1.map'

t.test('a sample counts for the innermost frame that names a part', async (t) => {
  t.equal(
    partOf([
      { sym: 'tcp_sendmsg', dso: K },
      { sym: 'entry_SYSCALL_64_after_hwframe', dso: K },
      { sym: '__send', dso: LIBC },
    ]),
    'kernel: send',
    "a syscall is named by the libc wrapper that made it (uWS's send)",
  )
  t.equal(
    partOf([
      { sym: 'vfs_read', dso: K },
      { sym: 'entry_SYSCALL_64_after_hwframe', dso: K },
      { sym: 'read', dso: LIBC },
      { sym: 'uv__read', dso: NODE },
    ]),
    'kernel: read',
  )
  t.equal(partOf([{ sym: 'handle_mm_fault', dso: K }, { sym: 'asm_exc_page_fault', dso: K }, { sym: 'malloc', dso: LIBC }]), 'kernel: page faults', 'no syscall: a fault')
  t.equal(
    partOf([
      { sym: '_aesni_ctr32_ghash_6x', dso: NODE },
      { sym: 'node::crypto::TLSWrap::ClearOut', dso: NODE },
    ]),
    'TLS: OpenSSL (decrypt, records)',
  )
  t.equal(
    partOf([
      { sym: 'v8::internal::Factory::NewJSArrayBuffer', dso: NODE },
      { sym: 'node::crypto::TLSWrap::ClearOut', dso: NODE },
    ]),
    "TLS: Node's TLSWrap (BIO, clear-text buffers)",
  )
  t.equal(
    partOf([
      { sym: '__memrchr_evex', dso: LIBC },
      { sym: 'JS:*bidirectionalIndexOf node:buffer:966:30', dso: MAP },
      { sym: 'JS:*absorbWholeEvents file:///r/dist/src/workers/usage.js:50:34', dso: MAP },
      { sym: 'JS:*onData /r/node_modules/undici/lib/handler/unwrap-handler.js:89:10', dso: MAP },
    ]),
    'usage read (src/workers/usage)',
    "Buffer.indexOf counts for its caller, the relay's usage reader, not undici above it",
  )
  t.equal(
    partOf([
      { sym: 'Builtins_LoadIC', dso: NODE },
      { sym: 'JS:*execute /r/node_modules/undici/lib/dispatcher/client-h1.js:320:11', dso: MAP },
    ]),
    'undici (llhttp parser, handlers)',
    "a V8 builtin counts for the JS function that called it",
  )
  t.equal(partOf([{ sym: 'HttpResponseWrapper::res_cork<0>', dso: '/r/node_modules/uWebSockets.js/uws_linux_x64_115.node' }]), 'uWS native (cork, write)')
  t.equal(partOf([{ sym: 'v8::internal::Scavenger::ScavengeObject', dso: NODE }]), 'V8 GC (on the main thread)')
  t.equal(partOf([{ sym: '_int_malloc', dso: LIBC }]), 'malloc/free (callers unknown: libc keeps no frame pointers)')
})
