import t from 'tap'
import { prng } from '../helpers/prng.js'
import { EventBoundary } from '../../src/workers/framing/event-boundary.js'
import { STREAM_EVENTS } from '../fixtures/anthropic.js'
import { sse } from '../helpers/mock-upstream.js'


const b = (s: string): Buffer => Buffer.from(s, 'utf8')
const endsAtBoundary = (out: Buffer): boolean => out.length === 0 || out.toString('latin1').endsWith('\n\n') || out.toString('latin1').endsWith('\n\r\n')
const holdsABoundary = (held: Buffer): boolean => /\n\r?\n/.test(held.toString('latin1'))

interface Run {
  readonly outputs: Buffer[]
  readonly rest: Buffer | undefined
  /** Problems seen after some push: an output not ending at a boundary, a held tail containing one. */
  readonly problems: string[]
}

function run(chunks: readonly Buffer[]): Run {
  const boundary = new EventBoundary()
  const outputs: Buffer[] = []
  const problems: string[] = []
  let consumed = 0
  let emitted = 0
  const input = Buffer.concat(chunks)
  for (const chunk of chunks) {
    const out = Buffer.from(boundary.push(chunk))
    consumed += chunk.length
    emitted += out.length
    outputs.push(out)
    if (!endsAtBoundary(out)) problems.push(`output ${JSON.stringify(out.toString())} does not end at a boundary`)
    const held = input.subarray(emitted, consumed)
    if (holdsABoundary(held)) problems.push(`holds back a complete event: ${JSON.stringify(held.toString())}`)
    if (boundary.atBoundary !== (held.length === 0)) problems.push(`atBoundary is ${boundary.atBoundary} with ${held.length} bytes held`)
  }
  return { outputs, rest: boundary.rest(), problems }
}

function splitAt(input: Buffer, cuts: readonly number[]): Buffer[] {
  const chunks: Buffer[] = []
  let from = 0
  for (const cut of [...cuts].sort((x, y) => x - y)) {
    chunks.push(input.subarray(from, cut))
    from = cut
  }
  chunks.push(input.subarray(from))
  return chunks
}

const LF_STREAM = `: keepalive\n\n${sse(STREAM_EVENTS)}event: tail\ndata: "no blank line"\n`
const FIXTURES = {
  lf: b(LF_STREAM),
  crlf: b(LF_STREAM.replace(/\n/g, '\r\n')),
  mixed: b('data: 1\n\r\ndata: 2\r\n\ndata: 3\n\n\n\ndata: é\n\n'),
  noBoundary: b('event: x\ndata: {"half":'),
  empty: b(''),
}

t.test('whole events pass, the unfinished tail is held until rest()', async (t) => {
  const boundary = new EventBoundary()
  t.equal(boundary.atBoundary, true)
  t.equal(boundary.push(b('event: a\ndata: 1\n\nevent: b\nda')).toString(), 'event: a\ndata: 1\n\n')
  t.equal(boundary.atBoundary, false)
  t.equal(boundary.push(b('ta: 2\n')).toString(), '', 'no new boundary: nothing goes out')
  t.equal(boundary.push(b('\nevent: c')).toString(), 'event: b\ndata: 2\n\n', 'a boundary split across chunks')
  t.equal(boundary.rest()?.toString(), 'event: c')
  t.equal(boundary.atBoundary, true)
  t.equal(boundary.rest(), undefined, 'rest() hands the tail out once')
})

t.test('CRLF blank lines are boundaries too', async (t) => {
  const boundary = new EventBoundary()
  t.equal(boundary.push(b('data: 1\r\n\r\ndata: 2\r\n')).toString(), 'data: 1\r\n\r\n')
  t.equal(boundary.push(b('\r')).toString(), '')
  t.equal(boundary.push(b('\n')).toString(), 'data: 2\r\n\r\n')
  t.equal(boundary.atBoundary, true)
  t.equal(boundary.rest(), undefined)
})

t.test('a stream ending at a boundary leaves nothing held', async (t) => {
  const boundary = new EventBoundary()
  const stream = b(sse(STREAM_EVENTS))
  t.same(boundary.push(stream), stream)
  t.equal(boundary.atBoundary, true)
  t.equal(boundary.rest(), undefined)
})

t.test('property: outputs plus rest() equal the input, each output ends at a boundary', async (t) => {
  const random = prng(20250929)
  for (const [name, input] of Object.entries(FIXTURES)) {
    const splittings: Buffer[][] = []
    for (const size of [1, 2, 7, 64, Math.max(1, input.length)]) {
      splittings.push(splitAt(input, Array.from({ length: Math.floor((input.length - 1) / size) }, (_, k) => (k + 1) * size)))
    }
    for (let n = 0; n < 60; n++) {
      const cuts = Array.from({ length: Math.floor(random() * 12) }, () => Math.floor(random() * (input.length + 1)))
      splittings.push(splitAt(input, cuts))
    }
    const problems: string[] = []
    for (const chunks of splittings) {
      const result = run(chunks)
      const joined = Buffer.concat([...result.outputs, result.rest ?? Buffer.alloc(0)])
      if (!joined.equals(input)) problems.push(`${chunks.length} chunks: reassembled ${JSON.stringify(joined.toString())}`)
      problems.push(...result.problems)
    }
    t.same(problems, [], `${name}: ${splittings.length} splittings`)
  }
})
