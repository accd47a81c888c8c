import pino from 'pino'
import { ConfigError, loadConfig, loadDotEnv } from '../config.ts'
import type { Database } from '../db/client.ts'
import { connectDatabase } from '../db/connect.ts'
import { DatabaseStartupError } from '../db/errors.ts'
import { DirectoryInUseError } from '../db/pglite-lock.ts'

/** Exit codes of the command-line tools. */
export const EXIT = { ok: 0, someFailed: 1, cannotRun: 2 } as const

/** Thrown for anything that keeps a command from running at all; its message is the one line shown. */
export class CannotRun extends Error {
  override name = 'CannotRun'
}

/**
 * The server's database settings, migrated, with no development fallback: a tool pointed at a
 * PostgreSQL it cannot reach must say so, not quietly write somewhere else.
 */
export async function openToolDatabase(log = pino({ level: 'warn' }, pino.destination(2))): Promise<Database> {
  loadDotEnv()
  let config
  try {
    config = loadConfig()
  } catch (error) {
    throw new CannotRun((error as Error).message)
  }
  const database = config.database.kind === 'postgres' ? { ...config.database, fallbackDir: null } : config.database
  try {
    return await connectDatabase({ ...config, database }, log)
  } catch (error) {
    if (error instanceof DirectoryInUseError) throw new CannotRun(`${error.message} (stop the server first)`)
    if (error instanceof ConfigError || error instanceof DatabaseStartupError) throw new CannotRun(error.message)
    const { code, message } = error as { code?: string; message?: string }
    throw new CannotRun(`cannot open the database: ${code ? `${code}: ` : ''}${message ?? error}`)
  }
}

/** Where the user ran the command: `npm run` starts scripts in the project directory and keeps the user's in INIT_CWD. */
export function userDirectory(): string {
  return process.env.INIT_CWD ?? process.cwd()
}

/** Runs a tool's main: CannotRun prints one line and exits 2; anything unexpected too, with its stack. */
export async function runTool(name: string, main: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await main()
  } catch (error) {
    const line = error instanceof CannotRun ? error.message : String((error as Error)?.stack ?? error)
    process.stderr.write(`${name}: ${line}\n`)
    process.exitCode = EXIT.cannotRun
  }
}
