import type { preValidationHookHandler } from 'fastify'
import fp from 'fastify-plugin'

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
      if (typeof body === 'string' && body.trim() === '') return done(null, undefined)
      return parseJson(request, body as string, done)
    })

    app.addHook('onRoute', (route) => {
      if (!route.schema?.body) return
      const hooks = route.preValidation
      route.preValidation = [...(hooks === undefined ? [] : Array.isArray(hooks) ? hooks : [hooks]), emptyBodyAsObject]
    })
  },
  { name: 'input' }
)
