import { type SQL, type SQLWrapper, sql } from 'drizzle-orm'
import type { Db } from './types.ts'

/** A timestamptz as ISO-8601 UTC with microseconds, formatted by the database (exact, so usable in cursors). */
export const isoTimestamp = (column: SQLWrapper) =>
  sql<string>`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`

/** Runs raw SQL and returns its rows, whichever driver is underneath (postgres.js gives an array, PGlite `{rows}`). */
export async function queryRows<T>(db: Db, query: SQL): Promise<T[]> {
  const result = (await db.execute(query)) as unknown
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[]
}
