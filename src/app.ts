import { randomUUID } from 'node:crypto'
import type { DestinationStream } from 'pino'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from './config.ts'
import type { Database } from './db/client.ts'
import { USER_ID_MAX_LENGTH } from './domain.ts'
import { notFound } from './errors.ts'
import { RequestLines, loggerOptions } from './logger.ts'
import authPlugin from './plugins/auth.ts'
import configPlugin from './plugins/config.ts'
import dbPlugin from './plugins/db.ts'
import docsPlugin from './plugins/docs.ts'
import errorsPlugin, { frameworkErrors } from './plugins/errors.ts'
import hardeningPlugin, { apiRateLimit } from './plugins/hardening.ts'
import inputPlugin from './plugins/input.ts'
import reposPlugin from './plugins/repos.ts'
import { apiHeaders } from './plugins/security.ts'
import servicesPlugin, { type ServicesOptions } from './plugins/services.ts'
import spaPlugin from './plugins/spa.ts'
import adminRoutes from './routes/admin.ts'
import authRoutes from './routes/auth.ts'
import conversationRoutes from './routes/conversations.ts'
import healthRoutes from './routes/health.ts'
import keyRoutes from './routes/keys.ts'
import messageRoutes from './routes/messages.ts'
import runRoutes from './routes/runs.ts'
import exportRoutes from './routes/exports.ts'
import searchRoutes from './routes/search.ts'
import { shareRoutes, sharedRoutes } from './routes/shares.ts'
import profileRoutes from './routes/profile.ts'
import { ErrorBody } from './routes/schemas.ts'
import usageRoutes from './routes/usage.ts'
import { validatorCompiler } from './validation.ts'

export interface AppOptions extends ServicesOptions {
  config: Config
  /** An open, migrated database (tests); otherwise the app opens the configured one. */
  database?: Database
}

// Startup may wait DB_STARTUP_TIMEOUT_MS for the database (it says why when it gives up); the rest of
// booting gets this much more before Fastify's own "plugin did not start in time".
const BOOT_MARGIN_MS = 30_000

function serverOptions(config: Config, logStream?: DestinationStream): FastifyServerOptions {
  return {
    logger: loggerOptions(config, logStream),
    logController: new RequestLines(),
    bodyLimit: config.bodyLimit,
    trustProxy: config.trustProxy,
    requestIdHeader: 'x-request-id',
    // A user id of 128 characters in an admin path, each percent-encoded as up to 4 UTF-8 bytes.
    routerOptions: { maxParamLength: USER_ID_MAX_LENGTH * 12 },
    frameworkErrors,
    genReqId: () => randomUUID(),
    pluginTimeout: config.db.startupTimeoutMs + BOOT_MARGIN_MS,
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
  await fastify.register(errorsPlugin)
  await fastify.register(docsPlugin)
  await fastify.register(inputPlugin)
  await fastify.register(dbPlugin, { database: options.database })
  await fastify.register(reposPlugin)
  // After the database: opening PGlite blocks the event loop, which the load monitor must not count.
  await fastify.register(hardeningPlugin)
  await fastify.register(authPlugin)
  await fastify.register(servicesPlugin, { llmClient: options.llmClient })

  // JSON answers (the API and the health checks) carry the API's headers; the pages, helmet's.
  await fastify.register(async (health) => {
    health.addHook('onRequest', apiHeaders)
    await health.register(healthRoutes)
  })
  await fastify.register(
    async (api) => {
      api.addHook('onRequest', apiHeaders)
      await apiRateLimit(api)
      api.setNotFoundHandler((request) => {
        throw notFound(`Route ${request.method} ${request.url.split('?', 1)[0]} not found`)
      })
      await api.register(async (user) => {
        user.addHook('onRequest', user.authenticate)
        await user.register(conversationRoutes)
        await user.register(messageRoutes)
        await user.register(runRoutes)
        await user.register(searchRoutes)
        await user.register(exportRoutes)
        await user.register(shareRoutes)
        await user.register(usageRoutes)
        await user.register(profileRoutes)
        await user.register(keyRoutes)
      })
      await api.register(sharedRoutes)
      await api.register(authRoutes)
      await api.register(adminRoutes)
    },
    { prefix: '/api' }
  )
  await fastify.register(spaPlugin)
}

/** The Fastify instance the server listens with; tests build exactly this one. */
export async function buildApp(options: AppOptions & { logStream?: DestinationStream }): Promise<FastifyInstance> {
  const fastify = Fastify(serverOptions(options.config, options.logStream)).withTypeProvider<TypeBoxTypeProvider>()
  await fastify.register(app, options)
  return fastify
}
