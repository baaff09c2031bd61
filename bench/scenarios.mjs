// The bench scenarios. `params` go to the mock in the `x-bench` header (bench/lib/shape.mjs).
// A scenario with `setup` runs against the arms that function starts instead of the common ones, and
// `compare` names the arms whose differences it reports (report.mjs `versus`).
// `quick` overrides fields under --quick (a correctness smoke, not a measurement): paced streams get
// fewer events so each stream ends well inside the short run. `perStream`: report RSS growth per open
// stream (peak during the run − the idle arm's RSS just before it, over `concurrency`).
// `requestShape`: 'claude-code' sends bench/lib/shape.mjs claudeCodeBody, otherwise plain prose turns.
import { sharedRedisUnavailable, startSharedRedisArms } from './lib/shared-redis.mjs'

export const SCENARIOS = [
  {
    name: 'paced-256',
    what: "streams paced like a model's tokens: thinking, 100 text deltas 10 ms apart, a tool call; 256 concurrent streams (closed loop)",
    params: { events: 100, bytes: 48, thinking: 1, tool: 1, gap_ms: 10 },
    concurrency: 256,
    quick: { params: { events: 10 } },
  },
  {
    name: 'paced-1000',
    what: 'the same paced streams, 1,000 concurrent (closed loop): also the open-streams memory figure (RSS growth per open stream)',
    params: { events: 100, bytes: 48, thinking: 1, tool: 1, gap_ms: 10 },
    concurrency: 1000,
    perStream: true,
    quick: { params: { events: 10 } },
  },
  {
    name: 'burst-64',
    what: 'the same stream shape with every delta in one burst (no gaps): 100 text deltas, 64 concurrent streams',
    params: { events: 100, bytes: 48, thinking: 1, tool: 1, gap_ms: 0 },
    concurrency: 64,
  },
  {
    name: 'claude-code',
    what: 'a Claude Code turn: a 150 KB request (system blocks, tools, thinking, a tool_use/tool_result history), a thinking block, 300 text deltas 5 ms apart, a tool call; 16 concurrent',
    params: { events: 300, bytes: 48, thinking: 1, tool: 1, gap_ms: 5 },
    requestBytes: 150_000,
    requestShape: 'claude-code',
    concurrency: 16,
    quick: { params: { events: 40 } },
  },
  {
    name: 'open-200',
    what: 'open loop: 200 new paced streams per second (100 deltas 10 ms apart); first-event time counted from the scheduled start',
    params: { events: 100, bytes: 48, thinking: 1, tool: 1, gap_ms: 10 },
    mode: 'open',
    rate: 200,
    concurrency: 512,
    quick: { params: { events: 10 } },
  },
  {
    name: 'non-streaming',
    what: 'small non-streaming answers, 16 concurrent',
    params: { events: 10, bytes: 48, stream: 0 },
    concurrency: 16,
  },
  {
    name: 'team',
    what: "small non-streaming answers for a team client with a budget, 16 concurrent: every request checks the budget and is booked in the usage ledger (the file store; the [memory-ledger] arm keeps it in memory)",
    params: { events: 10, bytes: 48, stream: 0 },
    clientKey: 'bench-team-key',
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
    quick: { params: { events: 5, ttfe_ms: 50, gap_ms: 50 } },
  },
  {
    name: 'bedrock',
    what: 'translation path: the relay reads Bedrock event-stream (SigV4-signed requests) and sends Anthropic SSE; the other arms pass the same stream through as SSE; 16 concurrent',
    params: { events: 100, bytes: 48, thinking: 1, tool: 1 },
    model: 'claude-bench-bedrock',
    concurrency: 16,
  },
  {
    name: 'openai',
    what: "translation path: the relay sends Chat Completions to an OpenAI-compatible upstream and turns its chunks into Anthropic SSE; the other arms pass the mock's Anthropic SSE through; 64 concurrent, as burst-64 (the same stream), which it is compared with",
    params: { events: 100, bytes: 48, thinking: 1, tool: 1 },
    model: 'claude-bench-openai',
    translated: 'openai',
    concurrency: 64,
  },
  {
    name: 'failover',
    what: 'every 4th request to the first provider answers 529 and fails over to a second one, 16 concurrent (the arms that are not cc-relay see no faults)',
    params: { events: 100, bytes: 48 },
    model: 'claude-bench-failover',
    concurrency: 16,
  },
  {
    name: 'shared-redis',
    what: 'state.store: redis — the burst stream (100 deltas, no gaps), 16 concurrent, on a key with an rpm limit that never binds, so every request pays the Redis admission round trip: two relays sharing one redis-server (requests alternate between them) against one relay with the memory store, and against two on the memory store (the control: what two processes cost on these cores)',
    params: { events: 100, bytes: 48, thinking: 1, tool: 1 },
    concurrency: 16,
    setup: startSharedRedisArms,
    compare: { base: 'memory', arm: 'redis-2', control: 'memory-2' },
    unavailable: sharedRedisUnavailable(),
  },
]
