// `npm run bench -- --profile [--scenarios NAME]`: the relay runs under `node --cpu-prof`, and when it
// has exited (SIGTERM: it drains, closes its worker pool and exits, and every thread writes its own
// .cpuprofile) this reads the profiles and lists the functions with the most self time, per thread.
//
// A .cpuprofile is V8's sampled call tree: `nodes` (id, callFrame { functionName, url, lineNumber },
// children), `samples` (the node on top of the stack at each sample) and `timeDeltas` (µs from the
// previous sample). A sample's time runs until the next one; self time is summed per function (name +
// script + line), so a function reached by several call paths counts once.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

/** What node needs to profile every thread of the process into `dir`. */
export function profileNodeArgs(dir) {
  return ['--cpu-prof', `--cpu-prof-dir=${dir}`]
}

/** A script's address made short: the path under the repository, or from `node_modules/` on. */
export function shortUrl(url, root) {
  if (!url) return ''
  const modules = url.lastIndexOf('/node_modules/')
  if (modules !== -1) return url.slice(modules + 1)
  const base = pathToFileURL(root).href + '/'
  if (url.startsWith(base)) return url.slice(base.length)
  if (url.startsWith(root + '/')) return url.slice(root.length + 1)
  return url
}

/**
 * Self time per function of one profile: [{ name, where, ms }] largest first, and the totals.
 * `windows` ([fromUs, toUs] on the monotonic clock V8 stamps its samples with, which is the one
 * `process.hrtime` reads): only the samples taken inside them count (the bench's counted requests,
 * leaving out the relay's start, its warm-ups and the other arms' turns).
 */
export function selfTimes(profile, root, windows) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const { samples, timeDeltas } = profile
  const perNode = new Map()
  const inside = (at) => !windows || windows.some(([from, to]) => at >= from && at < to)
  let at = profile.startTime
  for (let i = 0; i < samples.length; i++) {
    // timeDeltas[i] is the time from sample i-1 to sample i; sample i lasts until sample i+1 (the last
    // one until the profile's end).
    at += timeDeltas[i]
    const us = i + 1 < samples.length ? timeDeltas[i + 1] : Math.max(0, profile.endTime - at)
    if (inside(at)) perNode.set(samples[i], (perNode.get(samples[i]) ?? 0) + Math.max(0, us))
  }
  const perFunction = new Map()
  let totalUs = 0
  let idleUs = 0
  for (const [id, us] of perNode) {
    const { functionName, url, lineNumber } = byId.get(id).callFrame
    const name = functionName || '(anonymous)'
    totalUs += us
    if (name === '(idle)') idleUs += us
    const where = url ? `${shortUrl(url, root)}:${lineNumber + 1}` : ''
    const key = `${name}\u0000${where}`
    const entry = perFunction.get(key) ?? { name, where, us: 0 }
    entry.us += us
    perFunction.set(key, entry)
  }
  const functions = [...perFunction.values()].sort((a, b) => b.us - a.us).map((f) => ({ name: f.name, where: f.where, ms: f.us / 1000 }))
  return { functions, totalMs: totalUs / 1000, idleMs: idleUs / 1000 }
}

/** Node names profiles `CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile`; thread 0 is the main thread. */
function threadOf(file) {
  const tid = Number(file.split('.').at(-3))
  return tid === 0 ? 'main thread' : `worker thread ${tid}`
}

/** The profile files in `dir`, main thread first. */
export function profileFiles(dir) {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .sort((a, b) => Number(a.split('.').at(-3)) - Number(b.split('.').at(-3)) || a.localeCompare(b))
}

/**
 * The top `top` functions by self time, one table per thread's profile, and where the files are;
 * `windows`: only the samples inside them (selfTimes).
 */
export function renderProfiles(dir, root, top = 25, windows) {
  const files = profileFiles(dir)
  const out = []
  if (files.length === 0) out.push(`no .cpuprofile was written in ${dir}`)
  if (windows) out.push(`only the samples taken while the relay's counted requests ran (${windows.length} window(s), ${(windows.reduce((a, [f, t]) => a + t - f, 0) / 1e6).toFixed(1)} s)`, '')
  for (const file of files) {
    const { functions, totalMs, idleMs } = selfTimes(JSON.parse(readFileSync(join(dir, file), 'utf8')), root, windows)
    const busyMs = totalMs - idleMs
    out.push(
      `${threadOf(file)} (${file}): ${(totalMs / 1000).toFixed(1)} s profiled, ${(busyMs / 1000).toFixed(1)} s busy (${totalMs ? ((100 * busyMs) / totalMs).toFixed(0) : 0} %); top ${top} functions by self time, % of busy time:`,
    )
    const rows = functions.filter((f) => f.name !== '(idle)').slice(0, top)
    const width = Math.max(8, ...rows.map((f) => f.name.length))
    out.push(`  ${'%'.padStart(6)}  ${'self ms'.padStart(9)}  ${'function'.padEnd(width)}  where`)
    for (const f of rows) out.push(`  ${(busyMs ? (100 * f.ms) / busyMs : 0).toFixed(1).padStart(6)}  ${f.ms.toFixed(1).padStart(9)}  ${f.name.padEnd(width)}  ${f.where}`)
    out.push('')
  }
  out.push(`profiles: ${dir} (open them in Chrome DevTools → Performance, or speedscope)`)
  return out.join('\n') + '\n'
}
