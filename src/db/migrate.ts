import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { and, count, eq, getTableName, inArray, isTable, sql } from 'drizzle-orm'
import { type PgTable, pgSchema, serial, text, varchar } from 'drizzle-orm/pg-core'
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js'
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator'
import type { FastifyBaseLogger } from 'fastify'
import type { Sql } from 'postgres'
import { type Database, type PoolOptions, postgresClient } from './client.ts'
import { DatabaseStartupError, errorCode } from './errors.ts'
import * as schema from './schema.ts'
import type { Db } from './types.ts'

export const MIGRATIONS_FOLDER = join(import.meta.dirname, '../../drizzle')
// Any fixed 64-bit number, the same in every instance: they queue on it while one migrates.
export const MIGRATION_LOCK_KEY = 7_361_845_120_001
const WAIT_LOG_INTERVAL_MS = 10_000

/** Drizzle's own record of the migrations it applied (not part of the app's schema, so drizzle-kit leaves it alone). */
const appliedMigrations = pgSchema('drizzle').table('__drizzle_migrations', { id: serial('id').primaryKey(), hash: text('hash') })

export interface MigrationReport {
  applied: string[]
  latest: string
}

export interface MigrateOptions {
  /** PostgreSQL: the URL to migrate over (DIRECT_DATABASE_URL when the pool goes through a pooler). */
  migrationUrl?: string
  pool?: PoolOptions
  /** Where waiting for another instance is reported. */
  log?: Pick<FastifyBaseLogger, 'info'>
  /** When to give up waiting for another instance's migration (epoch ms). */
  deadline?: number
}

function journalTags(): string[] {
  const journal = JSON.parse(readFileSync(join(MIGRATIONS_FOLDER, 'meta/_journal.json'), 'utf8')) as {
    entries: { tag: string }[]
  }
  return journal.entries.map((entry) => entry.tag)
}

async function appliedCount(db: Db): Promise<number> {
  try {
    const [row] = await db.select({ count: count() }).from(appliedMigrations)
    return row?.count ?? 0
  } catch (error) {
    if (errorCode(error) === '42P01') return 0 // undefined_table: nothing applied yet
    throw error
  }
}

const tables = pgSchema('information_schema').table('tables', {
  tableSchema: varchar('table_schema'),
  tableName: varchar('table_name')
})

/** The tables this server's migrations create, and their names. */
export const SCHEMA_TABLES = (Object.values(schema) as unknown[]).filter((value): value is PgTable => isTable(value))
export const OUR_TABLES = SCHEMA_TABLES.map((table) => getTableName(table))

/**
 * Before a first migration: a database that already holds tables named like ours was set up by
 * something else (most likely the system this server replaces). Migrating it would fail half-way on
 * a duplicate table; say what was found and how to bring its data in instead.
 */
async function refuseForeignTables(db: Db, description: string): Promise<void> {
  const found = await db
    .select({ name: tables.tableName })
    .from(tables)
    .where(and(eq(tables.tableSchema, sql`current_schema()`), inArray(tables.tableName, OUR_TABLES)))
    .orderBy(tables.tableName)
    .then((rows) => rows.filter((row) => row.name !== null).map((row) => row.name))
  if (found.length === 0) return
  throw new DatabaseStartupError(
    `${description} already holds tables named like this server's (${found.join(', ')}) that its migrations did not create ` +
      "(another system's, such as the one this server replaces): point DATABASE_URL at a new, empty database, " +
      'then bring this data in with npm run import-db -- --from <this database URL>'
  )
}

async function runTracked(db: Db, description: string, migrate: () => Promise<void>): Promise<MigrationReport> {
  const tags = journalTags()
  const before = await appliedCount(db)
  if (before === 0) await refuseForeignTables(db, description)
  await migrate()
  const after = await appliedCount(db)
  return { applied: tags.slice(before, after), latest: tags[after - 1] ?? '(none)' }
}

/**
 * Applies the committed migrations. PostgreSQL: on one dedicated connection holding a session
 * advisory lock, so instances booting together take turns and the later ones find nothing to do.
 * PGlite: the directory lock taken when it was opened already keeps other processes out.
 */
export async function migrateDatabase(database: Database, options: MigrateOptions): Promise<MigrationReport> {
  if (database.backend === 'pglite') {
    // Loaded only here, as in openPglite: a server on PostgreSQL never holds PGlite's code.
    const { migrate: migratePglite } = await import('drizzle-orm/pglite/migrator')
    return runTracked(database.db, database.description, () =>
      migratePglite(database.db as Parameters<typeof migratePglite>[0], { migrationsFolder: MIGRATIONS_FOLDER })
    )
  }
  if (!options.migrationUrl || !options.pool) throw new Error('migrateDatabase: PostgreSQL needs migrationUrl and pool')
  // Migrations may take longer than a request is allowed to.
  const client = postgresClient(options.migrationUrl, { ...options.pool, statementTimeoutMs: 0 }, 1)
  const db = drizzlePostgres({ client })
  try {
    await takeMigrationLock(client, options)
    try {
      return await runTracked(db as unknown as Db, database.description, () => migratePostgres(db, { migrationsFolder: MIGRATIONS_FOLDER }))
    } finally {
      await client`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`
    }
  } finally {
    await client.end({ timeout: 5 })
  }
}

/** Takes the migration lock, waiting (and saying so) while another instance holds it, until the deadline. */
async function takeMigrationLock(client: Sql, { log, deadline = Number.POSITIVE_INFINITY }: MigrateOptions): Promise<void> {
  const [first] = await client<{ taken: boolean }[]>`select pg_try_advisory_lock(${MIGRATION_LOCK_KEY}) as taken`
  if (first?.taken) return
  const started = Date.now()
  log?.info("waiting for another instance's migration to finish (it holds the migration lock)...")
  const progress = setInterval(
    () => log?.info(`still waiting for another instance's migration (${Math.round((Date.now() - started) / 1000)} s)...`),
    WAIT_LOG_INTERVAL_MS
  )
  try {
    // lock_timeout bounds the wait for an advisory lock like any other; 0 (no limit) once it is taken.
    const remaining = Number.isFinite(deadline) ? Math.max(1, Math.round(deadline - Date.now())) : 0
    await client`select set_config('lock_timeout', ${String(remaining)}, false)`
    await client`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`
    await client`select set_config('lock_timeout', '0', false)`
  } catch (error) {
    if (errorCode(error) !== '55P03') throw error // lock_not_available: the deadline passed
    throw new DatabaseStartupError(
      `gave up after ${Math.round((Date.now() - started) / 1000)} s waiting for another instance's migration ` +
        '(raise DB_STARTUP_TIMEOUT_MS, or find the process holding the migration lock)'
    )
  } finally {
    clearInterval(progress)
  }
}

export function logMigrationReport(log: FastifyBaseLogger, database: Database, report: MigrationReport): void {
  if (report.applied.length > 0) {
    log.info(
      { backend: database.description, applied: report.applied, latest: report.latest },
      `migrations: applied ${report.applied.length} (${report.applied.join(', ')}) on ${database.description}`
    )
  } else {
    log.info(
      { backend: database.description, latest: report.latest },
      `migrations: ${database.description} is up to date (latest ${report.latest})`
    )
  }
}
