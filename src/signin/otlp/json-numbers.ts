/**
 * OTLP/JSON carries 64-bit integers (timestamps in nanoseconds, counts) that JSON.parse would round to
 * the nearest double: 1765000000123456789 comes back as 1765000000123456800. The proto3 JSON mapping
 * lets an integer (or a double) be written as a decimal string, so an integer literal past 2^53 is
 * quoted before parsing and the batch is forwarded with every digit intact.
 */

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39
/** A JSON integer: no leading zero (so quoting never turns invalid JSON into valid JSON). */
const INTEGER = /^-?(?:0|[1-9]\d*)$/

export function quoteUnsafeIntegers(text: string): string {
  // 2^53 has 16 digits: without such a run there is nothing to quote.
  if (!/\d{16}/.test(text)) return text
  let out = ''
  let copied = 0
  let i = 0
  const n = text.length
  while (i < n) {
    const c = text.charCodeAt(i)
    if (c === 0x22) {
      // A string: skipped whole, escapes included.
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i)
        if (d === 0x5c) i++
        else if (d === 0x22) break
      }
      i++
      continue
    }
    if (c !== 0x2d && !isDigit(c)) {
      i++
      continue
    }
    const start = i
    i++
    while (i < n && isDigit(text.charCodeAt(i))) i++
    const token = text.slice(start, i)
    const next = text[i]
    if (next !== '.' && next !== 'e' && next !== 'E' && INTEGER.test(token) && !Number.isSafeInteger(Number(token))) {
      out += `${text.slice(copied, start)}"${token}"`
      copied = i
      continue
    }
    // The rest of a number with a fraction or an exponent is left as it is.
    while (i < n && /[\d.eE+-]/.test(text[i]!)) i++
  }
  return copied === 0 ? text : out + text.slice(copied)
}
