/**
 * typebox's raw validation errors → one short problem per mistake. typebox reports an unknown key
 * twice (a `boolean` error at the key and an `additionalProperties` error at its parent) and a
 * union as one error per member plus an `anyOf`: each becomes a single problem here.
 */
import type { Validator } from 'typebox/compile'
import type { TLocalizedValidationError } from 'typebox/error'
import { Settings } from 'typebox/system'
import { pointerToSegments, type Segments } from './paths.js'
import type { ProblemList } from './problems.js'

/** typebox stops at 8 errors by default; a config file may well have more mistakes than that. */
const MAX_ERRORS = 1000

function allErrors(validator: Validator, value: unknown): TLocalizedValidationError[] {
  const previous = Settings.Get().maxErrors
  Settings.Set({ maxErrors: MAX_ERRORS })
  try {
    return validator.Errors(value)
  } finally {
    Settings.Set({ maxErrors: previous })
  }
}

const TYPE_NAMES: Readonly<Record<string, string>> = {
  integer: 'an integer',
  number: 'a number',
  string: 'a string',
  boolean: 'true or false',
  object: 'a mapping',
  array: 'a list',
  null: 'null',
}

const show = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value))

/** The message for one error that is neither a union nor an unknown/missing key. */
function describe(error: TLocalizedValidationError): string {
  switch (error.keyword) {
    case 'type': {
      const types = typeof error.params.type === 'string' ? [error.params.type] : error.params.type
      return `must be ${types.map((type) => TYPE_NAMES[type] ?? type).join(' or ')}`
    }
    case 'minimum':
      return `must be ≥ ${error.params.limit}`
    case 'maximum':
      return `must be ≤ ${error.params.limit}`
    case 'exclusiveMinimum':
      return `must be > ${error.params.limit}`
    case 'exclusiveMaximum':
      return `must be < ${error.params.limit}`
    case 'enum':
      return `must be one of: ${error.params.allowedValues.map(show).join(', ')}`
    case 'const':
      return `must be ${show(error.params.allowedValue)}`
    case 'minLength':
      return error.params.limit === 1 ? 'must not be empty' : `must be at least ${error.params.limit} characters`
    case 'minItems':
      return `must have at least ${error.params.limit} item${error.params.limit === 1 ? '' : 's'}`
    default:
      return error.message
  }
}

/** One message for a failed union: `must be one of: a, b` for literals, else its members' messages. */
function describeUnion(members: readonly TLocalizedValidationError[], instancePath: string): string {
  const here = members.filter((member) => member.instancePath === instancePath)
  if (here.length === 0 || here.length < members.length) return 'does not match any of the allowed forms'
  const consts = here.flatMap((member) => (member.keyword === 'const' ? [show(member.params.allowedValue)] : []))
  if (consts.length === here.length) return `must be one of: ${consts.join(', ')}`
  const alternatives = [...new Set(here.map((member) => describe(member).replace(/^must be /, '')))]
  return `must be ${alternatives.join(' or ')}`
}

/**
 * Validates `value` and adds a problem per mistake; `base` prefixes every path (a provider's
 * options are checked on their own but live at `providers[i]`).
 */
export function checkSchema(validator: Validator, value: unknown, base: Segments, problems: ProblemList): void {
  if (validator.Check(value)) return
  const errors = allErrors(validator, value)
  const unionPrefixes = errors.filter((e) => e.keyword === 'anyOf').map((e) => `${e.schemaPath}/anyOf/`)
  const inUnion = (error: TLocalizedValidationError) => unionPrefixes.some((prefix) => error.schemaPath.startsWith(prefix))
  for (const error of errors) {
    if (inUnion(error)) continue
    const at = [...base, ...pointerToSegments(error.instancePath, value)]
    switch (error.keyword) {
      case 'boolean':
        // The parent's additionalProperties error names the same key.
        if (error.schemaPath.endsWith('/additionalProperties')) continue
        problems.add(at, describe(error))
        break
      case 'additionalProperties':
        for (const key of error.params.additionalProperties) problems.add([...at, key], `unknown key "${key}"`)
        break
      case 'required':
        for (const key of error.params.requiredProperties) problems.add([...at, key], 'is required')
        break
      case 'anyOf': {
        const members = errors.filter((e) => e.schemaPath.startsWith(`${error.schemaPath}/anyOf/`))
        problems.add(at, describeUnion(members, error.instancePath))
        break
      }
      default:
        problems.add(at, at.length === 0 ? `the config ${describe(error)}` : describe(error))
    }
  }
}
