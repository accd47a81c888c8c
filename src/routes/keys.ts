import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox'
import { HttpError, notFound } from '../errors.ts'
import { MAX_KEYS_PER_USER } from '../repos/api-keys.ts'
import { API_KEY_PREFIX, API_KEY_SHOWN_LENGTH, newToken } from '../services/tokens.ts'
import { errorResponses } from './schemas.ts'

const ApiKey = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  prefix: Type.String({ description: 'the first characters of the key, to tell keys apart' }),
  created_at: Type.String({ format: 'date-time' }),
  last_used_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()])
})

const NewKey = Type.Composite([ApiKey, Type.Object({ key: Type.String({ description: 'the key itself: shown this once, never again' }) })])

/** /api/keys: personal API keys, used as `Authorization: Bearer <key>` in every mode but none. */
const keyRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { apiKeys } = app.repos

  app.get(
    '/keys',
    { schema: { summary: "The caller's API keys (never the keys themselves)", response: { 200: Type.Array(ApiKey), ...errorResponses(401) } } },
    async (request) => apiKeys.list(request.userId)
  )

  app.post(
    '/keys',
    {
      schema: {
        summary: 'Make an API key; the response is the only time it is shown',
        body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 100 }) }, { additionalProperties: false }),
        response: { 201: NewKey, ...errorResponses(400, 401, 409) }
      }
    },
    async (request, reply) => {
      const name = request.body.name.trim()
      if (!name) throw new HttpError(400, 'body/name must not be blank')
      const { token, hash } = newToken(API_KEY_PREFIX)
      const row = await apiKeys.create(request.userId, { name, prefix: token.slice(0, API_KEY_SHOWN_LENGTH), keyHash: hash })
      if (!row) throw new HttpError(409, `at most ${MAX_KEYS_PER_USER} API keys: revoke one first`)
      return reply.code(201).send({ ...row, key: token })
    }
  )

  app.delete(
    '/keys/:id',
    {
      schema: {
        summary: 'Revoke an API key: it stops working at once',
        params: Type.Object({ id: Type.String({ format: 'uuid' }) }, { additionalProperties: false }),
        response: { 204: Type.Null(), ...errorResponses(400, 401, 404) }
      }
    },
    async (request, reply) => {
      if (!(await apiKeys.revoke(request.userId, request.params.id.toLowerCase()))) throw notFound('API key not found')
      return reply.code(204).send(null)
    }
  )
}

export default keyRoutes
