import { DrizzleQueryError } from 'drizzle-orm/errors'
import { safeError } from '../../db/errors.ts'
import { BadFile } from './parse.ts'

function isFileError(error: unknown): error is Error {
  return typeof (error as NodeJS.ErrnoException)?.code === 'string' && /^E[A-Z]+$/.test((error as NodeJS.ErrnoException).code!) &&
    (error as NodeJS.ErrnoException).syscall !== undefined
}

/**
 * Why a file was not imported, in words a person can act on: the file's own problem, the database's
 * reason (its message and SQLSTATE, never the statement or the file's data, which drizzle puts in its
 * message), or else what went wrong, named.
 */
export function failureReason(error: unknown): string {
  if (error instanceof BadFile || isFileError(error)) return error.message
  // safeError gives the driver's own message (the deepest cause), which carries no parameter.
  const { code, message: reason } = safeError(error)
  if (error instanceof DrizzleQueryError || (code !== undefined && /^[0-9A-Z]{5}$/.test(code))) {
    return `the database refused it: ${reason}${code ? ` (SQLSTATE ${code})` : ''}`
  }
  const { name, message } = error instanceof Error ? error : { name: 'Error', message: String(error) }
  return `could not be imported (${name}: ${message.slice(0, 200)})`
}
