// The bench scenarios. `params` go to the mock in the `x-bench` header (bench/lib/shape.mjs).
// A scenario with `setup` runs against the arms that function starts instead of the common ones, and
// `compare` names the arms whose differences it reports (report.mjs `versus`).
import { sharedRedisUnavailable, startSharedRedisArms } from './lib/shared-redis.mjs'

export const SCENARIOS = [
  {
    name: 'passthrough-c16',
    what: 'Claude Code shape: 100 small text deltas per stream, 16 concurrent streams (closed loop)',
    params: { events: 100, bytes: 48, thinking: 1, tool: 1 },
    concurrency: 16,
  },
  {
    name: 'passthrough-c256',
    what: 'the same stream shape at 256 concurrent streams (throughput)',
    params: { events: 100, bytes: 48, thinking: 1, tool: 1 },
    concurrency: 256,
  },
  {
    name: 'passthrough-open',
    what: 'open loop: a fixed 200 streams/s arrival rate; first-event time counted from the scheduled start',
    params: { events: 100, bytes: 48 },
    mode: 'open',
    rate: 200,
    concurrency: 512,
  },
  {
    name: 'non-streaming',
    what: 'small non-streaming answers, 16 concurrent',
    params: { events: 10, bytes: 48, stream: 0 },
    concurrency: 16,
  },
  {
    name: 'large-request',
    what: '200 KB request bodies (a long conversation), 20-delta streams, 16 concurrent',
    params: { events: 20, bytes: 48 },
    requestBytes: 200_000,
    concurrency: 16,
  },
  {
    name: 'many-streams',
    what: '1,000 concurrent slow streams (20 deltas, 100 ms apart): memory and fairness',
    params: { events: 20, bytes: 48, ttfe_ms: 100, gap_ms: 100 },
    concurrency: 1000,
    requests: 1000,
  },
  {
    name: 'bedrock',
    what: 'translation path: the relay reads Bedrock event-stream (SigV4-signed requests) and sends Anthropic SSE; direct and plain proxy read the same stream as SSE; 16 concurrent',
    params: { events: 100, bytes: 48, thinking: 1, tool: 1 },
    model: 'claude-bench-bedrock',
    concurrency: 16,
  },
  {
    name: 'failover',
    what: 'every 4th request to the first provider answers 529 and fails over to a second one, 16 concurrent (direct and plain proxy: no faults)',
    params: { events: 100, bytes: 48 },
    model: 'claude-bench-failover',
    concurrency: 16,
  },
  {
    name: 'shared-redis',
    what: 'state.store: redis — the passthrough-c16 stream on a key with an rpm limit that never binds, so every request pays the Redis admission round trip: two relays sharing one redis-server (requests alternate between them) against one relay with the memory store, and against two on the memory store (the control: what two processes cost on these cores)',
    params: { events: 100, bytes: 48, thinking: 1, tool: 1 },
    concurrency: 16,
    setup: startSharedRedisArms,
    compare: { base: 'memory', arm: 'redis-2', control: 'memory-2' },
    unavailable: sharedRedisUnavailable(),
  },
]
