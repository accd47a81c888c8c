import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.ts'
import { ConfigError, loadConfig, loadDotEnv } from './config.ts'
import { DirectoryInUseError } from './db/pglite-lock.ts'
import { tuneHeapGrowth } from './heap-tuning.ts'
import { turnBatchedDestination } from './log-destination.ts'

/** Errors that are the operator's to fix: one clear line, no stack. */
function fatal(error: unknown): never {
  const known = error instanceof ConfigError || error instanceof DirectoryInUseError
  process.stderr.write(`llm-council-server: ${known ? (error as Error).message : String((error as Error)?.stack ?? error)}\n`)
  process.exit(1)
}

async function main(): Promise<void> {
  tuneHeapGrowth()
  loadDotEnv()
  let config
  try {
    config = loadConfig()
  } catch (error) {
    fatal(error)
  }
  // Log lines go to stdout in one write per turn of the event loop (see turnBatchedDestination).
  const logStream = turnBatchedDestination(1)
  const app = await buildApp({ config, logStream }).catch(fatal)
  if (config.llm.provider === 'demo') {
    app.log.warn('LLM_PROVIDER=demo: no OPENROUTER_API_KEY, so the council answers with offline samples')
  }

  // Council runs get SHUTDOWN_GRACE_MS (see AskService.drain); the rest of closing gets a little more.
  // A second signal exits at once.
  closeWithGrace({ delay: config.shutdownGraceMs + 10_000 }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'shutting down after an error')
    else app.log.info(`${signal}: shutting down`)
    await app.close()
  })

  await app.listen({ port: config.port, host: config.host }).catch(fatal)
}

await main()
