/**
 * The mutations the seeded end-to-end fuzz runs share (test/e2e/fuzz*.test.ts): byte-level damage any
 * body, form or token can take, and the running tally of what the relay answered. Everything draws from
 * one seeded PRNG (prng.ts), so a failing run replays exactly from the seed it prints.
 */
import { connect } from 'node:net'

export type Rng = () => number
export const int = (r: Rng, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1))
export const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!

/** Bytes that mean something to JSON, forms, base64url or UTF-8 decoders. */
export const INTERESTING = [0x00, 0x01, 0x09, 0x0a, 0x0d, 0x1f, 0x20, 0x22, 0x25, 0x26, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x3a, 0x3d, 0x5b, 0x5c, 0x5d, 0x5f, 0x7b, 0x7d, 0x7f, 0x80, 0xbf, 0xc0, 0xc3, 0xe2, 0xed, 0xf0, 0xf4, 0xf5, 0xff]
/** Invalid UTF-8: a lone continuation, an overlong form, a lone surrogate, a cut sequence, a 5-byte form, 0xff. */
export const BAD_UTF8 = [[0x80], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe6, 0x97], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xff]]

const someByte = (r: Rng): number => (r() < 0.7 ? pick(r, INTERESTING) : int(r, 0, 255))

export const truncate = (r: Rng, base: Buffer): Buffer => base.subarray(0, int(r, 0, base.length))
export const insertBytes = (r: Rng, base: Buffer): Buffer => {
  const at = int(r, 0, base.length)
  return Buffer.concat([base.subarray(0, at), Buffer.from(Array.from({ length: int(r, 1, 4) }, () => someByte(r))), base.subarray(at)])
}
export const flipByte = (r: Rng, base: Buffer): Buffer => {
  const copy = Buffer.from(base)
  if (copy.length) copy[int(r, 0, copy.length - 1)] = someByte(r)
  return copy
}
export const deleteRange = (r: Rng, base: Buffer): Buffer => {
  const at = int(r, 0, base.length)
  return Buffer.concat([base.subarray(0, at), base.subarray(Math.min(base.length, at + int(r, 1, 40)))])
}
/** Invalid UTF-8 right after the first `"` at or past a random point (inside a string, where it matters most). */
export const badUtf8 = (r: Rng, base: Buffer): Buffer => {
  const at = int(r, 0, base.length)
  const quote = base.indexOf(0x22, at)
  const where = quote < 0 ? at : quote + 1
  return Buffer.concat([base.subarray(0, where), Buffer.from(pick(r, BAD_UTF8)), base.subarray(where)])
}
/** A random slice of the input repeated: length fields and counts that no longer agree with the bytes. */
export const duplicateSlice = (r: Rng, base: Buffer): Buffer => {
  const from = int(r, 0, base.length)
  const slice = base.subarray(from, Math.min(base.length, from + int(r, 1, 64)))
  const at = int(r, 0, base.length)
  return Buffer.concat([base.subarray(0, at), slice, slice, base.subarray(at)])
}

const BYTE_MUTATIONS = [truncate, insertBytes, flipByte, deleteRange, badUtf8, duplicateSlice]

/** One to three byte-level mutations of `base`. */
export function mutateBytes(r: Rng, base: Buffer): Buffer {
  let out = base
  for (let n = int(r, 1, 3); n > 0; n--) out = pick(r, BYTE_MUTATIONS)(r, out)
  return out
}

/** A header value fetch will send: the mutated bytes as latin1, without CR, LF and NUL (undici refuses those itself). */
export const headerSafe = (b: Buffer): string => b.toString('latin1').replace(/[\r\n\0]/g, '')

/** Writes `raw` on a fresh connection, half-closes, and reads whatever comes back until the relay closes. */
export function rawExchange(url: string, raw: string | Buffer, ms = 15_000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = connect(Number(new URL(url).port), '127.0.0.1')
    let text = ''
    const timer = setTimeout(() => {
      socket.destroy()
      resolve({ text, closed: false })
    }, ms)
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')))
    socket.on('error', () => {})
    socket.on('close', () => {
      clearTimeout(timer)
      resolve({ text, closed: true })
    })
    socket.end(raw)
  })
}

export interface Finding {
  readonly index: number
  readonly what: string
  readonly input: string
}

/** Runs `count` cases on `workers` concurrent loops (each case's own index, so the order never changes what a case is). */
export async function runCases(count: number, workers: number, run: (index: number) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    for (let i = next++; i < count; i = next++) await run(i)
  }
  await Promise.all(Array.from({ length: workers }, worker))
}
