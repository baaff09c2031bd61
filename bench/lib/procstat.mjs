// What a process costs, read from /proc (Linux): CPU seconds (all threads, user + system) and resident
// memory. The relay's worker threads are threads of the same process, so they are included.
import { readFileSync } from 'node:fs'

const TICKS_PER_SECOND = 100 // USER_HZ on Linux

/** User and system CPU seconds from a `stat` file's text (a process's or one thread's). */
function timesOf(stat) {
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return { user: Number(fields[11]) / TICKS_PER_SECOND, system: Number(fields[12]) / TICKS_PER_SECOND }
}

/** User and system CPU seconds of the whole process (every thread, those that have ended included). */
export function cpuTimes(pid) {
  return timesOf(readFileSync(`/proc/${pid}/stat`, 'utf8'))
}

export function cpuSeconds(pid) {
  const { user, system } = cpuTimes(pid)
  return user + system
}

/** The command name of one thread (`comm`: 15 bytes at most, settable per thread). */
export function threadName(pid, tid) {
  return readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim()
}

/**
 * Seconds one thread of `pid` has run on a CPU, to the nanosecond (the scheduler's own count, the first
 * field of `schedstat`): per-thread `stat` times are whole clock ticks, and a dozen threads' rounding
 * adds up to more than a short run's differences. null where the kernel has no schedstat.
 */
export function threadRunSeconds(pid, tid) {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e9
  } catch {
    return null
  }
}

/** User and system CPU seconds of one thread of `pid`. */
export function threadTimes(pid, tid) {
  return timesOf(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'))
}

export function rssMb(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) / 1024 : 0
}

/** Samples RSS every `everyMs` until stopped; returns the peak in MB. */
export function rssPeak(pid, everyMs = 50) {
  let peak = rssMb(pid)
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssMb(pid))
    } catch {
      // The process ended.
    }
  }, everyMs)
  return () => {
    clearInterval(timer)
    return peak
  }
}

/** The processes `pid` started (nginx's master: its worker). */
export function childPids(pid) {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number)
}
