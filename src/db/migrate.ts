import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js'
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator'
import type { FastifyBaseLogger } from 'fastify'
import { type Database, type PoolOptions, postgresClient } from './client.ts'
import { queryRows } from './sql.ts'
import type { Db } from './types.ts'

export const MIGRATIONS_FOLDER = join(import.meta.dirname, '../../drizzle')
// Any fixed 64-bit number, the same in every instance: they queue on it while one migrates.
const MIGRATION_LOCK_KEY = 7_361_845_120_001

export interface MigrationReport {
  applied: string[]
  latest: string
}

function journalTags(): string[] {
  const journal = JSON.parse(readFileSync(join(MIGRATIONS_FOLDER, 'meta/_journal.json'), 'utf8')) as {
    entries: { tag: string }[]
  }
  return journal.entries.map((entry) => entry.tag)
}

async function appliedCount(db: Db): Promise<number> {
  // Two statements: a query naming a table that does not exist yet fails at parse time.
  const [table] = await queryRows<{ exists: boolean }>(
    db,
    sql`select to_regclass('drizzle.__drizzle_migrations') is not null as exists`
  )
  if (!table?.exists) return 0
  const [row] = await queryRows<{ count: number }>(db, sql`select count(*)::int as count from drizzle.__drizzle_migrations`)
  return Number(row?.count ?? 0)
}

async function runTracked(db: Db, migrate: () => Promise<void>): Promise<MigrationReport> {
  const tags = journalTags()
  const before = await appliedCount(db)
  await migrate()
  const after = await appliedCount(db)
  return { applied: tags.slice(before, after), latest: tags[after - 1] ?? '(none)' }
}

/**
 * Applies the committed migrations. PostgreSQL: on one dedicated connection holding a session
 * advisory lock, so instances booting together take turns and the later ones find nothing to do.
 * PGlite: the directory lock taken when it was opened already keeps other processes out.
 */
export async function migrateDatabase(
  database: Database,
  options: { migrationUrl?: string; pool?: PoolOptions }
): Promise<MigrationReport> {
  if (database.backend === 'pglite') {
    // Loaded only here, as in openPglite: a server on PostgreSQL never holds PGlite's code.
    const { migrate: migratePglite } = await import('drizzle-orm/pglite/migrator')
    return runTracked(database.db, () =>
      migratePglite(database.db as Parameters<typeof migratePglite>[0], { migrationsFolder: MIGRATIONS_FOLDER })
    )
  }
  if (!options.migrationUrl || !options.pool) throw new Error('migrateDatabase: PostgreSQL needs migrationUrl and pool')
  // Migrations may take longer than a request is allowed to.
  const client = postgresClient(options.migrationUrl, { ...options.pool, statementTimeoutMs: 0 }, 1)
  const db = drizzlePostgres(client)
  try {
    await client`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`
    try {
      return await runTracked(db as unknown as Db, () => migratePostgres(db, { migrationsFolder: MIGRATIONS_FOLDER }))
    } finally {
      await client`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`
    }
  } finally {
    await client.end({ timeout: 5 })
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
