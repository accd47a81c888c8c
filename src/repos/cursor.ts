import { UUID } from '../domain.ts'

/** The position of a row in "most recent first" order: its exact `updated_at` and its id. */
export interface RecencyCursor {
  updatedAt: string
  id: string
}

const ISO_MICROS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/

/** The cursor after `row` (its `updated_at` as the database wrote it, with microseconds, and its id). */
export function encodeCursor(row: { updated_at: string; id: string }): string {
  return Buffer.from(`${row.updated_at}|${row.id}`).toString('base64url')
}

/** The cursor in `value`, or null when it is not one this server wrote. */
export function decodeCursor(value: string): RecencyCursor | null {
  const [updatedAt, id, ...rest] = Buffer.from(value, 'base64url').toString('utf8').split('|')
  if (rest.length > 0 || !updatedAt || !id || !ISO_MICROS.test(updatedAt) || !UUID.test(id)) return null
  // Date.parse rolls an impossible date over (2026-02-30 is 2 March); PostgreSQL refuses it.
  const time = Date.parse(updatedAt)
  if (Number.isNaN(time) || new Date(time).toISOString().slice(0, 23) !== updatedAt.slice(0, 23)) return null
  return { updatedAt, id }
}
