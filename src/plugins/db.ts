import fp from 'fastify-plugin'
import type { Database } from '../db/client.ts'
import { connectDatabase } from '../db/connect.ts'

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
    database.timer.thresholdMs = app.config.db.slowQueryMs
    database.timer.reporter = ({ operation, durationMs }) =>
      app.log.warn({ operation, durationMs }, `slow query: ${operation} took ${durationMs} ms`)
    if (!options.database) app.addHook('onClose', () => database.close())
  },
  { name: 'db', dependencies: ['config'] }
)
