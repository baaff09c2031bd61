// Turns merged load results into figures, a terminal table and the markdown docs/performance.md embeds.
// Per arm: throughput, time to first event (and what it adds to direct's), CPU per request and per
// event, peak RSS (and its growth per open stream where the scenario asks), the relay's GC pauses.
// The headline is the relay against direct (what it costs), against the plainest Node proxy (what it
// must beat), against the floor (its own architecture with no features: what the features cost) and
// against nginx (what a hop costs when it costs little more than syscalls), and its main thread's share.

const round = (x, digits = 2) => (x === null || x === undefined || Number.isNaN(x) ? null : Number(x.toFixed(digits)))
const ratio = (a, b) => (a && b ? round(a / b, 2) : null)
const minus = (a, b) => (a !== null && b !== null ? round(a - b, 3) : null)

/**
 * What `t` ({ user, system } CPU seconds) comes to per request and per event (per event only where a
 * response is a stream of them: a non-streaming answer counts as one event).
 */
function cost(t, m) {
  const s = t.user + t.system
  const perEvent = m.events > m.ok
  return {
    userS: round(t.user, 2),
    systemS: round(t.system, 2),
    usPerRequest: m.ok ? round((s / m.ok) * 1e6, 0) : null,
    nsPerEvent: perEvent ? round((s / m.events) * 1e9, 0) : null,
    userNsPerEvent: perEvent ? round((t.user / m.events) * 1e9, 0) : null,
    systemNsPerEvent: perEvent ? round((t.system / m.events) * 1e9, 0) : null,
  }
}

const sum = (times) => times.reduce((a, t) => ({ user: a.user + t.user, system: a.system + t.system }), { user: 0, system: 0 })

/**
 * Who spent the arm's CPU (lib/threads.mjs): the whole process (user and system), the main thread, the
 * worker threads (together and each), V8's platform threads (GC, compiler) and the other threads;
 * `shares`: each one's part of the whole.
 */
function threadFigures(t, m) {
  const total = t.total.user + t.total.system
  const workers = sum(Object.values(t.workers))
  const share = (x) => (total ? round((x.user + x.system) / total, 2) : null)
  return {
    total: cost(t.total, m),
    main: cost(t.main, m),
    workers: { ...cost(workers, m), byName: Object.fromEntries(Object.entries(t.workers).map(([name, w]) => [name, cost(w, m)])) },
    v8: cost(t.v8, m),
    other: { ...cost(t.other, m), byName: Object.fromEntries(Object.entries(t.otherByName).map(([name, o]) => [name, cost(o, m)])) },
    shares: { main: share(t.main), workers: share(workers), v8: share(t.v8), other: share(t.other) },
  }
}

/** `streams`: the scenario's open streams, for the RSS growth per stream (scenarios.mjs `perStream`). */
export function summarise(m, { streams } = {}) {
  const hasCpu = m.cpuS !== null && m.cpuS !== undefined
  return {
    requests: m.requests,
    ok: m.ok,
    errors: m.errors,
    corrupted: m.corrupted,
    errorKinds: m.errorKinds,
    events: m.events,
    rps: round(m.ok / m.elapsedS, 1),
    eventsPerS: round(m.events / m.elapsedS, 0),
    mbPerS: round(m.bytes / m.elapsedS / 1e6, 2),
    ttfeMs: { p50: round(m.ttfe.quantileMs(0.5), 3), p99: round(m.ttfe.quantileMs(0.99), 3), p999: round(m.ttfe.quantileMs(0.999), 3) },
    gapP99Ms: round(m.gaps.quantileMs(0.99), 3),
    durationMs: { p50: round(m.durations.quantileMs(0.5), 1), p99: round(m.durations.quantileMs(0.99), 1), max: round(m.durations.quantileMs(1), 1) },
    cpuS: hasCpu ? round(m.cpuS, 2) : null,
    cpuUsPerRequest: hasCpu && m.ok ? round((m.cpuS / m.ok) * 1e6, 0) : null,
    // Per event only where a response is a stream of them (a non-streaming answer counts as one event).
    cpuNsPerEvent: hasCpu && m.events > m.ok ? round((m.cpuS / m.events) * 1e9, 0) : null,
    // Per thread: main (the thread that owns the sockets), workers, other (lib/threads.mjs).
    threads: m.threads ? threadFigures(m.threads, m) : null,
    peakRssMb: round(m.peakRssMb, 0),
    rssGrowthMb: round(m.rssGrowthMb, 1),
    kbPerStream: streams && m.rssGrowthMb !== null && m.rssGrowthMb !== undefined ? round((m.rssGrowthMb * 1024) / streams, 1) : null,
    gc: m.gc
      ? {
          ms: round(m.gc.ms, 1),
          pauses: m.gc.count,
          byKindMs: Object.fromEntries(Object.entries(m.gc.byKind).map(([k, v]) => [k, round(v, 1)])),
          msPerS: round(m.gc.ms / m.elapsedS, 2),
          msPer1000: m.ok ? round((m.gc.ms / m.ok) * 1000, 1) : null,
        }
      : null,
  }
}

