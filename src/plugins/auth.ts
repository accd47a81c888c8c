import cookie from '@fastify/cookie'
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { type JWTVerifyGetKey, createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose'
import type { Config } from '../config.ts'
import { LOCAL_USER_ID, isUserId } from '../domain.ts'
import { HttpError, unauthorized } from '../errors.ts'
import type { Role } from '../repos/accounts.ts'
import { SESSION_TTL_SECONDS } from '../services/accounts.ts'
import { API_KEY_PREFIX, tokenHash } from '../services/tokens.ts'

/** How the caller proved who they are. */
export type AuthMethod = 'none' | 'jwt' | 'header' | 'session' | 'key'

export interface Caller {
  userId: string
  method: AuthMethod
  /** The caller's account role; null for users without an account (jwt, header, none). */
  role: Role | null
  /** The SHA-256 of the session cookie's token, when a session signed the caller in. */
  sessionHash?: string
  mustChangePassword?: boolean
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated caller; set by `app.authenticate`. */
    userId: string
    caller: Caller | null
  }
  interface FastifyInstance {
    /** Requires a caller (401 without one) and sets `request.userId` and `request.caller`. */
    authenticate: onRequestHookHandler
    /** The caller, or null when the request carries no credentials; invalid credentials still throw. */
    identify(request: FastifyRequest): Promise<Caller | null>
  }
}

export const SESSION_COOKIE = 'llmc_session'

/** The token of an `Authorization: Bearer <token>` header, if the request has one. */
export function bearerToken(request: FastifyRequest): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1]
}

/** The browser's session cookie: HttpOnly, SameSite=Lax, Secure in production. */
export function setSessionCookie(reply: FastifyReply, auth: Config['auth'], token: string): void {
  reply.setCookie(SESSION_COOKIE, token, {
    path: '/',
    httpOnly: true,
    sameSite: 'lax',
    secure: 'secureCookies' in auth && auth.secureCookies,
    maxAge: SESSION_TTL_SECONDS
  })
}

export function clearSessionCookie(reply: FastifyReply, auth: Config['auth']): void {
  reply.clearCookie(SESSION_COOKIE, { path: '/', httpOnly: true, sameSite: 'lax', secure: 'secureCookies' in auth && auth.secureCookies })
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * CSRF defence for requests a browser makes with the session cookie: a write must come from a page
 * of this origin, by the `Origin` header browsers send (or `Sec-Fetch-Site` where there is none).
 * SameSite=Lax already keeps the cookie off cross-site POSTs; this also covers sibling subdomains
 * (same-site, other origin) and browsers without SameSite, and needs no token in the page.
 */
export function checkSameOrigin(request: FastifyRequest, options = { required: true }): void {
  if (SAFE_METHODS.has(request.method)) return
  const origin = request.headers.origin
  if (origin !== undefined) {
    if (origin === ownOrigin(request)) return
    throw new HttpError(403, 'cross-origin request refused: writes with the session cookie must come from this site')
  }
  const site = request.headers['sec-fetch-site']
  if (site === 'same-origin' || site === 'none' || (site === undefined && !options.required)) return
  throw new HttpError(403, 'request refused: a write with the session cookie needs an Origin header (scripts should use an API key)')
}

/** This server's origin as the request reached it (X-Forwarded-Proto and -Host count with TRUST_PROXY). */
export const ownOrigin = (request: FastifyRequest) => `${request.protocol}://${request.host}`

function headerCount(request: FastifyRequest, name: string): number {
  const raw = request.raw.rawHeaders
  let count = 0
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === name.length && raw[i]!.toLowerCase() === name) count++
  return count
}

type Resolve = (request: FastifyRequest) => Caller | null | Promise<Caller | null>

