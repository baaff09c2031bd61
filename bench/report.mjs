// Turns merged load results into figures, a terminal table and the markdown the README's Performance
// section is generated from. The headline is the relay against direct (what the relay costs) and against
// the plainest Node proxy (the floor it must beat).

const round = (x, digits = 2) => (x === null || x === undefined || Number.isNaN(x) ? null : Number(x.toFixed(digits)))
const ratio = (a, b) => (a && b ? round(a / b, 2) : null)
const minus = (a, b) => (a !== null && b !== null ? round(a - b, 3) : null)

export function summarise(m) {
  return {
    requests: m.requests,
    ok: m.ok,
    errors: m.errors,
    corrupted: m.corrupted,
    errorKinds: m.errorKinds,
    rps: round(m.ok / m.elapsedS, 1),
    eventsPerS: round(m.events / m.elapsedS, 0),
    mbPerS: round(m.bytes / m.elapsedS / 1e6, 2),
    ttfeMs: { p50: round(m.ttfe.quantileMs(0.5), 3), p99: round(m.ttfe.quantileMs(0.99), 3), p999: round(m.ttfe.quantileMs(0.999), 3) },
    gapP99Ms: round(m.gaps.quantileMs(0.99), 3),
    durationMs: { p50: round(m.durations.quantileMs(0.5), 1), p99: round(m.durations.quantileMs(0.99), 1), max: round(m.durations.quantileMs(1), 1) },
    cpuMsPer1000: m.cpuS === null || m.cpuS === undefined || m.ok === 0 ? null : round((m.cpuS / m.ok) * 1e6, 0),
    peakRssMb: round(m.peakRssMb, 0),
  }
}

