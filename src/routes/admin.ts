import { createHash, timingSafeEqual } from 'node:crypto'
import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { USER_ID_PATTERN } from '../domain.ts'
import { HttpError, badRequest, notFound, unauthorized } from '../errors.ts'
import { bearerToken } from '../plugins/auth.ts'
import { EMAIL, errorResponses } from './schemas.ts'
import { Usage } from './usage.ts'

const digest = (value: string) => createHash('sha256').update(value).digest()

/** Constant-time: equal-length digests, so neither the length nor a matching prefix leaks through timing. */
export function tokenMatches(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected))
}

const UserIdParams = Type.Object({ userId: Type.String({ pattern: USER_ID_PATTERN }) }, { additionalProperties: false })

const AdminUser = Type.Object({
  user_id: Type.String(),
  email: Type.Union([Type.String(), Type.Null()]),
  role: Type.Union([Type.Literal('admin'), Type.Literal('user'), Type.Null()], { description: 'null: no account (a jwt or header user)' }),
  disabled: Type.Boolean(),
  usage: Usage,
  last_active_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  temporary_password: Type.Optional(Type.String({ description: 'after an invite or a password reset: shown this once, to pass on' })),
  claimed_conversations: Type.Optional(Type.Integer())
})

const ADMIN_LIST_MAX = 200

/**
 * /api/admin/*: for ADMIN_TOKEN (scripts) or, with AUTH_MODE=accounts or oidc, a signed-in admin.
 * With neither possible the routes do not exist (404), so an unset token can never be guessed.
 */
const adminRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const token = app.config.adminToken
  const { accountService } = app
  const { accounts, usage } = app.repos

  app.addHook('onRequest', async (request: FastifyRequest) => {
    const given = bearerToken(request)
    if (token && given && tokenMatches(given, token)) return
    if (!accountService) {
      if (!token) throw notFound(`Route ${request.method} ${request.url.split('?')[0]} not found`)
      throw unauthorized('a valid admin token is required')
    }
    const caller = await app.identify(request)
    if (!caller) throw unauthorized('sign in as an admin, or use the admin token')
    if (caller.role !== 'admin') throw new HttpError(403, 'admins only')
    request.caller = caller
    request.userId = caller.userId
  })

  const checkTier = (tier: string) => {
    if (!app.config.usageLimits.has(tier)) throw badRequest(`body/tier must be one of: ${[...app.config.usageLimits.keys()].join(', ')}`)
    return tier
  }
  const accountsOnly = () => {
    if (!accountService) throw badRequest('accounts are off: only tier can be changed (AUTH_MODE is not accounts or oidc)')
    return accountService
  }
  const userView = async (userId: string, extra: { temporary_password?: string; claimed_conversations?: number } = {}) => {
    const [account] = await accounts.list({ limit: 1, after: undefined, only: userId })
    return {
      user_id: userId,
      email: account?.email ?? null,
      role: account?.role ?? null,
      disabled: account?.disabled ?? false,
      last_active_at: account?.last_active_at ?? null,
      usage: (await usage.getMany([userId])).get(userId)!,
      ...extra
    }
  }

  app.put(
    '/admin/users/:userId/tier',
    {
      schema: {
        summary: "Set a user's tier (creates the user's usage row if needed, clears per-user limits)",
        params: UserIdParams,
        body: Type.Object({ tier: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false }),
        response: { 200: Usage, ...errorResponses(400, 401, 403, 404) }
      }
    },
    async (request) => usage.setTier(request.params.userId, checkTier(request.body.tier.toLowerCase()))
  )

  app.get(
    '/admin/users',
    {
      schema: {
        summary: 'Users (accounts, and users with a usage row) by user id, with tier, usage and last activity; `x-next-cursor` while more remain',
        querystring: Type.Object(
          { limit: Type.Integer({ minimum: 1, maximum: ADMIN_LIST_MAX, default: 50 }), after: Type.Optional(Type.String({ pattern: USER_ID_PATTERN })) },
          { additionalProperties: false }
        ),
        response: { 200: Type.Array(AdminUser), ...errorResponses(400, 401, 403, 404) }
      }
    },
    async (request, reply) => {
      const { limit, after } = request.query
      const rows = await accounts.list({ limit: limit + 1, after })
      const page = rows.slice(0, limit)
      if (rows.length > limit) reply.header('x-next-cursor', page.at(-1)!.user_id)
      const figures = await usage.getMany(page.map((row) => row.user_id))
      return page.map((row) => ({ ...row, usage: figures.get(row.user_id)! }))
    }
  )

  app.post(
    '/admin/users',
    {
      schema: {
        summary: 'Invite: make an account for an email (accounts: with a temporary password, shown once)',
        body: Type.Object({ email: EMAIL }, { additionalProperties: false }),
        response: { 201: AdminUser, ...errorResponses(400, 401, 403, 404, 409) }
      }
    },
    async (request, reply) => {
      const { account, temporaryPassword } = await accountsOnly().invite(request.body.email)
      return reply.code(201).send(await userView(account.user_id, temporaryPassword ? { temporary_password: temporaryPassword } : {}))
    }
  )

  app.patch(
    '/admin/users/:userId',
    {
      schema: {
        summary: "Change a user: tier (any user); role, disabled, a temporary password, or claiming a former owner's data (accounts)",
        params: UserIdParams,
        body: Type.Object(
          {
            tier: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
            role: Type.Optional(Type.Union([Type.Literal('admin'), Type.Literal('user')])),
            disabled: Type.Optional(Type.Boolean()),
            reset_password: Type.Optional(Type.Literal(true)),
            claim_from: Type.Optional(Type.String({ pattern: USER_ID_PATTERN, description: "a former owner (such as 'local') whose conversations, usage and keys move to this account" }))
          },
          { additionalProperties: false, minProperties: 1 }
        ),
        response: { 200: AdminUser, ...errorResponses(400, 401, 403, 404, 409) }
      }
    },
    async (request) => {
      const { userId } = request.params
      const { tier, role, disabled, reset_password, claim_from } = request.body
      const tierName = tier === undefined ? undefined : checkTier(tier.toLowerCase())
      const accountChanges = role !== undefined || disabled !== undefined || reset_password || claim_from !== undefined
      const account = accountChanges ? await accounts.get(userId) : null
      if (accountChanges) {
        accountsOnly()
        if (!account) throw notFound('no account has this user id')
        if (userId === request.caller?.userId && (role === 'user' || disabled)) throw badRequest('you cannot demote or disable your own account')
        if (claim_from !== undefined && (claim_from === userId || (await accounts.get(claim_from)))) {
          throw new HttpError(409, 'claim_from must be a former owner without an account')
        }
      }
      const extra: { temporary_password?: string; claimed_conversations?: number } = {}
      if (tierName) await usage.setTier(userId, tierName)
      if (role) await accounts.update(userId, { role })
      if (disabled !== undefined) await accountService!.setDisabled(userId, disabled)
      if (reset_password) extra.temporary_password = (await accountService!.resetPassword(userId))!
      if (claim_from !== undefined) extra.claimed_conversations = (await accounts.assign(claim_from, userId)).conversations
      return userView(userId, extra)
    }
  )
}

export default adminRoutes
