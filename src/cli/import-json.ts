import { parseArgs } from 'node:util'
import { LOCAL_USER_ID, USER_ID_MAX_LENGTH, isUserId } from '../domain.ts'
import { TransferRepo } from '../repos/transfer.ts'
import { CannotRun, EXIT, openToolDatabase, runTool } from './common.ts'
import { type ImportSummary, runImport } from './import/importer.ts'
import { progressReporter } from './progress.ts'

const USAGE = `usage: npm run import-json -- [--user <id>] [--backup <dir>] [--dry-run] <path...>

Imports llm-council JSON data (a data dir, a conversations dir, per-user folders or single files)
into the server's database (DATABASE_URL, else the embedded PGLITE_DIR). Safe to run again.

  --user <id>      owner of files that name no user (default: ${LOCAL_USER_ID})
  --backup <dir>   copy every source file there first
  --dry-run        read and check everything, write nothing
  --concurrency N  files in flight at once (default 8)`

function parse(argv: string[]) {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        user: { type: 'string' },
        backup: { type: 'string' },
        'dry-run': { type: 'boolean', default: false },
        concurrency: { type: 'string', default: '8' },
        help: { type: 'boolean', short: 'h', default: false }
      }
    })
    const concurrency = Number(values.concurrency)
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) throw new Error('--concurrency must be 1 to 64')
    if (values.user !== undefined && !isUserId(values.user)) throw new Error(`--user must be 1 to ${USER_ID_MAX_LENGTH} printable characters`)
    if (!values.help && positionals.length === 0) throw new Error('name at least one file or directory to import')
    return { ...values, concurrency, paths: positionals }
  } catch (error) {
    throw new CannotRun(`${(error as Error).message}\n${USAGE}`)
  }
}

export function formatSummary(summary: ImportSummary): string {
  const verb = summary.dryRun ? 'would be ' : ''
  const lines = [
    `${summary.dryRun ? 'dry run: nothing was written. ' : ''}${summary.files} files read`,
    `conversations: ${summary.conversationsCreated} ${verb}created, ${summary.conversationsUpdated} ${verb}updated, ${summary.conversationsUnchanged} unchanged`,
    `messages: ${summary.messagesAdded} ${verb}added`,
    `usage: ${summary.usageCreated} users ${verb}added, ${summary.usageKept} kept (they already had a row)`
  ]
  if (summary.nulReplaced > 0) lines.push(`NUL characters replaced with U+FFFD: ${summary.nulReplaced}`)
  if (summary.idMappings.length > 0) {
    lines.push(`ids that were not UUIDs, mapped (the same on every run):`)
    for (const m of summary.idMappings) lines.push(`  ${m.sourceId} -> ${m.id} (${m.path})`)
  }
  if (summary.failures.length > 0) {
    lines.push(`files that could not be imported (${summary.failures.length}):`)
    for (const f of summary.failures) lines.push(`  ${f.path}: ${f.reason}`)
  }
  return `${lines.join('\n')}\n`
}

await runTool('import-json', async () => {
  const options = parse(process.argv.slice(2))
  if (options.help) {
    process.stdout.write(`${USAGE}\n`)
    return EXIT.ok
  }
  const database = await openToolDatabase()
  try {
    process.stderr.write(`import-json: into ${database.description}${options['dry-run'] ? ' (dry run)' : ''}\n`)
    const progress = progressReporter()
    const summary = await runImport(new TransferRepo(database.db), {
      paths: options.paths,
      defaultUser: options.user ?? LOCAL_USER_ID,
      dryRun: options['dry-run'],
      backupDir: options.backup,
      concurrency: options.concurrency,
      onProgress: (p) => progress.update(p)
    }).catch((error: unknown) => {
      progress.stop()
      const { code, message } = error as NodeJS.ErrnoException
      if (code === 'ENOENT') throw new CannotRun(`no such file or directory: ${(error as NodeJS.ErrnoException).path}`)
      throw new CannotRun(`import stopped: ${code ? `${code}: ` : ''}${message}`)
    })
    progress.stop()
    process.stdout.write(formatSummary(summary))
    return summary.failures.length > 0 ? EXIT.someFailed : EXIT.ok
  } finally {
    await database.close()
  }
})
