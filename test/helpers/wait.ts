/**
 * Waits with deadlines: a broken relay fails the test with a message that says what did not happen,
 * instead of hanging the file until tap's own timeout kills it without one.
 */

/** Polls `check` every `everyMs` until it holds; rejects after `ms` naming `what` did not happen. */
export async function until(what: string, check: () => boolean | Promise<boolean>, ms = 20_000, everyMs = 50): Promise<void> {
  const deadline = Date.now() + ms
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error(`${what}: did not happen within ${ms} ms`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

/** `promise`, or a rejection naming `what` after `ms`. */
export function within<T>(what: string, promise: Promise<T>, ms = 20_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: did not happen within ${ms} ms`)), ms)
  })
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer))
}

/** Reads a response body to its end; rejects naming `what` after `ms` (the reader is cancelled then). */
export async function drain(reader: ReadableStreamDefaultReader<Uint8Array>, ms = 20_000, what = 'the body ends'): Promise<void> {
  const read = async (): Promise<void> => {
    while (!(await reader.read()).done);
  }
  try {
    await within(what, read(), ms)
  } catch (err) {
    void reader.cancel().catch(() => undefined)
    throw err
  }
}
