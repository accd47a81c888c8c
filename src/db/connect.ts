import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../config.ts'
import { type Database, openPglite, openPostgres } from './client.ts'
import { logMigrationReport, migrateDatabase } from './migrate.ts'

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'CONNECT_TIMEOUT'])

/** No connection could be made: the statement cannot have reached the database. */
export function isUnreachable(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 4; current = (current as { cause?: unknown }).cause, depth++) {
    const code = (current as { code?: string }).code
    if (code !== undefined && UNREACHABLE.has(code)) return true
  }
  return false
}

// Connection-level failures from the driver or the server: the database is away, not the request bad.
const UNAVAILABLE_SQLSTATE = /^(08|57P0[1-3]|53300)/
const CONNECTION_LOST = new Set(['CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED'])

/** Whether the database is away (not the query wrong); drizzle wraps driver errors, so causes count. */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 4; current = (current as { cause?: unknown }).cause, depth++) {
    const code = (current as { code?: unknown }).code
    if (isUnreachable(current) || (typeof code === 'string' && (UNAVAILABLE_SQLSTATE.test(code) || CONNECTION_LOST.has(code)))) return true
  }
  return false
}

/** Only the code and message of a driver error: never its options, which hold the connection string. */
export function safeError(error: unknown): { code?: string; message: string } {
  const { code, message } = error as { code?: string; message?: string }
  return { code, message: String(message ?? error) }
}

/** Opens the configured database and applies migrations, logging which backend and what they did. */
export async function connectDatabase(config: Config, log: FastifyBaseLogger): Promise<Database> {
  const target = config.database
  if (target.kind === 'pglite') return openMigratedPglite(target.dir, log)

  const database = openPostgres(target.url, config.db)
  try {
    const report = await migrateDatabase(database, { migrationUrl: target.migrationUrl, pool: config.db })
    log.info(`storage: ${database.description}`)
    logMigrationReport(log, database, report)
    return database
  } catch (error) {
    await database.close().catch(() => {})
    if (!target.fallbackDir || !isUnreachable(error)) throw error
    log.error(
      { err: safeError(error) },
      `cannot reach ${database.description}; falling back to the embedded database in ${target.fallbackDir} (development only)`
    )
    return openMigratedPglite(target.fallbackDir, log)
  }
}

async function openMigratedPglite(dir: string, log: FastifyBaseLogger): Promise<Database> {
  const database = await openPglite(dir)
  try {
    log.info(`storage: ${database.description}`)
    logMigrationReport(log, database, await migrateDatabase(database, {}))
    return database
  } catch (error) {
    await database.close()
    throw error
  }
}