/** The relay against the other arms of one scenario (any of them may be missing: null then). */
export function headline(result) {
  const { direct, 'cc-relay': relay, 'cc-relay[workers]': workers, 'plain-proxy': plain, floor, nginx } = result.arms
  if (!relay) return null
  return {
    relayVsNginxEvents: ratio(relay.eventsPerS, nginx?.eventsPerS),
    relayVsNginxCpu: ratio(relay.cpuUsPerRequest, nginx?.cpuUsPerRequest),
    relayMainNsPerEvent: relay.threads?.main.nsPerEvent ?? null,
    relayMainUsPerRequest: relay.threads?.main.usPerRequest ?? null,
    relayMainShare: relay.threads?.shares.main ?? null,
    relayVsDirectEvents: ratio(relay.eventsPerS, direct?.eventsPerS),
    relayVsPlainEvents: ratio(relay.eventsPerS, plain?.eventsPerS),
    relayVsFloorEvents: ratio(relay.eventsPerS, floor?.eventsPerS),
    relayVsPlainCpu: ratio(relay.cpuUsPerRequest, plain?.cpuUsPerRequest),
    relayVsFloorCpu: ratio(relay.cpuUsPerRequest, floor?.cpuUsPerRequest),
    addedTtfeP50Ms: direct ? minus(relay.ttfeMs.p50, direct.ttfeMs.p50) : null,
    addedTtfeP99Ms: direct ? minus(relay.ttfeMs.p99, direct.ttfeMs.p99) : null,
    workersVsRelayCpu: ratio(workers?.cpuUsPerRequest, relay.cpuUsPerRequest),
  }
}

/**
 * A scenario with its own arms (`compare: { base, arm, control }`): what `arm` adds over `base`, split
 * into what `control` (the same process shape without the feature) adds over `base` and what `arm`
 * adds over `control`. Without a control arm in the run (`--quick`), the split is undefined.
 */
export function versus(result) {
  const { base, arm, control } = result.compare
  const [b, a, c] = [base, arm, control].map((name) => result.arms[name])
  const added = (from, to) => ({ ttfeP50Ms: minus(to.ttfeMs.p50, from.ttfeMs.p50), ttfeP99Ms: minus(to.ttfeMs.p99, from.ttfeMs.p99) })
  const split = c && { byControl: added(b, c), overControl: added(c, a), cpuOverControl: ratio(a.cpuUsPerRequest, c.cpuUsPerRequest) }
  return { ...result.compare, added: added(b, a), eventsRatio: ratio(a.eventsPerS, b.eventsPerS), cpuRatio: ratio(a.cpuUsPerRequest, b.cpuUsPerRequest), split }
}

/**
 * shared-redis measures the Redis round trip only if Redis stayed up and admitted every request of the
 * Redis arm (warm-up requests are admitted too, so there are at least as many admissions as requests).
 */
