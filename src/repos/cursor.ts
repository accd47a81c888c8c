/** The position of a row in "most recent first" order: its exact `updated_at` and its id. */
export interface RecencyCursor {
  updatedAt: string
  id: string
}

const ISO_MICROS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** The cursor for a row's key, `updatedAt|id`, as the list statement writes it (bytes from PostgreSQL). */
export function encodeCursor(key: Buffer | string): string {
  return (typeof key === 'string' ? Buffer.from(key) : key).toString('base64url')
}

/** The cursor in `value`, or null when it is not one this server wrote. */
export function decodeCursor(value: string): RecencyCursor | null {
  const [updatedAt, id, ...rest] = Buffer.from(value, 'base64url').toString('utf8').split('|')
  if (rest.length > 0 || !updatedAt || !id || !ISO_MICROS.test(updatedAt) || !UUID.test(id)) return null
  if (Number.isNaN(Date.parse(updatedAt))) return null
  return { updatedAt, id }
}
