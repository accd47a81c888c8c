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
    database.slowQueries.thresholdMs = app.config.db.slowQueryMs
    // No request id on the line: carrying it to the driver needs async context tracking, which on
    // Node 20 runs a hook on every promise of every request (~7% of the server's work per request).
    database.slowQueries.reporter = ({ statement, durationMs }) => app.log.warn({ statement, durationMs }, `slow query: ${durationMs} ms`)
    if (!options.database) app.addHook('onClose', () => database.close())
  },
  { name: 'db', dependencies: ['config'] }
)
