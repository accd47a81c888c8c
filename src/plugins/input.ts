import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { badRequest } from '../errors.ts'

/** The path (`body/messages/0/content`) of the first string holding U+0000 in `value`, if any. */
export function findNul(value: unknown, path: string): string | null {
  if (typeof value === 'string') return value.includes('\u0000') ? path : null
  if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      const found = findNul(item, `${path}/${key}`)
      if (found) return found
    }
  }
  return null
}

/**
 * Request bodies: an empty or missing body counts as `{}` (clients POST with a JSON content type and
 * nothing in it), and no string in a body or query may hold NUL, which PostgreSQL cannot store.
 */
export default fp(
  async (app) => {
    const parseJson = app.getDefaultJsonParser('error', 'error')
    app.removeContentTypeParser('application/json')
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
      if (typeof body === 'string' && body.trim() === '') return done(null, undefined)
      return parseJson(request, body as string, done)
    })

    app.addHook('preValidation', (request: FastifyRequest, _reply, done) => {
      // No body at all reads as an empty object, so "POST with no body" and "POST {}" are one case.
      if (request.body === undefined && request.routeOptions.schema?.body) request.body = {}
      const found = findNul(request.body, 'body') ?? findNul(request.query, 'querystring')
      done(found ? badRequest(`${found} must not contain NUL characters`) : undefined)
    })
  },
  { name: 'input' }
)
