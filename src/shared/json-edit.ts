/**
 * Targeted edits of a JSON object's top level, on bytes: every byte outside the edited member stays as
 * the client sent it (key order, spacing, number formatting, fields the relay has never heard of).
 * These are the `BodyTools` plugins receive.
 */
import type { BodyTools } from '../../plugins/sdk.js'
import { removeCacheScope } from './cache-scope.js'
import { findMember, memberValue, scanObject } from './json-scan.js'
import type { MemberSpan } from './json-scan.js'

/** Bodies edited here passed the ingress's validating scan already (or were built by the relay). */
function members(body: Uint8Array): readonly MemberSpan[] {
  const scan = scanObject(body, { trusted: true })
  if (!scan.ok) throw new Error(`body is not a JSON object: ${scan.error}`)
  return scan.members
}

/** `body` with bytes [start, end) replaced by `insert`. One copy of the body. */
export function splice(body: Uint8Array, start: number, end: number, insert: string): Uint8Array {
  const ins = Buffer.from(insert, 'utf8')
  const out = Buffer.allocUnsafe(body.byteLength - (end - start) + ins.byteLength)
  out.set(body.subarray(0, start), 0)
  out.set(ins, start)
  out.set(body.subarray(end), start + ins.byteLength)
  return out
}

export function setField(body: Uint8Array, key: string, json: string): Uint8Array {
  const all = members(body)
  const found = findMember(body, all, key)
  if (found) return splice(body, found.valueStart, found.valueEnd, json)
  const last = all[all.length - 1]
  const member = `${JSON.stringify(key)}:${json}`
  if (last) return splice(body, last.valueEnd, last.valueEnd, `,${member}`)
  // An empty object: insert just after its opening brace.
  const open = Buffer.from(body.buffer, body.byteOffset, body.byteLength).indexOf(0x7b)
  return splice(body, open + 1, open + 1, member)
}

export function deleteField(body: Uint8Array, key: string): Uint8Array {
  const all = members(body)
  const index = all.findIndex((m) => m === findMember(body, [m], key))
  const found = all[index]
  if (!found) return body
  const prev = all[index - 1]
  const next = all[index + 1]
  // Take the separating comma with the member: the one before it, or for the first member the one after.
  if (prev) return splice(body, prev.valueEnd, found.valueEnd, '')
  if (next) return splice(body, found.keyStart, next.keyStart, '')
  return splice(body, found.keyStart, found.valueEnd, '')
}

export function getField(body: Uint8Array, key: string): unknown {
  const found = findMember(body, members(body), key)
  return found ? memberValue(body, found) : undefined
}

/** Thrown by `BodyTools.reject`: the chosen backend cannot serve this request. */
export class RejectedRequest extends Error {}

export const bodyTools: BodyTools = {
  setField,
  deleteField,
  getField,
  removeCacheScope,
  reject(message: string): never {
    throw new RejectedRequest(message)
  },
}
