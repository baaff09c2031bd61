// Preloaded into the Node arms the bench starts (`node --require bench/lib/name-threads.cjs …`, see
// NAME_THREADS in threads.mjs) so the bench can tell their threads apart in /proc, where Node 20 names
// every one `node` (the Worker `name` option does not reach the OS):
// - the main thread is the one whose tid is the pid;
// - Node's platform threads — V8's worker pool, which runs the parallel and concurrent GC and the
//   background compiler, plus Node's delayed-task and tracing threads — are the only other threads when a
//   `--require` preload runs, so the main thread names them `v8-platform` here (a thread may write
//   the comm of any thread of its own process);
// - each worker thread names itself `worker-<threadId>` (through /proc/thread-self: a synchronous
//   write runs on the calling thread);
// - libuv's thread pool starts later (the ESM loader's first file read) and keeps the name `node`.
// A few writes when a thread starts, nothing after: the process runs as it would without it.
// CommonJS on purpose: a `--require` preload runs before the ESM loader starts libuv's thread pool.
'use strict'
const { readdirSync, writeFileSync } = require('node:fs')
const { isMainThread, threadId } = require('node:worker_threads')

try {
  if (!isMainThread) writeFileSync('/proc/thread-self/comm', `worker-${threadId}`)
  else for (const tid of readdirSync('/proc/self/task')) if (Number(tid) !== process.pid) writeFileSync(`/proc/self/task/${tid}/comm`, 'v8-platform')
} catch {
  // Not Linux: the bench's per-thread split is Linux-only anyway.
}
