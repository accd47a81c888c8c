import { randomUUID } from 'node:crypto'
import type { DestinationStream } from 'pino'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions, LogController } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from './config.ts'
import type { Database } from './db/client.ts'
import authPlugin from './plugins/auth.ts'
import configPlugin from './plugins/config.ts'
import dbPlugin from './plugins/db.ts'
import docsPlugin from './plugins/docs.ts'
import errorsPlugin from './plugins/errors.ts'
import hardeningPlugin from './plugins/hardening.ts'
import inputPlugin from './plugins/input.ts'
import reposPlugin from './plugins/repos.ts'
import securityPlugin from './plugins/security.ts'
import spaPlugin from './plugins/spa.ts'
import servicesPlugin, { type ServicesOptions } from './plugins/services.ts'
import adminRoutes from './routes/admin.ts'
import conversationRoutes from './routes/conversations.ts'
import healthRoutes from './routes/health.ts'
import messageRoutes from './routes/messages.ts'
import usageRoutes from './routes/usage.ts'
import { RequestLogger, requestLoggerFactory } from './request-logger.ts'
import { ErrorBody } from './routes/schemas.ts'
import { validatorCompiler } from './validation.ts'

export interface AppOptions extends ServicesOptions {
  config: Config
  /** An open, migrated database (tests); otherwise the app opens the configured one. */
  database?: Database
}

/**
 * Redacted wherever they appear in a log line: credentials, tokens and connection strings. No `res`
 * path: Fastify's serializer logs a response as its status code only, and a path under `res` would
 * have every request's line walked for it.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'config.database.url',
  'config.database.migrationUrl',
  'config.llm.apiKey',
  'config.adminToken'
]

class OneLinePerRequest extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return
    if (request.log instanceof RequestLogger) request.log.completed(reply, reply.elapsedTime, error)
    else super.requestCompleted(error, request, reply)
  }
}

export function serverOptions(config: Config, logStream?: DestinationStream): FastifyServerOptions {
  return {
    logger: { level: config.logLevel, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, stream: logStream },
    bodyLimit: config.bodyLimit,
    // A hop count is valid (fastify docs) though the type omits it.
    trustProxy: config.trustProxy as FastifyServerOptions['trustProxy'],
    requestIdHeader: 'x-request-id',
    // One line per request ("request completed", with status and time) instead of two.
    logController: new OneLinePerRequest(),
    childLoggerFactory: requestLoggerFactory,
    genReqId: () => randomUUID(),
    return503OnClosing: true
  }
}

/**
 * The whole app as a plugin, in registration order: config, database, repositories, auth, routes, SPA.
 * Not encapsulated, so the instance that registers it (the server, a test) sees its decorators.
 */
export const app = fp(appPlugin, { name: 'llm-council-server' })

async function appPlugin(fastify: FastifyInstance, options: AppOptions): Promise<void> {
  fastify.setValidatorCompiler(validatorCompiler())
  fastify.addSchema(ErrorBody)
  fastify.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id)
    done()
  })


  await fastify.register(configPlugin, { config: options.config })
  await fastify.register(securityPlugin)
  await fastify.register(errorsPlugin)
  await fastify.register(docsPlugin)
  await fastify.register(inputPlugin)
  await fastify.register(dbPlugin, { database: options.database })
  await fastify.register(reposPlugin)
  // After the database: opening PGlite blocks the event loop, which the load monitor must not count.
  await fastify.register(hardeningPlugin)
  await fastify.register(authPlugin)
  await fastify.register(servicesPlugin, { llmClient: options.llmClient })

  await fastify.register(healthRoutes)
  await fastify.register(
    async (api) => {
      api.addHook('onRequest', api.authenticate)
      await api.register(conversationRoutes)
      await api.register(messageRoutes)
      await api.register(usageRoutes)
    },
    { prefix: '/api' }
  )
  await fastify.register(adminRoutes, { prefix: '/api' })
  await fastify.register(spaPlugin)
}

/** The Fastify instance the server listens with; tests build exactly this one. */
export async function buildApp(options: AppOptions & { logStream?: DestinationStream }): Promise<FastifyInstance> {
  const fastify = Fastify(serverOptions(options.config, options.logStream)).withTypeProvider<TypeBoxTypeProvider>()
  await fastify.register(app, options)
  return fastify
}
