// The `nginx` arm: what a proxy hop costs when it costs almost nothing but syscalls (issue 26's anchor).
// One worker process, unbuffered (`proxy_buffering off`: each upstream read is written to the client at
// once, as a streaming relay must), HTTP/1.1 keep-alive to the mock (an upstream block with `keepalive`,
// `proxy_http_version 1.1`, an empty Connection header). Under --tls it speaks HTTPS to the mock and
// checks its certificate (`proxy_ssl_verify`, sessions reused on new connections).
//
// It runs as the current user, everything in a fresh temp directory (config, pid, lock, error log and
// the temp paths, which nginx would otherwise create under /var/lib/nginx), in the foreground (`daemon
// off`) so the bench's child is the master; the worker is the master's only child. Request bodies are
// kept in memory (`client_body_buffer_size 1m`) as the relay keeps them, not spilled to temp files.
import { spawn } from 'node:child_process'
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir, userInfo } from 'node:os'
import { delimiter, join } from 'node:path'
import { childPids } from './procstat.mjs'
import { freePort, track } from './processes.mjs'

/** Where nginx is: `BENCH_NGINX`, else the PATH, else the sbin directories a non-root PATH may lack. */
export function nginxPath() {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/sbin', '/usr/local/sbin', '/usr/local/nginx/sbin']
  const candidates = process.env.BENCH_NGINX ? [process.env.BENCH_NGINX] : dirs.map((dir) => join(dir, 'nginx'))
  return candidates.find((path) => {
    try {
      accessSync(path, constants.X_OK)
      return true
    } catch {
      return false
    }
  })
}

/** Why the arm cannot run here, or undefined when it can. */
export function nginxUnavailable() {
  return nginxPath() ? undefined : 'nginx is not installed (apt-get install nginx-light)'
}

function config({ dir, port, upstream, cert }) {
  const q = (path) => JSON.stringify(path) // nginx takes double-quoted strings with the same escapes
  const tls = cert
    ? `
      proxy_ssl_trusted_certificate ${q(cert)};
      proxy_ssl_verify on;
      proxy_ssl_name localhost;
      proxy_ssl_session_reuse on;`
    : ''
  // Run by root, nginx would hand its worker to `nobody`, which cannot use this directory.
  const user = process.getuid?.() === 0 ? `user ${userInfo().username};\n` : ''
  return `${user}daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 16384;
pid ${q(join(dir, 'nginx.pid'))};
lock_file ${q(join(dir, 'nginx.lock'))};
error_log ${q(join(dir, 'error.log'))} warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path ${q(join(dir, 'body'))};
  proxy_temp_path ${q(join(dir, 'proxy'))};
  fastcgi_temp_path ${q(join(dir, 'fastcgi'))};
  uwsgi_temp_path ${q(join(dir, 'uwsgi'))};
  scgi_temp_path ${q(join(dir, 'scgi'))};
  client_max_body_size 0;
  client_body_buffer_size 1m;
  keepalive_requests 1000000;
  upstream mock {
    server ${upstream.host};
    keepalive 1024;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      proxy_pass ${upstream.protocol === 'https:' ? 'https' : 'http'}://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;${tls}
    }
  }
}
`
}

const accepts = (port) =>
  new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => (socket.destroy(), resolve(true)))
    socket.once('error', () => resolve(false))
  })

/**
 * Starts nginx in front of `upstreamUrl` (the mock; `cert`: the CA to trust under --tls) and resolves
 * once it accepts connections and its worker is up: `{ url, child, pid (master), workerPid }`.
 */
export async function startNginx(upstreamUrl, cert, timeoutMs = 10_000) {
  const dir = mkdtempSync(join(tmpdir(), 'cc-relay-bench-nginx-'))
  const port = await freePort()
  const file = join(dir, 'nginx.conf')
  writeFileSync(file, config({ dir, port, upstream: new URL(upstreamUrl), cert }))
  const log = join(dir, 'error.log')
  const child = track(spawn(nginxPath(), ['-p', dir, '-c', file, '-e', log], { stdio: ['ignore', 'ignore', 'inherit'] }))
  let spawnError = null
  child.once('error', (err) => (spawnError = err))
  const why = () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').slice(-5).join('\n') : '')
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (spawnError) throw new Error(`nginx could not start: ${spawnError.message}`)
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`nginx exited with ${child.exitCode ?? child.signalCode} before it was ready:\n${why()}`)
    const workers = childPids(child.pid)
    if (workers.length === 1 && (await accepts(port))) return { url: `http://127.0.0.1:${port}`, child, pid: child.pid, workerPid: workers[0], dir }
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`nginx did not accept connections within ${timeoutMs} ms:\n${why()}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
}
