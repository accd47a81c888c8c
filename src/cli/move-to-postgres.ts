import { existsSync, promises as fs } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { sql } from 'drizzle-orm'
import { checkPostgresUrl, loadDotEnv } from '../config.ts'
import { type Database, describePostgresUrl, openPglite, openPostgres } from '../db/client.ts'
import { DatabaseStartupError, safeError } from '../db/errors.ts'
import { migrateDatabase } from '../db/migrate.ts'
import { DirectoryInUseError, lockDirectory } from '../db/pglite-lock.ts'
import { CannotRun, EXIT, runTool } from './common.ts'
import { type TableState, copyTable, tableState, tablesInCopyOrder } from './move/copy-tables.ts'
import { progressReporter } from './progress.ts'

const USAGE = `usage: npm run move-to-postgres -- <postgres url>

Copies everything in the embedded database (PGLITE_DIR, default ./data/pglite) to the PostgreSQL
database at <postgres url>, migrating it first, then checks that every table holds the same rows on
both sides (counts and checksums) and prints the DATABASE_URL to set. Stop the server first: the
embedded directory must not be in use. It is only read (a copy of it is opened) and is left as it was.
Safe to run again: rows already in PostgreSQL are left as they are.

Exit status: 0 moved and verified; 1 copied, but some table differs (listed: the PostgreSQL database
holds rows the embedded one does not, or changed ones); 2 could not run.`

// Pool settings for the move: one connection, no statement deadline (a checksum of a large table takes a while).
const POOL = { poolMax: 1, prepare: true, connectTimeoutMs: 10_000, statementTimeoutMs: 0, slowQueryMs: 0 }

function parse(argv: string[]): { url: string; help: boolean } {
  try {
    const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { help: { type: 'boolean', short: 'h', default: false } } })
    if (values.help) return { url: '', help: true }
    if (positionals.length !== 1) throw new Error('name the PostgreSQL database to move to: npm run move-to-postgres -- postgres://user:password@host:port/database')
    checkPostgresUrl('the target URL', positionals[0]!)
    return { url: positionals[0]!, help: false }
  } catch (error) {
    throw new CannotRun(`${(error as Error).message}\n${USAGE}`)
  }
}

/** The URL to put in DATABASE_URL, its password (if any) masked: this line may end up in a log. */
export function databaseUrlLine(url: string): string {
  const parsed = new URL(url)
  if (parsed.password) parsed.password = '****'
  return `DATABASE_URL=${parsed.toString()}${parsed.password ? '   (with your password in place of ****)' : ''}`
}

/**
 * A copy of the embedded database to read from, taken while its lock is held: opening a PGlite
 * directory writes to it, and the original must stay exactly as it was.
 */
async function readableCopy(dir: string): Promise<{ path: string; remove: () => Promise<void> }> {
  const parent = await fs.mkdtemp(join(tmpdir(), 'llmc-move-'))
  const path = join(parent, basename(dir))
  await fs.cp(dir, path, { recursive: true, preserveTimestamps: true })
  return { path, remove: () => fs.rm(parent, { recursive: true, force: true }) }
}

async function openTarget(url: string): Promise<Database> {
  const target = openPostgres(url, POOL)
  try {
    await migrateDatabase(target, { migrationUrl: url, pool: POOL })
    return target
  } catch (error) {
    await target.close()
    if (error instanceof DatabaseStartupError) throw new CannotRun(error.message)
    const { code, message } = safeError(error)
    throw new CannotRun(`cannot open ${describePostgresUrl(url)}: ${code ? `${code}: ` : ''}${message}`)
  }
}

await runTool('move-to-postgres', async () => {
  const options = parse(process.argv.slice(2))
  if (options.help) {
    process.stdout.write(`${USAGE}\n`)
    return EXIT.ok
  }
  loadDotEnv()
  const setting = process.env.PGLITE_DIR ?? './data/pglite'
  if (setting === 'memory://') throw new CannotRun('PGLITE_DIR is memory://: an in-memory database has nothing to move')
  const dir = resolve(setting)
  if (!existsSync(dir)) throw new CannotRun(`no embedded database in ${dir} (PGLITE_DIR): nothing to move`)

  let release: () => void
  try {
    release = lockDirectory(dir)
  } catch (error) {
    if (error instanceof DirectoryInUseError) throw new CannotRun(`${error.message} (stop the server first)`)
    throw error
  }
  // Held to the end: a server started meanwhile would write what the move does not carry.
  const copy = await readableCopy(dir).catch((error: unknown) => {
    release()
    throw error
  })
  const to = describePostgresUrl(options.url)
  try {
    const source = await openPglite(copy.path)
    try {
      // Brought to this version's schema, as the server would on start, so both sides have the same tables.
      await migrateDatabase(source, {})
      await source.db.execute(sql`set time zone 'UTC'`)
      const target = await openTarget(options.url)
      try {
        process.stderr.write(`move-to-postgres: from PGlite in ${dir} to ${to}\n`)
        return await move(source, target, dir, to, options.url)
      } finally {
        await target.close()
      }
    } finally {
      await source.close()
    }
  } catch (error) {
    // The copy that could not be opened or migrated: one line, as for any tool.
    if (error instanceof DatabaseStartupError) throw new CannotRun(error.message)
    throw error
  } finally {
    await copy.remove()
    release()
  }
})

async function move(source: Database, target: Database, dir: string, to: string, url: string): Promise<number> {
  const tables = tablesInCopyOrder()
  const before = new Map<string, TableState>()
  for (const table of tables) before.set(table.name, await tableState(source.db, table))
  const total = [...before.values()].reduce((sum, state) => sum + state.rows, 0)
  const progress = progressReporter('rows')
  const done = { filesDone: 0, filesTotal: total, conversations: 0, messages: 0 }
  const lines: string[] = []
  const differing: string[] = []
  try {
    for (const table of tables) {
      const inserted = await copyTable(source.db, target.db, table, (read) => {
        done.filesDone += read
        if (table.name === 'conversations') done.conversations += read
        if (table.name === 'messages') done.messages += read
        progress.update(done)
      })
      const here = before.get(table.name)!
      const there = await tableState(target.db, table)
      const same = here.rows === there.rows && here.checksum === there.checksum
      if (!same) differing.push(table.name)
      lines.push(
        `${table.name}: ${here.rows} rows, ${inserted} copied, ${here.rows - inserted} already there; ` +
          (same ? 'counts and checksums equal' : `DIFFERS: ${there.rows} rows in PostgreSQL${here.rows === there.rows ? ', same count, other contents' : ''}`)
      )
    }
  } finally {
    progress.stop()
  }
  process.stdout.write(`${lines.join('\n')}\n`)
  if (differing.length > 0) {
    process.stdout.write(
      `${to} does not hold exactly what the embedded database holds (${differing.join(', ')}): it has rows the embedded ` +
        'database has not, or changed ones (was the server run on it since?). Nothing there was overwritten.\n'
    )
    return EXIT.someFailed
  }
  process.stdout.write(
    `moved and verified: every table of PGlite in ${dir} is in ${to}. The embedded directory is unchanged.\n` +
      `Set this and restart the server:\n${databaseUrlLine(url)}\n`
  )
  return EXIT.ok
}
