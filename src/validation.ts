import type { FastifySchemaCompiler } from 'fastify'
import { Ajv, type Options, type ValidateFunction } from 'ajv'
import addFormats from 'ajv-formats'

function makeAjv(options: Options): Ajv {
  const ajv = new Ajv({ removeAdditional: false, useDefaults: true, allErrors: false, strict: false, ...options })
  addFormats.default(ajv)
  return ajv
}

/** Why PostgreSQL cannot store `text` as it is (NUL; a lone surrogate, which JSONB refuses), or null. */
export function unstorable(text: string): string | null {
  if (text.includes('\u0000')) return 'must not contain NUL characters'
  if (!text.isWellFormed()) return 'must be valid Unicode (it holds half of a surrogate pair)'
  return null
}

/** The JSON pointer (`/messages/0/content`) and the reason of the first string in `value` that PostgreSQL cannot store, if any. */
export function findUnstorable(value: unknown, path = ''): { path: string; reason: string } | null {
  if (typeof value === 'string') {
    const reason = unstorable(value)
    return reason === null ? null : { path, reason }
  }
  if (value && typeof value === 'object') {
    for (const key in value) {
      const found = findUnstorable(key, `${path}/${key}`) ?? findUnstorable((value as Record<string, unknown>)[key], `${path}/${key}`)
      if (found !== null) return found
    }
  }
  return null
}

/**
 * The deepest nesting of arrays and objects in JSON text, read without parsing (so without
 * recursion): brackets inside strings do not count. Malformed text is left for the parser to refuse.
 */
export function jsonDepth(text: string): number {
  let depth = 0
  let deepest = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x22) {
      // A string: jump to its closing quote (most of a file is strings; indexOf is far faster than a loop).
      let end = text.indexOf('"', i + 1)
      while (end !== -1 && isEscaped(text, end)) end = text.indexOf('"', end + 1)
      if (end === -1) break
      i = end
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > deepest) deepest = depth
    } else if (c === 0x7d || c === 0x5d) depth--
  }
  return deepest
}

/** Whether the quote at `at` is escaped: an odd number of backslashes before it. */
function isEscaped(text: string, at: number): boolean {
  let backslashes = 0
  while (text.charCodeAt(at - 1 - backslashes) === 0x5c) backslashes++
  return backslashes % 2 === 1
}

type Validate = ValidateFunction & ((data: unknown, context?: unknown) => boolean)

/**
 * `validate`, first refusing a string that PostgreSQL cannot store: a 400 like any other validation
 * error (`body/title must not contain NUL characters`). Done here rather than in a hook so that a
 * request without a body or query schema runs no hook for it. (Bodies are bounded in depth before
 * this walk: src/plugins/input.ts.)
 */
function rejectingUnstorable(validate: Validate): Validate {
  const checked = ((data: unknown, context?: unknown) => {
    const found = findUnstorable(data)
    if (found !== null) {
      checked.errors = [{ instancePath: found.path, schemaPath: '#', keyword: 'unstorable', params: {}, message: found.reason }]
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
 * Bodies and query strings are also refused if a string in them (or a key) holds NUL or a lone surrogate.
 */
export function validatorCompiler(): FastifySchemaCompiler<unknown> {
  const coercing = makeAjv({ coerceTypes: 'array' })
  const strict = makeAjv({ coerceTypes: false })
  return ({ schema, httpPart }) => {
    const validate = (httpPart === 'body' ? strict : coercing).compile(schema as object) as Validate
    return httpPart === 'body' || httpPart === 'querystring' ? rejectingUnstorable(validate) : validate
  }
}
