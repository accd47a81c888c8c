import pino from 'pino'
import { ConfigError, loadConfig, loadDotEnv } from '../config.ts'
import { connectDatabase } from '../db/connect.ts'
import { DirectoryInUseError } from '../db/pglite-lock.ts'

// `npm run db:migrate`: apply the committed migrations and exit (a release step before the new version starts).
loadDotEnv()
const log = pino({ level: 'info' })
try {
  const config = loadConfig()
  // A release step must not quietly migrate some other database.
  const database = await connectDatabase(
    config.database.kind === 'postgres' ? { ...config, database: { ...config.database, fallbackDir: null } } : config,
    log
  )
  await database.close()
} catch (error) {
  const known = error instanceof ConfigError || error instanceof DirectoryInUseError
  process.stderr.write(`db:migrate: ${known ? (error as Error).message : (error as Error).message}\n`)
  process.exit(1)
}