function redisAdmittedAll(result) {
  const { checks } = result
  return Boolean(checks) && checks.sharedThroughout && checks.redisAdmissions >= result.arms[result.compare.arm].ok
}

/** The line under a scenario with its own arms (`compare`); `capital`: the markdown's sentence case. */
function compareLine(result, capital) {
  const v = versus(result)
  const redis = result.checks
    ? `; Redis ran ${result.checks.redisAdmissions} admissions for ${result.arms[v.arm].ok} measured requests (and the warm-up), ${result.checks.sharedThroughout ? 'shared throughout' : 'NOT shared throughout: a relay lost Redis'}`
    : ''
  const split = v.split
    ? `. Of the p50: ${v.control} against ${v.base} ${v.split.byControl.ttfeP50Ms} ms, ${v.arm} against ${v.control} ${v.split.overControl.ttfeP50Ms} ms (CPU ${v.split.cpuOverControl}×)`
    : ''
  return `${v.arm} against ${v.base}: added TTFE p50 ${v.added.ttfeP50Ms} ms, p99 ${v.added.ttfeP99Ms} ms; events/s ${v.eventsRatio}×, CPU per request ${v.cpuRatio}×${split}${redis}${capital ? '.' : ''}`
}

const find = (report, name) => report.results.find((r) => r.scenario === name && r.arms)

/**
 * The goals, judged from the figures (reported, never enforced): issue 13's targets, as ratios to the
 * arms of the same run (plain = the plain Node proxy, floor = bare uWS → piscina → undici).
 */
