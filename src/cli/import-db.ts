import { parseArgs } from 'node:util'
import postgres from 'postgres'
import { describePostgresUrl } from '../db/client.ts'
import { safeError } from '../db/errors.ts'
import { LOCAL_USER_ID, USER_ID_MAX_LENGTH, isUserId } from '../domain.ts'
import { TransferRepo } from '../repos/transfer.ts'
import { CannotRun, EXIT, openToolDatabase, runTool } from './common.ts'
import { type DbImportSummary, runDbImport } from './import-db/importer.ts'
import { ID_MAPPINGS_HEADING, failureLines, replacedAndNotKept, stoppedLines, writtenLines } from './import/summary-lines.ts'
import { progressReporter } from './progress.ts'

const USAGE = `usage: npm run import-db -- --from <postgres url> [--dry-run] [--schema <name>] [--user <id>]

Imports the PostgreSQL database of the system this server replaces (tables conversations and
messages with stage1_data/stage2_data/stage3_data, and where present usage, users and subscriptions)
into the server's database (DATABASE_URL, else the embedded PGLITE_DIR). The old database is only
read, in one read-only transaction. Safe to run again: what is in already is left as it is.

  --from <url>     the old database, postgres://user:password@host:port/database
  --dry-run        read and check everything, write nothing
  --schema <name>  the old tables' schema (default public)
  --user <id>      owner of conversations when the old tables have no user_id (default: ${LOCAL_USER_ID})

Exit status: 0 all imported; 1 some rows not imported (each listed with its reason);
2 could not run (bad arguments, a database unreachable, not the old schema), or stopped because a
database went away (run it again to go on).`

// Lines of old ids listed in the summary; the rest are counted.
const ID_LINES = 20

function parse(argv: string[]) {
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        from: { type: 'string' },
        'dry-run': { type: 'boolean', default: false },
        schema: { type: 'string', default: 'public' },
        user: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false }
      }
    })
    if (values.help) return { ...values, from: '' }
    if (!values.from) throw new Error('name the old database with --from <postgres url>')
    let url
    try {
      url = new URL(values.from)
    } catch {
      throw new Error('--from is not a URL: write it as postgres://user:password@host:port/database')
    }
    if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') throw new Error('--from must be a postgres:// or postgresql:// URL')
    if (values.user !== undefined && !isUserId(values.user)) throw new Error(`--user must be 1 to ${USER_ID_MAX_LENGTH} printable characters`)
    return { ...values, from: values.from }
  } catch (error) {
    throw new CannotRun(`${(error as Error).message}\n${USAGE}`)
  }
}

export function formatDbSummary(summary: DbImportSummary, from: string): string {
  const verb = summary.dryRun ? 'would be ' : ''
  const { read } = summary
  const lines = [
    `${summary.dryRun ? 'dry run: nothing was written. ' : ''}read from ${from}: ${read.conversations} conversations, ${read.messages} messages, ` +
      `${read.usage} usage rows, ${read.users} users, ${read.subscriptions} subscriptions`,
    ...writtenLines(summary, summary.dryRun),
    `profiles: ${summary.profilesCreated} ${verb}added, ${summary.profilesKept} kept`,
    `subscriptions: ${summary.subscriptionsCreated} ${verb}added, ${summary.subscriptionsKept} kept`,
    ...replacedAndNotKept(summary.replacedCharacters, summary.notKept, 'row')
  ]
  if (summary.notRead.tables.length > 0) lines.push(`not read: ${summary.notRead.tables.length === 1 ? 'table' : 'tables'} ${summary.notRead.tables.join(', ')}`)
  if (summary.notRead.orphanMessages > 0) lines.push(`not read: ${summary.notRead.orphanMessages} messages whose conversation does not exist`)
  if (summary.idMappings.length > 0) {
    lines.push(`${ID_MAPPINGS_HEADING}: ${summary.idMappings.length}`)
    for (const m of summary.idMappings.slice(0, ID_LINES)) lines.push(`  ${m.sourceId} -> ${m.id}`)
    if (summary.idMappings.length > ID_LINES) lines.push(`  and ${summary.idMappings.length - ID_LINES} more`)
  }
  lines.push(...failureLines(summary.failures, 'rows'), ...stoppedLines(summary.stopped))
  return `${lines.join('\n')}\n`
}

await runTool('import-db', async () => {
  const options = parse(process.argv.slice(2))
  if (options.help) {
    process.stdout.write(`${USAGE}\n`)
    return EXIT.ok
  }
  const from = describePostgresUrl(options.from)
  // One connection, no prepared statements: the old database may sit behind a transaction pooler.
  const source = postgres(options.from, {
    max: 1,
    prepare: false,
    connect_timeout: 10,
    onnotice: () => {},
    connection: { application_name: 'llm-council-server import-db' }
  })
  try {
    try {
      await source`select 1`
    } catch (error) {
      const { code, message } = safeError(error)
      throw new CannotRun(`cannot open the old database (--from, ${from}): ${code ? `${code}: ` : ''}${message}`)
    }
    const database = await openToolDatabase()
    try {
      process.stderr.write(`import-db: from ${from} into ${database.description}${options['dry-run'] ? ' (dry run)' : ''}\n`)
      const progress = progressReporter('conversations')
      const summary = await runDbImport(source, new TransferRepo(database.db), {
        schema: options.schema,
        defaultUser: options.user ?? LOCAL_USER_ID,
        dryRun: options['dry-run'],
        onProgress: (p) => progress.update(p)
      }).finally(() => progress.stop())
      process.stdout.write(formatDbSummary(summary, from))
      if (summary.stopped) return EXIT.cannotRun
      return summary.failures.length > 0 ? EXIT.someFailed : EXIT.ok
    } finally {
      await database.close()
    }
  } finally {
    await source.end({ timeout: 5 })
  }
})
