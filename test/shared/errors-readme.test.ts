/**
 * The error table in docs/errors.md and the error catalog must say the same thing, in both directions.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ERRORS } from '../../src/shared/errors.js'

const readme = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'errors.md'), 'utf8')
const table = /<!-- errors-table[^>]*-->\n([\s\S]*?)<!-- \/errors-table -->/.exec(readme)?.[1] ?? ''
const rows = table
  .split('\n')
  .filter((l) => l.startsWith('| `'))
  .map((l) => l.split('|').slice(1, -1).map((c) => c.trim()))

const ANTHROPIC_TYPES = new Set([
  'invalid_request_error',
  'authentication_error',
  'permission_error',
  'not_found_error',
  'request_too_large',
  'rate_limit_error',
  'api_error',
  'timeout_error',
  'overloaded_error',
  'billing_error',
])

t.test('every catalog code is in the docs/errors.md table with its status, type and description', async (t) => {
  t.equal(rows.length, Object.keys(ERRORS).length, 'one row per code')
  for (const [code, spec] of Object.entries(ERRORS)) {
    const row = rows.find((r) => r[0] === `\`${code}\``)
    t.ok(row, `${code} has a row`)
    if (!row) continue
    t.same(row.slice(1), [String(spec.status), `\`${spec.type}\``, spec.when], code)
  }
})

t.test('every docs/errors.md row names a catalog code', async (t) => {
  for (const row of rows) t.ok(row[0]!.slice(1, -1) in ERRORS, `${row[0]} is in the catalog`)
})

t.test('every type is an Anthropic error type and statuses match CONTRACT §6', async (t) => {
  const contractStatus: Record<string, number> = {
    invalid_request_error: 400,
    authentication_error: 401,
    permission_error: 403,
    not_found_error: 404,
    request_too_large: 413,
    rate_limit_error: 429,
    billing_error: 429,
    timeout_error: 504,
    overloaded_error: 529,
  }
  for (const [code, spec] of Object.entries(ERRORS)) {
    t.ok(ANTHROPIC_TYPES.has(spec.type), `${code}: ${spec.type}`)
    const expected = contractStatus[spec.type]
    // 405 is CONTRACT's one invalid_request_error that is not a 400; api_error is 500 or 502.
    if (spec.type === 'api_error') t.ok([500, 502].includes(spec.status), code)
    else if (code !== 'method_not_allowed') t.equal(spec.status, expected, code)
  }
})
