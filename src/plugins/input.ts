import type { preValidationHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { badRequest } from '../errors.ts'
import { jsonDepth } from '../validation.ts'

/** No request body of this API is nested past a few levels; deeper ones are refused before anything walks them. */
export const MAX_BODY_DEPTH = 32

/** No body at all reads as an empty object, so "POST with no body" and "POST {}" are one case. */
const emptyBodyAsObject: preValidationHookHandler = (request, _reply, done) => {
  if (request.body === undefined) request.body = {}
  done()
}

/**
 * Request bodies: an empty or missing body counts as `{}` (clients POST with a JSON content type and
 * nothing in it), on the routes that take a body; only those run a hook for it. (NUL characters in
 * bodies and query strings are refused by the validator, src/validation.ts.)
 */
export default fp(
  async (app) => {
    const parseJson = app.getDefaultJsonParser('error', 'error')
    app.removeContentTypeParser('application/json')
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
      const text = body as string
      if (text.trim() === '') return done(null, undefined)
      if (jsonDepth(text) > MAX_BODY_DEPTH) return done(badRequest(`body is nested more than ${MAX_BODY_DEPTH} levels deep`), undefined)
      return parseJson(request, text, done)
    })

    app.addHook('onRoute', (route) => {
      if (!route.schema?.body) return
      const hooks = route.preValidation
      route.preValidation = [...(hooks === undefined ? [] : Array.isArray(hooks) ? hooks : [hooks]), emptyBodyAsObject]
    })
  },
  { name: 'input' }
)
