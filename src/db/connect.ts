import { existsSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../config.ts'
import { type Database, openPglite, openPostgres } from './client.ts'
import { DatabaseStartupError, isUnreachable, safeError } from './errors.ts'
import { logMigrationReport, migrateDatabase } from './migrate.ts'
import { useSearchLanguage } from './search-language.ts'

const FIRST_RETRY_MS = 1000
const LONGEST_RETRY_MS = 10_000

/**
 * Opens the configured database and applies migrations, logging which backend and what they did.
 * Waits as long as that needs, up to DB_STARTUP_TIMEOUT_MS: a first start creating PGlite's directory,
 * another instance's migration, and (in production) a PostgreSQL that is not up yet, retried with
 * backoff. In development an unreachable PostgreSQL falls back to the embedded database at once.
 */
export async function connectDatabase(config: Config, log: FastifyBaseLogger): Promise<Database> {
  const target = config.database
  const deadline = Date.now() + config.db.startupTimeoutMs
  if (target.kind === 'pglite') return openMigratedPglite(target.dir, config.searchLanguage, log)

  for (let attempt = 0; ; attempt++) {
    const database = openPostgres(target.url, config.db, target.migrationUrl)
    try {
      const report = await migrateDatabase(database, { migrationUrl: target.migrationUrl, pool: config.db, log, deadline })
      log.info(`storage: ${database.description}`)
      logMigrationReport(log, database, report)
      await useSearchLanguage(database, config.searchLanguage)
      return database
    } catch (error) {
      await database.close().catch(() => {})
      if (!isUnreachable(error)) throw error
      if (target.fallbackDir) {
        log.error(
          { err: safeError(error) },
          `cannot reach ${database.description}; falling back to the embedded database in ${target.fallbackDir} (development only)`
        )
        return openMigratedPglite(target.fallbackDir, config.searchLanguage, log)
      }
      // A tool run by hand in development says so at once; a production process waits for its database.
      if (config.env !== 'production') throw error
      const { code, message } = safeError(error)
      const reason = code ?? message
      const remaining = deadline - Date.now()
      if (remaining <= 0) {
        throw new DatabaseStartupError(
          `cannot reach ${database.description} (${reason}) after ${Math.round(config.db.startupTimeoutMs / 1000)} s: ` +
            'check DATABASE_URL and that the database is running (DB_STARTUP_TIMEOUT_MS sets how long to wait)'
        )
      }
      // Backing off, with a last try at the deadline.
      const wait = Math.min(FIRST_RETRY_MS * 2 ** attempt, LONGEST_RETRY_MS, remaining)
      log.warn({ err: safeError(error) }, `cannot reach ${database.description} (${reason}); retrying in ${Math.round(wait / 100) / 10} s`)
      await sleep(wait)
    }
  }
}

async function openMigratedPglite(dir: string, searchLanguage: string, log: FastifyBaseLogger): Promise<Database> {
  if (dir !== 'memory://' && !existsSync(dir)) log.info(`creating the embedded database in ${dir} (a first start takes a while)...`)
  const database = await openPglite(dir)
  try {
    log.info(`storage: ${database.description}`)
    logMigrationReport(log, database, await migrateDatabase(database, {}))
    await useSearchLanguage(database, searchLanguage)
    return database
  } catch (error) {
    await database.close()
    throw error
  }
}
