/**
 * Relay request ids: `req_ccr_` + a random per-process prefix + a counter. Unique across restarts and
 * instances without a random draw per request.
 */
import { randomBytes } from 'node:crypto'

const prefix = `req_ccr_${randomBytes(6).toString('hex')}`
let counter = 0

export function nextRequestId(): string {
  counter++
  return `${prefix}${counter.toString(36).padStart(6, '0')}`
}
