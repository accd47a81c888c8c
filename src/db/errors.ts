// What a database error means for the caller: the database is away (503, retry later) or the statement was wrong.

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'CONNECT_TIMEOUT'])
// Connection-level failures from the driver or the server: the database is away, not the request bad.
const UNAVAILABLE_SQLSTATE = /^(08|57P0[1-3]|53300)/
const CONNECTION_LOST = new Set(['CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED'])

/** The error and its causes (drizzle wraps driver errors), a few levels deep. */
function* chain(error: unknown): Generator<{ code?: unknown }> {
  for (let current = error, depth = 0; current && depth < 4; current = (current as { cause?: unknown }).cause, depth++) {
    yield current as { code?: unknown }
  }
}

/** No connection could be made: the statement cannot have reached the database. */
export function isUnreachable(error: unknown): boolean {
  for (const { code } of chain(error)) if (typeof code === 'string' && UNREACHABLE.has(code)) return true
  return false
}

/** Whether the database is away (not the query wrong). */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (const { code } of chain(error)) {
    if (typeof code === 'string' && (UNREACHABLE.has(code) || UNAVAILABLE_SQLSTATE.test(code) || CONNECTION_LOST.has(code))) return true
  }
  return false
}

/** The SQLSTATE or driver code of a database error, if it has one. */
export function errorCode(error: unknown): string | undefined {
  for (const { code } of chain(error)) if (typeof code === 'string') return code
  return undefined
}

/**
 * What may be logged of a database error: its code and message, never the driver's options (which hold
 * the connection string), nor drizzle's "Failed query" text, which carries the statement's parameters.
 */
export function safeError(error: unknown): { code?: string; message: string } {
  let deepest = error as { message?: unknown }
  for (const current of chain(error)) deepest = current as { message?: unknown }
  return { code: errorCode(error), message: String(deepest?.message ?? error) }
}

/** The database could not be made ready in time, or at all: the operator's to fix; `message` says what to do. */
export class DatabaseStartupError extends Error {
  override name = 'DatabaseStartupError'
}
