import { type SQLWrapper, sql } from 'drizzle-orm'

/** A timestamptz as ISO-8601 UTC with microseconds, formatted by the database (exact, so usable in cursors). */
export const isoTimestamp = (column: SQLWrapper) =>
  sql<string>`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`

/** Today and the first of this month in UTC, by the database's clock, whatever the session's time zone. */
export const utcToday = sql<string>`(now() at time zone 'utc')::date`
export const utcMonthStart = sql<string>`date_trunc('month', now() at time zone 'utc')::date`

/** Whether a "last seen" time is unset or over a minute old: activity is written at most once a minute, so a busy user costs no write per request. */
export const olderThanAMinute = (column: SQLWrapper) => sql<boolean>`(${column} is null or ${column} < now() - interval '1 minute')`
