import type { PGlite } from '@electric-sql/pglite'
import { type SQL, type SQLWrapper, fillPlaceholders, sql } from 'drizzle-orm'
import { PgDialect } from 'drizzle-orm/pg-core'
import type { Sql } from 'postgres'
import type { Db } from './types.ts'

/** A timestamptz as ISO-8601 UTC with microseconds, formatted by the database (exact, so usable in cursors). */
export const isoTimestamp = (column: SQLWrapper) =>
  sql<string>`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`

/** Runs raw SQL and returns its rows, whichever driver is underneath (postgres.js gives an array, PGlite `{rows}`). */
export async function queryRows<T>(db: Db, query: SQL): Promise<T[]> {
  const result = (await db.execute(query)) as unknown
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[]
}

const dialect = new PgDialect()

/** A statement compiled once: its text, and parameters that may be `sql.placeholder`s filled per call. */
export interface Statement {
  sql: string
  params: unknown[]
}

/** Compiles a query once, so that a hot path does not build the same SQL text on every call. */
export const compile = (query: SQL): Statement => dialect.sqlToQuery(query)

/**
 * The rows of a compiled statement, with `values` filled in for its placeholders: as arrays of the
 * bytes PostgreSQL sent (postgres.js) or of strings (PGlite) when `raw`, else as objects. Runs on the
 * database's own client (not in a transaction), through its prepared-statement and slow-query wrappers.
 * The two drivers parse timestamps differently: a statement run here formats them in SQL.
 */
function runStatement(db: Db, statement: Statement, values: Record<string, unknown>, raw: boolean): Promise<unknown[]> {
  const client = (db as { $client?: unknown }).$client
  const params = fillPlaceholders(statement.params, values)
  if (typeof client === 'function' && 'unsafe' in client) {
    const query = (client as Sql).unsafe(statement.sql, params as never[])
    return raw ? query.raw() : query
  }
  if (client && typeof client === 'object' && 'query' in client) {
    return (client as PGlite).query(statement.sql, params, { rowMode: raw ? 'array' : 'object' }).then(({ rows }) => rows)
  }
  return Promise.reject(new Error('a compiled statement needs a database opened by src/db/client.ts'))
}

/**
 * The first row of a statement whose columns are text, as the bytes PostgreSQL sent (postgres.js) or
 * as strings (PGlite). JSON built by the database then goes out as it came in, without being decoded
 * and encoded again; undefined when there is no row.
 */
export function queryRawRow(db: Db, statement: Statement, values: Record<string, unknown> = {}): Promise<(Buffer | string | null)[] | undefined> {
  return runStatement(db, statement, values, true).then((rows) => rows[0] as (Buffer | string | null)[] | undefined)
}

/** The rows of a compiled statement as objects, as `queryRows` gives them, without building its SQL again. */
export function queryStatementRows<T>(db: Db, statement: Statement, values: Record<string, unknown> = {}): Promise<T[]> {
  return runStatement(db, statement, values, false) as Promise<T[]>
}
