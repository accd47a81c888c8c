import { parseArgs } from 'node:util'
import { LOCAL_USER_ID, USER_ID_MAX_LENGTH, isUserId } from '../domain.ts'
import { TransferRepo } from '../repos/transfer.ts'
import { CannotRun, EXIT, openToolDatabase, runTool, userDirectory } from './common.ts'
import { DEFAULT_MAX_FILE_BYTES, type ImportSummary, runImport } from './import/importer.ts'
import { ID_MAPPINGS_HEADING, failureLines, replacedAndNotKept, stoppedLines, writtenLines } from './import/summary-lines.ts'
import { progressReporter } from './progress.ts'

const USAGE = `usage: npm run import-json -- [--user <id>] [--backup <dir>] [--dry-run] <path...>

Imports llm-council JSON data (a data dir, a conversations dir, per-user folders or single files)
into the server's database (DATABASE_URL, else the embedded PGLITE_DIR). Safe to run again.

  --user <id>      owner of files that name no user (default: ${LOCAL_USER_ID})
  --backup <dir>   copy every source file there first
  --dry-run        read and check everything, write nothing
  --concurrency N  files in flight at once (default 8)
  --max-file-mb N  refuse files larger than N MB (default ${DEFAULT_MAX_FILE_BYTES / 1024 / 1024}), so memory stays bounded

Only regular .json files are read: links inside directories, FIFOs and devices are listed as skipped.
Exit status: 0 all imported; 1 some files not imported or skipped (each listed with its reason);
2 could not run, or stopped because the database went away (run it again to go on).`

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
        'max-file-mb': { type: 'string', default: String(DEFAULT_MAX_FILE_BYTES / 1024 / 1024) },
        help: { type: 'boolean', short: 'h', default: false }
      }
    })
    const concurrency = Number(values.concurrency)
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) throw new Error('--concurrency must be 1 to 64')
    const maxFileMb = Number(values['max-file-mb'])
    if (!Number.isFinite(maxFileMb) || maxFileMb <= 0 || maxFileMb > 4096) throw new Error('--max-file-mb must be a number of MB from 1 to 4096')
    if (values.user !== undefined && !isUserId(values.user)) throw new Error(`--user must be 1 to ${USER_ID_MAX_LENGTH} printable characters`)
    if (!values.help && positionals.length === 0) throw new Error('name at least one file or directory to import')
    return { ...values, concurrency, maxFileBytes: Math.round(maxFileMb * 1024 * 1024), paths: positionals }
  } catch (error) {
    throw new CannotRun(`${(error as Error).message}\n${USAGE}`)
  }
}

export function formatSummary(summary: ImportSummary): string {
  const lines = [
    `${summary.dryRun ? 'dry run: nothing was written. ' : ''}${summary.files} files read`,
    ...writtenLines(summary, summary.dryRun)
  ]
  lines.push(...replacedAndNotKept(summary.replacedCharacters, summary.notKept, 'file'))
  if (summary.invalidUtf8 > 0) lines.push(`invalid UTF-8 sequences read as U+FFFD: ${summary.invalidUtf8}`)
  if (summary.idMappings.length > 0) {
    lines.push(`${ID_MAPPINGS_HEADING}:`)
    for (const m of summary.idMappings) lines.push(`  ${m.sourceId} -> ${m.id} (${m.path})`)
  }
  lines.push(...failureLines(summary.failures, 'files'))
  if (summary.skipped.length > 0) {
    lines.push(`skipped, not regular files (${summary.skipped.length}):`)
    for (const f of summary.skipped) lines.push(`  ${f.path}: ${f.reason}`)
  }
  lines.push(...stoppedLines(summary.stopped))
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
      baseDir: userDirectory(),
      defaultUser: options.user ?? LOCAL_USER_ID,
      dryRun: options['dry-run'],
      backupDir: options.backup,
      concurrency: options.concurrency,
      maxFileBytes: options.maxFileBytes,
      onProgress: (p) => progress.update(p)
    }).catch((error: unknown) => {
      progress.stop()
      const { code, message } = error as NodeJS.ErrnoException
      if (code === 'ENOENT') throw new CannotRun(`no such file or directory: ${(error as NodeJS.ErrnoException).path}`)
      throw new CannotRun(`import stopped: ${code ? `${code}: ` : ''}${message}`)
    })
    progress.stop()
    process.stdout.write(formatSummary(summary))
    if (summary.stopped) return EXIT.cannotRun
    return summary.failures.length > 0 || summary.skipped.length > 0 ? EXIT.someFailed : EXIT.ok
  } finally {
    await database.close()
  }
})