function jwtResolver(options: { secret?: string; jwksUrl?: string; issuer?: string; audience?: string }): Resolve {
  const secret = options.secret ? new TextEncoder().encode(options.secret) : undefined
  const jwks: JWTVerifyGetKey | undefined = options.jwksUrl ? createRemoteJWKSet(new URL(options.jwksUrl)) : undefined
  const claims = { issuer: options.issuer, audience: options.audience }
  return async (request) => {
    const token = bearerToken(request)
    if (!token) return null
    try {
      const { alg } = decodeProtectedHeader(token)
      const { payload } =
        alg === 'HS256' && secret
          ? await jwtVerify(token, secret, { ...claims, algorithms: ['HS256'] })
          : jwks
            ? await jwtVerify(token, jwks, { ...claims, algorithms: ['RS256', 'ES256'] })
            : await jwtVerify(token, secret!, { ...claims, algorithms: ['HS256'] })
      return checked(payload.sub, 'jwt')
    } catch (error) {
      if (error instanceof HttpError) throw error
      request.log.debug({ reason: (error as Error).message }, 'jwt rejected')
      throw unauthorized('invalid or expired token')
    }
  }
}

function checked(userId: unknown, method: AuthMethod, role: Role | null = null): Caller {
  if (!isUserId(userId)) throw unauthorized('credentials name no valid user id')
  return { userId, method, role }
}

/** What a request without credentials is told, by mode. */
function missingCredentials(auth: Config['auth']): string {
  if (auth.mode === 'header') return `missing ${auth.header} header`
  return auth.mode === 'jwt' ? 'missing bearer token' : 'sign in first'
}

export default fp(
  async (app) => {
    const auth = app.config.auth
    const { accounts, apiKeys, sessions } = app.repos
    await app.register(cookie)

    const byMode: Resolve =
      auth.mode === 'none'
        ? () => checked(LOCAL_USER_ID, 'none')
        : auth.mode === 'header'
          ? (request) => {
              const value = request.headers[auth.header]
              if (value === undefined) return null
              if (typeof value !== 'string' || value === '') throw unauthorized(`missing ${auth.header} header`)
              // Node joins a repeated header with commas, which would make "alice, bob" a user.
              if (headerCount(request, auth.header) > 1) throw unauthorized(`${auth.header} header given more than once`)
              return checked(value, 'header')
            }
          : auth.mode === 'jwt'
            ? jwtResolver(auth)
            : async (request) => {
                const token = request.cookies[SESSION_COOKIE]
                if (!token) return null
                const sessionHash = tokenHash(token)
                const user = await sessions.resolve(sessionHash)
                if (!user) throw unauthorized('your session has ended: sign in again')
                checkSameOrigin(request)
                // Last seen and last active, written at most once a minute.
                if (user.stale) await Promise.all([sessions.touch(sessionHash), accounts.touch(user.userId)])
                return { userId: user.userId, method: 'session', role: user.role, sessionHash, mustChangePassword: user.mustChangePassword }
              }

    // A personal API key works in every mode but none, whatever else the mode accepts. Synchronous
    // where no I/O is needed (none, header), so those requests skip a promise.
    const resolve: Resolve = (request) => {
      const bearer = auth.mode === 'none' ? undefined : bearerToken(request)
      if (!bearer?.startsWith(API_KEY_PREFIX)) return byMode(request)
      return apiKeys.resolve(tokenHash(bearer)).then((owner) => {
        if (!owner) throw unauthorized('invalid or revoked API key')
        return checked(owner.userId, 'key', owner.role)
      })
    }
    const missing = missingCredentials(auth)
    const accept = (request: FastifyRequest, caller: Caller | null): Error | undefined => {
      if (!caller) return unauthorized(missing)
      if (caller.mustChangePassword) {
        return new HttpError(403, 'set a new password first (an admin gave you a temporary one)', { body: { code: 'PASSWORD_CHANGE_REQUIRED' } })
      }
      request.userId = caller.userId
      request.caller = caller
    }

    app.decorateRequest('userId', '')
    app.decorateRequest('caller', null)
    app.decorate('identify', async (request: FastifyRequest) => resolve(request))
    app.decorate('authenticate', function authenticate(request, _reply, done) {
      let resolved: ReturnType<Resolve>
      try {
        resolved = resolve(request)
      } catch (error) {
        return done(error as Error)
      }
      if (resolved instanceof Promise) resolved.then((caller) => done(accept(request, caller)), done)
      else done(accept(request, resolved))
    } as onRequestHookHandler)
  },
  { name: 'auth', dependencies: ['config', 'repos'] }
)
