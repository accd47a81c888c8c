import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox'
import { HttpError } from '../errors.ts'

const Status = Type.Object({ status: Type.String(), database: Type.Optional(Type.String()) })

const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/healthz',
    {
      schema: { summary: 'The process is alive', response: { 200: Status } },
      // Liveness is never shed: a busy instance is alive, and an orchestrator would restart it.
      config: { pressureHandler: () => undefined }
    },
    async () => ({ status: 'ok' })
  )

  app.get(
    '/readyz',
    { schema: { summary: 'The database is reachable', response: { 200: Status } } },
    async (request) => {
      try {
        await app.database.ping()
      } catch (error) {
        request.log.warn({ err: { message: (error as Error).message } }, 'readiness check failed')
        throw new HttpError(503, 'database unreachable')
      }
      return { status: 'ok', database: app.database.backend }
    }
  )
}

export default healthRoutes