export function goals(report) {
  const out = []
  const h = (name) => {
    const r = find(report, name)
    return r && { ...headline(r), relay: r.arms['cc-relay'] }
  }
  const lost = (x) => x.relay.errors + x.relay.corrupted
  for (const name of ['paced-256', 'paced-1000']) {
    const x = h(name)
    if (x?.relayVsPlainCpu != null) out.push([`${name}: relay CPU per stream ${x.relayVsPlainCpu}× the plain proxy's (goal ≤ 0.67), ${lost(x)} lost`, x.relayVsPlainCpu <= 0.67 && lost(x) === 0])
  }
  const burst = h('burst-64')
  if (burst?.relayVsPlainEvents != null) {
    out.push([`burst-64: throughput ${burst.relayVsPlainEvents}× the plain proxy's (goal ≥ 1.5) at ${burst.relayVsPlainCpu}× its CPU per request (goal ≤ 0.67)`, burst.relayVsPlainEvents >= 1.5 && burst.relayVsPlainCpu <= 0.67])
    out.push([`burst-64: throughput ${burst.relayVsDirectEvents}× direct's (goal ≥ 0.8) and ${burst.relayVsFloorEvents ?? '—'}× the floor's (goal ≥ 0.9)`, burst.relayVsDirectEvents >= 0.8 && (burst.relayVsFloorEvents ?? 0) >= 0.9])
  }
  const small = h('non-streaming')
  if (small?.addedTtfeP50Ms != null) {
    out.push([`non-streaming, 16 concurrent: added p50 ${small.addedTtfeP50Ms} ms (goal ≤ 0.5), p99 ${small.addedTtfeP99Ms} ms (goal ≤ 2) over direct`, small.addedTtfeP50Ms <= 0.5 && small.addedTtfeP99Ms <= 2])
  }
  const cc = h('claude-code')
  if (cc?.relayVsPlainCpu != null) out.push([`claude-code: relay CPU per request ${cc.relayVsPlainCpu}× the plain proxy's (goal ≤ 1)`, cc.relayVsPlainCpu <= 1])
  const ruled = find(report, 'claude-code')?.arms['cc-relay[rules]']?.cpuUsPerRequest
  if (ruled && cc?.relay?.cpuUsPerRequest) {
    const x = round(ruled / cc.relay.cpuUsPerRequest, 2)
    // Within this machine's round-to-round noise (±5 % over several rounds) counts as not measurable.
    out.push([`routing rules: claude-code relay CPU per request with 5 rules ${x}× without (${ruled} against ${cc.relay.cpuUsPerRequest} µs; goal: not measurable, ≤ 1.05, issue 15)`, x <= 1.05])
  }
  const team = find(report, 'team')
  const fileLedger = team?.arms['cc-relay']?.cpuUsPerRequest
  const memoryLedger = team?.arms['cc-relay[memory-ledger]']?.cpuUsPerRequest
  const plainSmall = small?.relay?.cpuUsPerRequest
  if (fileLedger && memoryLedger) {
    const x = round(fileLedger / memoryLedger, 2)
    const vsShared = plainSmall ? `; ${round(fileLedger / plainSmall, 2)}× the shared key's non-streaming calls` : ''
    out.push([`usage ledger: a team client's call with the file ledger ${x}× the memory ledger's CPU (${fileLedger} against ${memoryLedger} µs${vsShared}; goal: not measurable, ≤ 1.05, issue 16)`, x <= 1.05])
  }
  // Tracing on (issue 25): the same calls with a trace of each exported to an OTLP sink.
  // Every scenario the tracing arm ran (arms.mjs TRACED_SCENARIOS), in the run's order.
  for (const { scenario: name, arms } of report.results.filter((r) => r.arms?.['cc-relay[tracing]'])) {
    const on = arms?.['cc-relay[tracing]']?.cpuUsPerRequest
    const off = arms?.['cc-relay']?.cpuUsPerRequest
    if (!on || !off) continue
    const added = round((on / off - 1) * 100, 1)
    out.push([`tracing: ${name} relay CPU per request with every request traced ${on} µs against ${off} µs, ${added >= 0 ? '+' : ''}${added} % (goal ≤ 5 %, issue 25)`, added <= 5])
  }
  const translated = h('openai')?.relay?.cpuNsPerEvent
  const passthrough = burst?.relay?.cpuNsPerEvent
  if (translated && passthrough) {
    const x = round(translated / passthrough, 2)
    // Translators run in the worker pool (DESIGN), built-in passthrough on the main thread: the
    // passthrough through the same pool (the [workers] arm) shows what is the translator's own.
    const hopped = find(report, 'burst-64')?.arms['cc-relay[workers]']?.cpuNsPerEvent
    const same = hopped ? `; ${round(translated / hopped, 2)}× the passthrough through the same worker pool` : ''
    out.push([`openai translation: relay CPU per event ${x}× the passthrough's (openai against burst-64, the same stream and concurrency; goal ≤ 2, issue 14)${same}`, x <= 2])
  }
  // Issue 26: against nginx (one worker, unbuffered, keep-alive upstream), judged on the --tls run.
  const withTls = report.tls ? '' : '; judged on a --tls run, this one is not'
  const paced = h('paced-256')
  if (paced?.relayVsNginxCpu != null) {
    out.push([
      `paced-256: relay CPU per stream ${paced.relayVsNginxCpu}× nginx's (goal ≤ 1.5) and ${paced.relayVsPlainCpu}× the plain proxy's (goal ≤ 0.7); main thread ${paced.relayMainNsPerEvent ?? '—'} ns per event, ${paced.relayMainShare ?? '—'} of the relay's CPU (issue 26${withTls})`,
      report.tls && paced.relayVsNginxCpu <= 1.5 && paced.relayVsPlainCpu <= 0.7 && lost(paced) === 0,
    ])
  }
  if (burst?.relayVsNginxCpu != null) {
    out.push([
      `burst-64: relay CPU per stream ${burst.relayVsNginxCpu}× nginx's (goal ≤ 2.5), throughput ${burst.relayVsNginxEvents}× nginx's (goal ≥ 0.7) (issue 26${withTls})`,
      report.tls && burst.relayVsNginxCpu <= 2.5 && burst.relayVsNginxEvents >= 0.7,
    ])
  }
  const thousand = h('paced-1000')?.relay
  if (thousand) {
    out.push([`1,000 open streams (paced-1000): relay peak RSS ${thousand.peakRssMb} MB (goal ≤ 150), ${thousand.kbPerStream ?? '—'} KB per open stream`, thousand.peakRssMb <= 150])
  }
  const shared = find(report, 'shared-redis')
  if (shared) {
    const v = versus(shared)
    const valid = redisAdmittedAll(shared)
    const caveat = valid ? '' : ' — not a valid figure: Redis did not admit every request'
    out.push([
      `added time to first event with Redis admission (2 relays on Redis against 1 on memory): p50 ${v.added.ttfeP50Ms} ms (goal ≤ 0.3), p99 ${v.added.ttfeP99Ms} ms${v.split ? `; against 2 relays on memory: p50 ${v.split.overControl.ttfeP50Ms} ms` : ''}${caveat}`,
      valid && v.added.ttfeP50Ms <= 0.3,
    ])
  }
  return out
}

