import fp from 'fastify-plugin'
import type { Database } from '../db/client.ts'
import { connectDatabase } from '../db/connect.ts'
import { requestContext } from '../db/slow-queries.ts'

declare module 'fastify' {
  interface FastifyInstance {
    database: Database
  }
}

export interface DbPluginOptions {
  /** An open, migrated database owned by the caller (tests); otherwise one is opened from config and closed with the app. */
  database?: Database
}

export default fp<DbPluginOptions>(
  async (app, options) => {
    const database = options.database ?? (await connectDatabase(app.config, app.log))
    app.decorate('database', database)
    database.slowQueries.thresholdMs = app.config.db.slowQueryMs
    database.slowQueries.reporter = ({ statement, durationMs, requestId }) =>
      app.log.warn({ statement, durationMs, reqId: requestId }, `slow query: ${durationMs} ms`)
    // Every request's queries know its id (for the slow-query line) through async context.
    app.addHook('onRequest', (request, _reply, done) => requestContext.run(request.id, done))
    if (!options.database) app.addHook('onClose', () => database.close())
  },
  { name: 'db', dependencies: ['config'] }
)
