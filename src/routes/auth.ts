import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { HttpError, notFound, unauthorized } from '../errors.ts'
import { type Caller, SESSION_COOKIE, checkSameOrigin, clearSessionCookie, ownOrigin, setSessionCookie } from '../plugins/auth.ts'
import type { AccountService, SignedIn } from '../services/accounts.ts'
import { CALLBACK_PATH, SignInRefused } from '../services/oidc.ts'
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../services/passwords.ts'
import { tokenHash } from '../services/tokens.ts'
import { EMAIL, errorResponses } from './schemas.ts'

const Password = Type.String({ minLength: PASSWORD_MIN_LENGTH, maxLength: PASSWORD_MAX_LENGTH, description: `at least ${PASSWORD_MIN_LENGTH} characters` })
const Credentials = Type.Object({ email: EMAIL, password: Password }, { additionalProperties: false })
// Sign-in checks a password of any length against the stored one (a short one is simply wrong).
const SignInBody = Type.Object({ email: EMAIL, password: Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH }) }, { additionalProperties: false })

export const SessionUser = Type.Object({
  user_id: Type.String(),
  email: Type.Union([Type.String(), Type.Null()]),
  role: Type.Union([Type.Literal('admin'), Type.Literal('user'), Type.Null()], { description: 'null: a user without an account (jwt, header, none)' }),
  must_change_password: Type.Boolean(),
  method: Type.String({ description: 'how the caller signed in: session, key, jwt, header or none' })
})

const Session = Type.Object({
  mode: Type.String(),
  password_sign_in: Type.Boolean(),
  single_sign_on: Type.Boolean(),
  can_sign_up: Type.Boolean({ description: 'whether a visitor may make an account now' }),
  user: Type.Union([SessionUser, Type.Null()]),
  tiers: Type.Optional(Type.Array(Type.String(), { description: 'admins only: the tiers USAGE_LIMITS defines' })),
  unclaimed: Type.Optional(
    Type.Array(Type.Object({ user_id: Type.String(), conversations: Type.Integer() }), {
      description: "admins only: owners of conversations no account holds (such as 'local'), which an admin can claim"
    })
  )
})

const OIDC_STATE_COOKIE = 'llmc_oidc_state'
const OIDC_COOKIE_PATH = '/api/auth/oidc'