const dash = (x) => (x === null || x === undefined ? '—' : String(x))
const added = (a, direct, q) => (direct && a !== direct ? minus(a.ttfeMs[q], direct.ttfeMs[q]) : null)

/** Per-arm columns; a column with nothing in it for a scenario is left out of that scenario's table. */
const COLUMNS = [
  ['arm', (name) => name],
  ['req/s', (_, a) => a.rps],
  ['events/s', (_, a) => a.eventsPerS],
  ['TTFE p50', (_, a) => a.ttfeMs.p50],
  ['p99', (_, a) => a.ttfeMs.p99],
  ['p99.9', (_, a) => a.ttfeMs.p999],
  ['+TTFE p50/p99/p99.9', (_, a, d) => (added(a, d, 'p50') === null ? null : `${added(a, d, 'p50')} / ${added(a, d, 'p99')} / ${added(a, d, 'p999')}`)],
  ['gap p99', (_, a) => a.gapP99Ms],
  ['lost', (_, a) => a.errors + a.corrupted],
  ['CPU µs/req', (_, a) => a.cpuUsPerRequest],
  ['CPU ns/event', (_, a) => a.cpuNsPerEvent],
  ['main µs/req', (_, a) => a.threads?.main.usPerRequest],
  ['main ns/event', (_, a) => a.threads?.main.nsPerEvent],
  ['main/workers/V8/other %', (_, a) => (a.threads?.shares.main != null ? Object.values(a.threads.shares).map((x) => Math.round(x * 100)).join(' / ') : null)],
  ['peak RSS MB', (_, a) => a.peakRssMb],
  ['KB/stream', (_, a) => a.kbPerStream],
  ['GC ms/s', (_, a) => a.gc?.msPerS],
  ['GC ms/1k req', (_, a) => a.gc?.msPer1000],
]

function table(result) {
  const direct = result.arms.direct
  const cells = Object.entries(result.arms).map(([name, a]) => COLUMNS.map(([, get]) => dash(get(name, a, direct))))
  const keep = COLUMNS.map((_, i) => i === 0 || cells.some((row) => row[i] !== '—'))
  return [COLUMNS.map(([h]) => h), ...cells].map((row) => row.filter((_, i) => keep[i]))
}

/** The headline ratios, one row per scenario measured against the common arms. */
const HEADLINE = [
  ['scenario', (r) => r.scenario],
  ['relay/direct events/s', (r, h) => h.relayVsDirectEvents],
  ['relay/plain events/s', (r, h) => h.relayVsPlainEvents],
  ['relay/floor events/s', (r, h) => h.relayVsFloorEvents],
  ['relay/nginx events/s', (r, h) => h.relayVsNginxEvents],
  ['relay/plain CPU/req', (r, h) => h.relayVsPlainCpu],
  ['relay/floor CPU/req', (r, h) => h.relayVsFloorCpu],
  ['relay/nginx CPU/req', (r, h) => h.relayVsNginxCpu],
  ['relay main ns/event', (r, h) => h.relayMainNsPerEvent],
  ['relay main share', (r, h) => h.relayMainShare],
  ['+TTFE p50', (r, h) => h.addedTtfeP50Ms],
  ['+TTFE p99', (r, h) => h.addedTtfeP99Ms],
  ['workers/main CPU', (r, h) => h.workersVsRelayCpu],
]

