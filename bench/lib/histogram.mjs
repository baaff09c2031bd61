// A mergeable latency histogram: log-linear buckets (16 per power of two, under 5% error) over
// microseconds. Load processes send their buckets; the bench adds them up across rounds, so
// percentiles are of all samples rather than an average of per-round percentiles.

const SUB = 16

function bucketOf(us) {
  if (us < 1) return 0
  const exp = Math.floor(Math.log2(us))
  const frac = us / 2 ** exp - 1 // 0..1
  return 1 + exp * SUB + Math.floor(frac * SUB)
}

function upperBoundUs(bucket) {
  if (bucket === 0) return 1
  const exp = Math.floor((bucket - 1) / SUB)
  const sub = (bucket - 1) % SUB
  return 2 ** exp * (1 + (sub + 1) / SUB)
}

export class Histogram {
  constructor(counts = {}) {
    this.counts = new Map(Object.entries(counts).map(([k, v]) => [Number(k), v]))
    this.total = [...this.counts.values()].reduce((a, b) => a + b, 0)
  }

  recordMs(ms) {
    const b = bucketOf(ms * 1000)
    this.counts.set(b, (this.counts.get(b) ?? 0) + 1)
    this.total++
  }

  merge(other) {
    for (const [b, c] of other.counts) this.counts.set(b, (this.counts.get(b) ?? 0) + c)
    this.total += other.total
    return this
  }

  /** The value (ms) below which `q` (0..1) of the samples fall; null without samples. */
  quantileMs(q) {
    if (this.total === 0) return null
    const rank = Math.ceil(q * this.total)
    let seen = 0
    for (const b of [...this.counts.keys()].sort((x, y) => x - y)) {
      seen += this.counts.get(b)
      if (seen >= rank) return upperBoundUs(b) / 1000
    }
    return null
  }

  toJSON() {
    return Object.fromEntries(this.counts)
  }
}
