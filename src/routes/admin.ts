import { createHash, timingSafeEqual } from 'node:crypto'
import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { USER_ID_PATTERN } from '../domain.ts'
import { badRequest, notFound, unauthorized } from '../errors.ts'
import { bearerToken } from '../plugins/auth.ts'
import { errorResponses } from './schemas.ts'
import { Usage } from './usage.ts'

const digest = (value: string) => createHash('sha256').update(value).digest()

/** Constant-time: equal-length digests, so neither the length nor a matching prefix leaks through timing. */
export function tokenMatches(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected))
}

/**
 * /api/admin/*: guarded by ADMIN_TOKEN instead of user credentials. With no ADMIN_TOKEN
 * configured the routes do not exist (404), so an unset token can never be guessed.
 */
const adminRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const token = app.config.adminToken

  app.addHook('onRequest', async (request: FastifyRequest) => {
    if (!token) throw notFound(`Route ${request.method} ${request.url.split('?')[0]} not found`)
    const given = bearerToken(request)
    if (!given || !tokenMatches(given, token)) throw unauthorized('a valid admin token is required')
  })

  app.put(
    '/admin/users/:userId/tier',
    {
      schema: {
        summary: "Set a user's tier (creates the user's usage row if needed, clears per-user limits)",
        params: Type.Object(
          { userId: Type.String({ pattern: USER_ID_PATTERN }) },
          { additionalProperties: false }
        ),
        body: Type.Object({ tier: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false }),
        response: { 200: Usage, ...errorResponses(400, 401, 404) }
      }
    },
    async (request) => {
      const tier = request.body.tier.toLowerCase()
      if (!app.config.usageLimits.has(tier)) {
        throw badRequest(`body/tier must be one of: ${[...app.config.usageLimits.keys()].join(', ')}`)
      }
      return app.repos.usage.setTier(request.params.userId, tier)
    }
  )
}

export default adminRoutes
