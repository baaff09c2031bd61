/**
 * CONTRACT §11: a slow or dead collector never slows or fails a request. For the whole of each test the
 * collector answers 500, never answers, or is not there at all: every request still succeeds, and every
 * span the relay made is accounted for in `cc_relay_telemetry_dropped_total` — the ones its bounded
 * queue turned away (`queue_full`) and the ones in exports that failed (`export_failed`) — so nothing
 * piles up in memory beyond the queue's bound.
 */
import t from 'tap'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { STREAM_EVENTS } from '../fixtures/anthropic.js'
import { MockUpstream, sse } from '../helpers/mock-upstream.js'
import { OtlpReceiver } from '../helpers/otlp-receiver.js'
import { startRelay } from '../helpers/relay.js'
import type { RunningRelay } from '../helpers/relay.js'
import { until } from '../helpers/wait.js'

const REQUESTS = 120
const CONCURRENCY = 8
/** Every request makes a request span and one attempt span. */
const SPANS = REQUESTS * 2
const QUEUE = 32

async function residentBytes(relay: RunningRelay): Promise<number> {
  const text = await (await fetch(`${relay.url}/metrics`)).text()
  return Number(/^cc_relay_process_resident_memory_bytes (\d+)/m.exec(text)?.[1])
}

async function dropped(relay: RunningRelay): Promise<Record<string, number>> {
  const text = await (await fetch(`${relay.url}/metrics`)).text()
  const out: Record<string, number> = { queue_full: 0, export_failed: 0 }
  for (const m of text.matchAll(/^cc_relay_telemetry_dropped_total\{reason="(\w+)"\} (\d+)$/gm)) out[m[1]!] = Number(m[2])
  return out
}

/** REQUESTS streamed requests, CONCURRENCY at a time; their statuses. */
async function traffic(relay: RunningRelay): Promise<number[]> {
  const statuses: number[] = []
  const body = JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 10, stream: true, messages: [{ role: 'user', content: 'hi' }] })
  for (let sent = 0; sent < REQUESTS; sent += CONCURRENCY) {
    const wave = Array.from({ length: Math.min(CONCURRENCY, REQUESTS - sent) }, async () => {
      const res = await fetch(`${relay.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
      const text = await res.text()
      return res.status === 200 && text.includes('message_stop') ? 200 : res.status
    })
    statuses.push(...(await Promise.all(wave)))
  }
  return statuses
}

async function relayTo(t: Tap.Test, endpoint: string): Promise<RunningRelay> {
  const upstream = await new MockUpstream().start()
  upstream.handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.end(sse(STREAM_EVENTS as unknown as { type: string }[]))
  }
  const relay = await startRelay(
    `usage: { db: "off" }
providers:
  - { name: up, type: anthropic, base_url: "${upstream.url}", keys: [{ key: k }] }
telemetry: { otlp: { endpoint: "${endpoint}", timeout_ms: 1000 } }
`,
    // A small queue and quick batches, so the bound is reached within the test.
    { env: { OTEL_BSP_SCHEDULE_DELAY: '20', OTEL_BSP_MAX_QUEUE_SIZE: String(QUEUE), OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '16', OTEL_BSP_EXPORT_TIMEOUT: '2000' } },
  )
  t.teardown(async () => {
    await relay.stop()
    await upstream.close()
  })
  return relay
}

/** Every span made is dropped and counted, once the exports in flight have given up. */
async function everySpanCounted(t: Tap.Test, relay: RunningRelay, spans = SPANS): Promise<Record<string, number>> {
  let counts: Record<string, number> = {}
  await until(`all ${spans} spans counted as dropped`, async () => {
    counts = await dropped(relay)
    return counts.queue_full! + counts.export_failed! >= spans
  }, 60_000, 200)
  t.equal(counts.queue_full! + counts.export_failed!, spans, `${spans} spans made, ${spans} counted as dropped (${JSON.stringify(counts)})`)
  return counts
}

t.test('a collector answering 500 throughout: every request succeeds, every span is counted as dropped', async (t) => {
  const rx = await new OtlpReceiver().start()
  rx.mode = 'fail'
  t.teardown(() => rx.close())
  const relay = await relayTo(t, rx.url)
  const statuses = await traffic(relay)
  t.same(statuses.filter((s) => s !== 200), [], `all ${REQUESTS} requests answered 200 with a whole stream`)
  const counts = await everySpanCounted(t, relay)
  t.ok(counts.export_failed! > 0, 'exports were tried and failed')
  t.ok(rx.attempts > 0, 'the relay did post to the collector')
  t.equal(rx.spans.length, 0)
  t.ok(relay.logs.some((l) => l.msg === 'trace spans dropped: the collector is slow, failing or unreachable' && typeof l.collector === 'string'), 'the drop is logged')
  t.notOk(relay.logs.some((l) => l.level !== undefined && Number(l.level) >= 50), 'no error lines')
})

t.test('a collector that never answers: requests succeed, the queue stays at its bound and what overflows is counted', async (t) => {
  const rx = await new OtlpReceiver().start()
  rx.mode = 'hang'
  t.teardown(() => rx.close())
  const relay = await relayTo(t, rx.url)
  await traffic(relay)
  const before = await residentBytes(relay)
  const statuses = [...(await traffic(relay)), ...(await traffic(relay))]
  t.same(statuses.filter((s) => s !== 200), [], `all ${REQUESTS * 2} requests answered 200`)
  const grown = (await residentBytes(relay)) - before
  // Loose on purpose (the heap breathes): spans kept without bound would grow it with every request.
  t.ok(grown < 64 * 2 ** 20, `resident memory grew ${(grown / 2 ** 20).toFixed(1)} MiB over ${REQUESTS * 2} more requests`)
  const counts = await everySpanCounted(t, relay, SPANS * 3)
  // One export at a time is in flight and waits out its timeout: the queue fills and turns spans away.
  t.ok(counts.queue_full! > 0, `spans beyond the queue's ${QUEUE} were turned away, not kept (${counts.queue_full})`)
  t.ok(counts.export_failed! > 0, 'the exports that waited timed out and were counted')
})

t.test('no collector at all (connection refused): requests succeed, spans are counted', async (t) => {
  // A port that was free a moment ago: nothing listens there.
  const probe = createServer()
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r))
  const port = (probe.address() as AddressInfo).port
  await new Promise<void>((r) => probe.close(() => r()))
  const relay = await relayTo(t, `http://127.0.0.1:${port}`)
  const statuses = await traffic(relay)
  t.same(statuses.filter((s) => s !== 200), [], `all ${REQUESTS} requests answered 200`)
  await everySpanCounted(t, relay)
})
