import type { FastifySchemaCompiler } from 'fastify'
import { Ajv, type Options, type ValidateFunction } from 'ajv'
import addFormats from 'ajv-formats'

function makeAjv(options: Options): Ajv {
  const ajv = new Ajv({ removeAdditional: false, useDefaults: true, allErrors: false, strict: false, ...options })
  addFormats.default(ajv)
  return ajv
}

/** The JSON pointer (`/messages/0/content`) of the first string in `value` holding U+0000, if any. */
export function findNul(value: unknown, path = ''): string | null {
  if (typeof value === 'string') return value.includes('\u0000') ? path : null
  if (value && typeof value === 'object') {
    for (const key in value) {
      const found = findNul((value as Record<string, unknown>)[key], `${path}/${key}`)
      if (found !== null) return found
    }
  }
  return null
}

type Validate = ValidateFunction & ((data: unknown, context?: unknown) => boolean)

/**
 * `validate`, first refusing a string that holds NUL, which PostgreSQL cannot store: a 400 like any
 * other validation error (`body/title must not contain NUL characters`). Done here rather than in a
 * hook so that a request without a body or query schema runs no hook for it.
 */
function rejectingNul(validate: Validate): Validate {
  const checked = ((data: unknown, context?: unknown) => {
    const path = findNul(data)
    if (path !== null) {
      checked.errors = [{ instancePath: path, schemaPath: '#', keyword: 'nul', params: {}, message: 'must not contain NUL characters' }]
      return false
    }
    const valid = validate(data, context)
    checked.errors = validate.errors
    return valid
  }) as Validate
  // Fastify passes Ajv's own validators (they have a schemaEnv) the request as the data's parent.
  return Object.assign(checked, { schemaEnv: validate.schemaEnv, errors: null })
}

/**
 * Query strings and path parameters arrive as text, so they are coerced to their declared types;
 * bodies are JSON and must already have them (`{"title": 5}` is a 400, not the title "5").
 * Unknown properties are never stripped silently: `additionalProperties: false` rejects them.
 * Bodies and query strings are also refused if a string in them holds NUL.
 */
export function validatorCompiler(): FastifySchemaCompiler<unknown> {
  const coercing = makeAjv({ coerceTypes: 'array' })
  const strict = makeAjv({ coerceTypes: false })
  return ({ schema, httpPart }) => {
    const validate = (httpPart === 'body' ? strict : coercing).compile(schema as object) as Validate
    return httpPart === 'body' || httpPart === 'querystring' ? rejectingNul(validate) : validate
  }
}