/** /api/auth/*: the session, sign-up, sign-in, sign-out, password change and single sign-on. */
const authRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { auth } = app.config
  const service = (): AccountService => {
    if (!app.accountService) throw notFound('accounts are off: AUTH_MODE is not accounts or oidc')
    return app.accountService
  }
  const signedIn = async (request: FastifyRequest, reply: FastifyReply, session: SignedIn) => {
    // Rotation: the session this browser came with (if any) ends; the new token replaces it.
    const previous = request.cookies[SESSION_COOKIE]
    if (previous) await app.repos.sessions.delete(tokenHash(previous))
    setSessionCookie(reply, auth, session.token)
    return userOf({ userId: session.account.user_id, method: 'session', role: session.account.role, mustChangePassword: session.account.must_change_password }, session.account.email)
  }

  app.get(
    '/auth/session',
    { schema: { summary: 'Who the caller is (null when signed out) and how this server signs people in', response: { 200: Session, ...errorResponses(401) } } },
    async (request) => {
      const caller = await app.identify(request).catch((error: unknown) => {
        if (error instanceof HttpError && error.statusCode === 401) return null
        throw error
      })
      const account = caller && caller.role ? await app.repos.accounts.get(caller.userId) : null
      return {
        mode: auth.mode,
        password_sign_in: auth.mode === 'accounts',
        single_sign_on: app.oidc !== null,
        can_sign_up: app.accountService ? await app.accountService.signUpOpen() : false,
        user: caller && userOf(caller, account?.email ?? null),
        ...(caller?.role === 'admin' && { tiers: [...app.config.usageLimits.keys()], unclaimed: await app.repos.accounts.unclaimed(20) })
      }
    }
  )

  app.post(
    '/auth/sign-up',
    { schema: { summary: 'Make an account and sign in (the first account is the admin)', body: Credentials, response: { 201: SessionUser, ...errorResponses(400, 403, 404, 409) } } },
    async (request, reply) => {
      checkSameOrigin(request, { required: false })
      const session = await service().signUp(request.body.email, request.body.password)
      return reply.code(201).send(await signedIn(request, reply, session))
    }
  )

  app.post(
    '/auth/sign-in',
    { schema: { summary: 'Sign in with email and password; sets the session cookie', body: SignInBody, response: { 200: SessionUser, ...errorResponses(400, 401, 403, 404, 429) } } },
    async (request, reply) => {
      checkSameOrigin(request, { required: false })
      return signedIn(request, reply, await service().signIn(request.body.email, request.body.password, request.ip))
    }
  )

  app.post(
    '/auth/sign-out',
    {
      schema: {
        summary: 'End this session, or with `everywhere` every session of the account',
        body: Type.Optional(Type.Object({ everywhere: Type.Optional(Type.Boolean()) }, { additionalProperties: false })),
        response: { 204: Type.Null(), ...errorResponses(400, 401, 403) }
      }
    },
    async (request, reply) => {
      // Another site cannot sign the user out either (logout CSRF).
      checkSameOrigin(request, { required: false })
      const caller = await app.identify(request).catch(() => null)
      if (caller?.sessionHash) {
        if (request.body?.everywhere) await app.repos.sessions.deleteForUser(caller.userId)
        else await app.repos.sessions.delete(caller.sessionHash)
      }
      clearSessionCookie(reply, auth)
      return reply.code(204).send(null)
    }
  )

  app.post(
    '/auth/password',
    {
      schema: {
        summary: "Change the caller's password; ends their other sessions",
        body: Type.Object({ current_password: Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH }), new_password: Password }, { additionalProperties: false }),
        response: { 200: SessionUser, ...errorResponses(400, 401, 403, 404) }
      }
    },
    async (request, reply) => {
      const caller = await app.identify(request)
      if (!caller || caller.method !== 'session') throw unauthorized('sign in first')
      const session = await service().changePassword(caller.userId, request.body.current_password, request.body.new_password, caller.sessionHash)
      setSessionCookie(reply, auth, session.token)
      return userOf({ ...caller, mustChangePassword: false }, session.account.email)
    }
  )

  const stateCookie = { path: OIDC_COOKIE_PATH, httpOnly: true, sameSite: 'lax' as const, secure: 'secureCookies' in auth && auth.secureCookies }

  app.get(
    '/auth/oidc/start',
    { schema: { summary: 'Start single sign-on: redirects to the provider', response: { 302: Type.Null(), ...errorResponses(404, 502) } } },
    async (request, reply) => {
      if (!app.oidc) throw notFound('single sign-on is not configured (OIDC_ISSUER)')
      const { url, state } = await app.oidc.start(ownOrigin(request))
      reply.setCookie(OIDC_STATE_COOKIE, state, { ...stateCookie, maxAge: 600 })
      return reply.redirect(url, 302)
    }
  )

  app.get(
    CALLBACK_PATH.replace('/api', ''),
    {
      schema: {
        summary: 'Where the provider sends the browser back; signs in and redirects to the app',
        querystring: Type.Record(Type.String(), Type.String({ maxLength: 4096 })),
        response: { 302: Type.Null(), ...errorResponses(400, 404) }
      }
    },
    async (request, reply) => {
      if (!app.oidc) throw notFound('single sign-on is not configured (OIDC_ISSUER)')
      const current = new URL(app.oidc.redirectUrl(ownOrigin(request)))
      current.search = new URL(request.url, 'http://callback').search
      const cookieState = request.cookies[OIDC_STATE_COOKIE]
      reply.clearCookie(OIDC_STATE_COOKIE, stateCookie)
      try {
        await signedIn(request, reply, await app.oidc.finish(current, cookieState))
        return reply.redirect('/', 302)
      } catch (error) {
        if (!(error instanceof SignInRefused)) throw error
        request.log.info({ reason: error.message }, 'single sign-on refused')
        return reply.redirect(`/?sign_in_error=${encodeURIComponent(error.message)}`, 302)
      }
    }
  )
}

function userOf(caller: Caller, email: string | null) {
  return { user_id: caller.userId, email, role: caller.role, must_change_password: caller.mustChangePassword ?? false, method: caller.method }
}

export default authRoutes
