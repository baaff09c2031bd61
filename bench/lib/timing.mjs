// Timing of a synchronous function for the micro benches (bench/body-scan.mjs, bench/rules.mjs): a
// warm-up, then `runs` timed calls; the samples in µs, sorted.
export function timeRuns(fn, runs) {
  for (let i = 0; i < Math.min(200, runs); i++) fn()
  const samples = []
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint()
    fn()
    samples.push(Number(process.hrtime.bigint() - t0) / 1000)
  }
  return samples.sort((a, b) => a - b)
}

/** The `q` quantile of sorted samples. */
export const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