function headlineTable(report) {
  const rows = report.results.filter((r) => r.arms && !r.compare && headline(r)).map((r) => HEADLINE.map(([, get]) => dash(get(r, headline(r)))))
  if (rows.length === 0) return null
  const keep = HEADLINE.map((_, i) => i === 0 || rows.some((row) => row[i] !== '—'))
  return [HEADLINE.map(([h]) => h), ...rows].map((row) => row.filter((_, i) => keep[i]))
}

function aligned(rows, indent = '  ') {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)))
  return rows.map((r) => indent + r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '))
}

const markdownTable = (rows) => [`| ${rows[0].join(' | ')} |`, `|${rows[0].map(() => '---').join('|')}|`, ...rows.slice(1).map((r) => `| ${r.join(' | ')} |`)]

export function renderTable(report) {
  const lines = [`cc-relay bench (${report.mode}${report.tls ? ', HTTPS upstream (--tls)' : ''}, ${report.rounds} round(s) × ${report.secondsPerRun} s per arm) on ${report.machine.cpu}, ${report.machine.cores} cores, Node ${report.machine.node}`]
  for (const { arm, why } of report.leftOut ?? []) lines.push(`${arm} arm left out: ${why}`)
  for (const result of report.results) {
    lines.push('', `${result.scenario}: ${result.what}`)
    if (result.skipped) {
      lines.push(`  skipped: ${result.skipped}`)
      continue
    }
    lines.push(...aligned(table(result)))
    if (result.compare) lines.push(`  ${compareLine(result, false)}`)
  }
  const head = headlineTable(report)
  if (head) lines.push('', 'headline (cc-relay against the other arms; +TTFE in ms against direct):', ...aligned(head))
  const judged = goals(report)
  if (judged.length) lines.push('', 'goals:', ...judged.map(([text, met]) => `  ${met ? 'met    ' : 'not met'}  ${text}`))
  return lines.join('\n')
}

const flags = (report) => {
  const f = [report.mode === 'quick' ? '--quick' : '', report.tls ? '--tls' : ''].filter(Boolean)
  return f.length ? ` -- ${f.join(' ')}` : ''
}

export function renderMarkdown(report) {
  const m = report.machine
  const out = [
    `Measured ${report.startedAt.slice(0, 10)} with \`npm run bench${flags(report)}\` (${report.rounds} round(s) × ${report.secondsPerRun} s per arm, arms interleaved) on ${m.cpu}, ${m.cores} cores, ${m.memoryGb} GiB, Node ${m.node}${report.tls ? '; the mock serves HTTPS, so every arm\'s upstream leg (and direct) pays TLS' : ''}. The mock upstream, the load generator and the proxies share these cores. TTFE = time to first event (ms), +TTFE = added to direct's; CPU = the proxy process's user + system time (all threads; nginx: master and worker) over the counted requests; main = the main thread's part (nginx: its worker process), main/workers/V8/other % = how the CPU splits between the main thread, the worker threads, V8's platform threads (parallel and concurrent GC, background compilation) and the rest (libuv's thread pool); KB/stream = RSS growth during the run over the open streams; GC = the relay's main-thread GC pauses.${(report.leftOut ?? []).map(({ arm, why }) => ` The ${arm} arm was left out: ${why}.`).join('')}`,
    '',
  ]
  const head = headlineTable(report)
  if (head) out.push('Headline: cc-relay against the other arms.', '', ...markdownTable(head), '')
  const judged = goals(report)
  if (judged.length) out.push('Goals:', '', ...judged.map(([text, met]) => `- ${met ? 'met' : '**not met**'}: ${text}`), '')
  for (const result of report.results) {
    out.push(`**${result.scenario}** — ${result.what}`, '')
    if (result.skipped) {
      out.push(`Skipped: ${result.skipped}.`, '')
      continue
    }
    out.push(...markdownTable(table(result)), '')
    if (result.compare) out.push(compareLine(result, true), '')
  }
  return out.join('\n')
}
