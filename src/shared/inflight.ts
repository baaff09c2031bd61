/**
 * The requests in flight, so a shutdown can wait for them and end the rest.
 *
 * Not a `Set`: a Set that every request enters and leaves is rehashed every few hundred requests, and
 * V8 keeps each retired hash table (old space, for live iterators) pointing at the requests it held.
 * Those dead tables kept every finished request's objects alive through young-generation GCs until the
 * next full GC: ~7 KB promoted per request, scavenge pauses of 5–15 ms and the relay's p99 under load
 * (bench/README.md, "The latency tail"). Slots in one array that is overwritten in place retire nothing.
 */
export class Inflight<T> {
  readonly #slots: (T | undefined)[] = []
  readonly #free: number[] = []
  #size = 0

  get size(): number {
    return this.#size
  }

  /** Registers `item`; the returned function removes it (idempotent). */
  add(item: T): () => void {
    const slot = this.#free.length > 0 ? this.#free.pop()! : this.#slots.push(undefined) - 1
    this.#slots[slot] = item
    this.#size++
    let removed = false
    return () => {
      if (removed) return
      removed = true
      this.#slots[slot] = undefined
      this.#free.push(slot)
      this.#size--
    }
  }

  /** A copy, so ending a request while iterating is safe. */
  items(): T[] {
    return this.#slots.filter((item): item is T => item !== undefined)
  }
}
