import { randomBytes } from 'node:crypto'
import type { PGlite } from '@electric-sql/pglite'
import type { SQL } from 'drizzle-orm'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js'
import postgres, { type Sql } from 'postgres'
import type { Test } from 'tap'
import { type Database, openPglite, openPostgres } from '../../src/db/client.ts'
import { migrateDatabase } from '../../src/db/migrate.ts'
import * as schema from '../../src/db/schema.ts'
import type { Db } from '../../src/db/types.ts'
import { hasPgbouncer, pgbouncer } from './pgbouncer.ts'

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL

/** Whether TEST_DATABASE_URL names a server on this machine (whose processes a test can see). */
export const TEST_DATABASE_IS_LOCAL =
  TEST_DATABASE_URL !== undefined && ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(TEST_DATABASE_URL).hostname)

export const POOL = {
  poolMax: 10,
  prepare: true,
  connectTimeoutMs: 5000,
  statementTimeoutMs: 30000,
  slowQueryMs: 1000,
  startupTimeoutMs: 120_000
}

export type BackendName = 'pglite' | 'postgres' | 'pgbouncer'

/**
 * The backends every database test runs on: PGlite always; with TEST_DATABASE_URL, PostgreSQL, and
 * PostgreSQL behind PgBouncer in transaction mode (DB_PREPARE=false) where pgbouncer is installed.
 */
export const BACKENDS: BackendName[] = TEST_DATABASE_URL
  ? ['pglite', 'postgres', ...(hasPgbouncer ? (['pgbouncer'] as const) : [])]
  : ['pglite']

/** A fresh, empty PostgreSQL database of this test's own; dropped at teardown. Returns its URL. */
export async function createPostgresDatabase(t: Test): Promise<string> {
  if (!TEST_DATABASE_URL) throw new Error('TEST_DATABASE_URL is not set')
  const name = `llmc_test_${process.pid}_${randomBytes(4).toString('hex')}`
  const admin = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} })
  await admin.unsafe(`create database "${name}"`)
  t.teardown(async () => {
    await admin.unsafe(`drop database if exists "${name}" with (force)`)
    await admin.end()
  })
  const url = new URL(TEST_DATABASE_URL)
  url.pathname = `/${name}`
  return url.toString()
}

/** An open, migrated database of the given backend, closed (and dropped) when `t` ends. */
export async function openTestDatabase(t: Test, backend: BackendName): Promise<Database & { url?: string }> {
  if (backend === 'pglite') {
    const database = await openPglite('memory://')
    await migrateDatabase(database, {})
    t.teardown(() => database.close())
    return database
  }
  const url = await createPostgresDatabase(t)
  // Behind a transaction pooler: no prepared statements, migrations over the direct URL.
  const pooled = new URL(url)
  if (backend === 'pgbouncer') pooled.port = String((await pgbouncer(url)).port)
  const database = openPostgres(pooled.toString(), backend === 'pgbouncer' ? { ...POOL, prepare: false } : POOL, url)
  await migrateDatabase(database, { migrationUrl: url, pool: POOL })
  // Registered after the drop above, so it runs first: close the pool, then drop.
  t.teardown(() => database.close())
  return Object.assign(database, { url })
}

/** Runs `fn` as a subtest per backend. */
export async function eachBackend(
  t: Test,
  fn: (t: Test, backend: BackendName) => Promise<void>
): Promise<void> {
  for (const backend of BACKENDS) {
    await t.test(backend, (t) => fn(t, backend))
  }
}

/** The rows of a raw statement, whichever driver is underneath (postgres.js gives an array, PGlite `{rows}`). */
export async function queryRows<T = Record<string, unknown>>(db: Db, query: SQL): Promise<T[]> {
  const result = (await db.execute(query)) as unknown
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[]
}

/**
 * A drizzle database over the same connection as `db`, whose driver's statement method (postgres.js
 * `unsafe`, PGlite `query`) goes through `intercept` first: for tests that count or fail statements
 * where they reach the driver. A value `intercept` returns is used instead of running the statement.
 */
export function interceptStatements(db: Db, intercept: (statement: string) => unknown): Db {
  const client = (db as unknown as { $client: Sql | PGlite }).$client
  const method = typeof client === 'function' ? 'unsafe' : 'query'
  const driver = new Proxy(client, {
    get(target, key) {
      const value = Reflect.get(target, key)
      if (typeof value !== 'function') return value
      if (key !== method) return value.bind(target)
      return (statement: string, ...rest: unknown[]) => intercept(statement) ?? value.call(target, statement, ...rest)
    }
  })
  return (typeof client === 'function'
    ? drizzlePostgres({ client: driver as Sql, schema })
    : drizzlePglite({ client: driver as PGlite, schema })) as unknown as Db
}