/** Relay against direct and against the plain proxy, per scenario. */
export function headline(result) {
  const { direct, 'cc-relay': relay, 'plain-proxy': plain } = result.arms
  return {
    relayVsDirectEvents: ratio(relay.eventsPerS, direct.eventsPerS),
    addedTtfeP50Ms: minus(relay.ttfeMs.p50, direct.ttfeMs.p50),
    addedTtfeP99Ms: minus(relay.ttfeMs.p99, direct.ttfeMs.p99),
    relayVsPlainEvents: ratio(relay.eventsPerS, plain.eventsPerS),
    relayVsPlainCpu: ratio(relay.cpuMsPer1000, plain.cpuMsPer1000),
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
  const split = c && { byControl: added(b, c), overControl: added(c, a), cpuOverControl: ratio(a.cpuMsPer1000, c.cpuMsPer1000) }
  return { ...result.compare, added: added(b, a), eventsRatio: ratio(a.eventsPerS, b.eventsPerS), cpuRatio: ratio(a.cpuMsPer1000, b.cpuMsPer1000), split }
}

/**
 * shared-redis measures the Redis round trip only if Redis stayed up and admitted every request of the
 * Redis arm (warm-up requests are admitted too, so there are at least as many admissions as requests).
 */
function redisAdmittedAll(result) {
  const { checks } = result
  return Boolean(checks) && checks.sharedThroughout && checks.redisAdmissions >= result.arms[result.compare.arm].ok
}

/** The one-line summary under a scenario's table (`capital`: the markdown's sentence case). */
function summaryLine(result, capital) {
  if (result.compare) {
    const v = versus(result)
    const redis = result.checks
      ? `; Redis ran ${result.checks.redisAdmissions} admissions for ${result.arms[v.arm].ok} measured requests (and the warm-up), ${result.checks.sharedThroughout ? 'shared throughout' : 'NOT shared throughout: a relay lost Redis'}`
      : ''
    const split = v.split
      ? `. Of the p50: ${v.control} against ${v.base} ${v.split.byControl.ttfeP50Ms} ms, ${v.arm} against ${v.control} ${v.split.overControl.ttfeP50Ms} ms (CPU ${v.split.cpuOverControl}×)`
      : ''
    return `${v.arm} against ${v.base}: added TTFE p50 ${v.added.ttfeP50Ms} ms, p99 ${v.added.ttfeP99Ms} ms; events/s ${v.eventsRatio}×, CPU per request ${v.cpuRatio}×${split}${redis}${capital ? '.' : ''}`
  }
  const h = headline(result)
  return capital
    ? `Relay/direct events ${h.relayVsDirectEvents}×, added TTFE p50 ${h.addedTtfeP50Ms} ms, p99 ${h.addedTtfeP99Ms} ms; relay/plain proxy events ${h.relayVsPlainEvents}×, CPU per request ${h.relayVsPlainCpu}×.`
    : `relay/direct events ${h.relayVsDirectEvents}×, added TTFE p50 ${h.addedTtfeP50Ms} ms p99 ${h.addedTtfeP99Ms} ms; relay/plain events ${h.relayVsPlainEvents}×, CPU ${h.relayVsPlainCpu}×`
}

/** The goals of the bench issue, judged from the figures (reported, never enforced). */
export function goals(report) {
  const find = (name) => report.results.find((r) => r.scenario === name && r.arms)
  const out = []
  const c16 = find('passthrough-c16')
  const c256 = find('passthrough-c256')
  const many = find('many-streams')
  if (c16) {
    const h = headline(c16)
    out.push([`added time to first event at 16 streams: p50 ${h.addedTtfeP50Ms} ms (goal ≤ 0.5), p99 ${h.addedTtfeP99Ms} ms (goal ≤ 2)`, h.addedTtfeP50Ms <= 0.5 && h.addedTtfeP99Ms <= 2])
  }
  if (c256) {
    const h = headline(c256)
    out.push([`relay events/s at 256 streams: ${h.relayVsDirectEvents}× direct (goal ≥ 0.8)`, h.relayVsDirectEvents >= 0.8])
    out.push([`relay vs plain Node proxy at 256 streams: ${h.relayVsPlainEvents}× its throughput (goal ≥ 1.5), ${h.relayVsPlainCpu}× its CPU per request (goal ≤ 0.67)`, h.relayVsPlainEvents >= 1.5 && h.relayVsPlainCpu <= 0.67])
  }
  const bedrock = find('bedrock')
  if (bedrock && c16) {
    const ratio = round(bedrock.arms['cc-relay'].eventsPerS / c16.arms['cc-relay'].eventsPerS, 2)
    out.push([`Bedrock translation path: ${ratio}× the passthrough path's events/s through the relay at 16 streams (goal ≥ 0.8)`, ratio >= 0.8])
  }
  if (many) {
    const r = many.arms['cc-relay']
    out.push([`1,000 concurrent streams: relay peak RSS ${r.peakRssMb} MB (goal ≤ 150), ${r.errors + r.corrupted} lost`, r.peakRssMb <= 150 && r.errors + r.corrupted === 0])
  }
  const shared = find('shared-redis')
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

const COLUMNS = [
  ['arm', (name) => name],
  ['req/s', (_, a) => a.rps],
  ['events/s', (_, a) => a.eventsPerS],
  ['MB/s', (_, a) => a.mbPerS],
  ['TTFE p50', (_, a) => a.ttfeMs.p50],
  ['p99', (_, a) => a.ttfeMs.p99],
  ['p99.9', (_, a) => a.ttfeMs.p999],
  ['gap p99', (_, a) => a.gapP99Ms],
  ['errors', (_, a) => a.errors + a.corrupted],
  ['CPU ms/1k req', (_, a) => a.cpuMsPer1000 ?? '—'],
  ['peak RSS MB', (_, a) => a.peakRssMb ?? '—'],
]

function rows(result) {
  return Object.entries(result.arms).map(([name, a]) => COLUMNS.map(([, get]) => String(get(name, a) ?? '—')))
}

export function renderTable(report) {
  const lines = [`cc-relay bench (${report.mode}, ${report.rounds} round(s) × ${report.secondsPerRun} s per arm) on ${report.machine.cpu}, ${report.machine.cores} cores, Node ${report.machine.node}`]
  for (const result of report.results) {
    lines.push('', `${result.scenario}: ${result.what}`)
    if (result.skipped) {
      lines.push(`  skipped: ${result.skipped}`)
      continue
    }
    const table = [COLUMNS.map(([h]) => h), ...rows(result)]
    const widths = table[0].map((_, i) => Math.max(...table.map((r) => r[i].length)))
    for (const r of table) lines.push('  ' + r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '))
    lines.push(`  ${summaryLine(result, false)}`)
  }
  lines.push('', 'goals:')
  for (const [text, met] of goals(report)) lines.push(`  ${met ? 'met    ' : 'not met'}  ${text}`)
  return lines.join('\n')
}

export function renderMarkdown(report) {
  const m = report.machine
  const out = [
    `Measured ${report.startedAt.slice(0, 10)} with \`npm run bench${report.mode === 'quick' ? ' -- --quick' : ''}\` (${report.rounds} round(s) × ${report.secondsPerRun} s per arm, arms interleaved) on ${m.cpu}, ${m.cores} cores, ${m.memoryGb} GiB, Node ${m.node}. The mock upstream, the load generator and the relay share these cores. TTFE = time to first event (ms); CPU = the proxy process's user + system time (all threads) per 1,000 requests.`,
    '',
  ]
  for (const result of report.results) {
    out.push(`**${result.scenario}** — ${result.what}`, '')
    if (result.skipped) {
      out.push(`Skipped: ${result.skipped}.`, '')
      continue
    }
    out.push(`| ${COLUMNS.map(([h]) => h).join(' | ')} |`, `|${COLUMNS.map(() => '---').join('|')}|`)
    for (const r of rows(result)) out.push(`| ${r.join(' | ')} |`)
    out.push('', summaryLine(result, true), '')
  }
  out.push('Goals:', '')
  for (const [text, met] of goals(report)) out.push(`- ${met ? 'met' : '**not met**'}: ${text}`)
  return out.join('\n') + '\n'
}
