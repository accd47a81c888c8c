import type { FastifyRequest, onRequestHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { type JWTVerifyGetKey, createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose'
import { LOCAL_USER_ID, isUserId } from '../domain.ts'
import { unauthorized } from '../errors.ts'

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated caller; set by `app.authenticate`. */
    userId: string
  }
  interface FastifyInstance {
    authenticate: onRequestHookHandler
  }
}

/** The caller's user id; synchronous where no I/O is needed, so most requests skip a promise. */
type ResolveUser = (request: FastifyRequest) => string | undefined | Promise<string | undefined>

/** The token of an `Authorization: Bearer <token>` header, if the request has one. */
export function bearerToken(request: FastifyRequest): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1]
}

function headerCount(request: FastifyRequest, name: string): number {
  const raw = request.raw.rawHeaders
  let count = 0
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === name.length && raw[i]!.toLowerCase() === name) count++
  return count
}

function jwtResolver(options: { secret?: string; jwksUrl?: string; issuer?: string; audience?: string }): ResolveUser {
  const secret = options.secret ? new TextEncoder().encode(options.secret) : undefined
  const jwks: JWTVerifyGetKey | undefined = options.jwksUrl ? createRemoteJWKSet(new URL(options.jwksUrl)) : undefined
  const claims = { issuer: options.issuer, audience: options.audience }
  return async (request) => {
    const token = bearerToken(request)
    if (!token) throw unauthorized('missing bearer token')
    try {
      const { alg } = decodeProtectedHeader(token)
      const { payload } =
        alg === 'HS256' && secret
          ? await jwtVerify(token, secret, { ...claims, algorithms: ['HS256'] })
          : jwks
            ? await jwtVerify(token, jwks, { ...claims, algorithms: ['RS256', 'ES256'] })
            : await jwtVerify(token, secret!, { ...claims, algorithms: ['HS256'] })
      return payload.sub
    } catch (error) {
      request.log.debug({ reason: (error as Error).message }, 'jwt rejected')
      throw unauthorized('invalid or expired token')
    }
  }
}

export default fp(
  async (app) => {
    const auth = app.config.auth
    const resolve: ResolveUser =
      auth.mode === 'none'
        ? () => LOCAL_USER_ID
        : auth.mode === 'header'
          ? (request) => {
              const value = request.headers[auth.header]
              if (typeof value !== 'string' || value === '') throw unauthorized(`missing ${auth.header} header`)
              // Node joins a repeated header with commas, which would make "alice, bob" a user.
              if (headerCount(request, auth.header) > 1) throw unauthorized(`${auth.header} header given more than once`)
              return value
            }
          : jwtResolver(auth)

    const accept = (request: FastifyRequest, userId: string | undefined): Error | undefined => {
      if (!isUserId(userId)) return unauthorized('credentials name no valid user id')
      request.userId = userId
    }

    app.decorateRequest('userId', '')
    app.decorate('authenticate', function authenticate(request, _reply, done) {
      let resolved: ReturnType<ResolveUser>
      try {
        resolved = resolve(request)
      } catch (error) {
        return done(error as Error)
      }
      if (resolved instanceof Promise) resolved.then((userId) => done(accept(request, userId)), done)
      else done(accept(request, resolved))
    } as onRequestHookHandler)
  },
  { name: 'auth', dependencies: ['config'] }
)
