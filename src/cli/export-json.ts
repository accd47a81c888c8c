import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { TransferRepo } from '../repos/transfer.ts'
import { CannotRun, EXIT, openToolDatabase, runTool, userDirectory } from './common.ts'
import { runExport } from './export/exporter.ts'

const USAGE = `usage: npm run export-json -- [--user <id>] <dir>

Writes the server's conversations and usage in llm-council's JSON format:
<dir>/conversations/<user_id>/<id>.json (with --user: that user's, flat in <dir>/conversations/)
and <dir>/usage/<user_id>.json. Existing files of the same name are overwritten.`

await runTool('export-json', async () => {
  let values
  let positionals
  try {
    ;({ values, positionals } = parseArgs({
      args: process.argv.slice(2),
      allowPositionals: true,
      options: { user: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } }
    }))
    if (!values.help && positionals.length !== 1) throw new Error('name exactly one directory to write to')
  } catch (error) {
    throw new CannotRun(`${(error as Error).message}\n${USAGE}`)
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`)
    return EXIT.ok
  }
  const database = await openToolDatabase()
  try {
    const started = Date.now()
    const summary = await runExport(new TransferRepo(database.db), {
      dir: resolve(userDirectory(), positionals[0]!),
      userId: values.user,
      onProgress: (done) => {
        if (!process.stderr.isTTY) return
        process.stderr.write(`\rexport-json: ${done} conversations written`)
      }
    })
    if (process.stderr.isTTY) process.stderr.write('\n')
    process.stdout.write(
      `exported ${summary.conversations} conversations (${summary.messages} messages) and ${summary.usage} usage files ` +
        `from ${database.description} to ${positionals[0]} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`
    )
    return EXIT.ok
  } finally {
    await database.close()
  }
})
