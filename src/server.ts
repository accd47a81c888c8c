import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.ts'
import { ConfigError, loadConfig, loadDotEnv } from './config.ts'
import { DatabaseStartupError } from './db/errors.ts'
import { DirectoryInUseError } from './db/pglite-lock.ts'
import { onStopSignals } from './stop-signals.ts'

/** Errors that are the operator's to fix: one clear line, no stack. */
function fatal(error: unknown): never {
  const known = error instanceof ConfigError || error instanceof DirectoryInUseError || error instanceof DatabaseStartupError
  process.stderr.write(`llm-council-server: ${known ? (error as Error).message : String((error as Error)?.stack ?? error)}\n`)
  process.exit(1)
}

async function main(): Promise<void> {
  loadDotEnv()
  let config
  try {
    config = loadConfig()
  } catch (error) {
    fatal(error)
  }
  const app = await buildApp({ config }).catch(fatal)
  if (config.llm.provider === 'demo') {
    app.log.warn('LLM_PROVIDER=demo: no OPENROUTER_API_KEY, so the council answers with offline samples')
  }

  // Council runs get SHUTDOWN_GRACE_MS (see AskService.drain); the rest of closing gets a little more.
  // close-with-grace handles the other signals and uncaught errors; SIGTERM and SIGINT go through
  // onStopSignals, which counts copies of one signal once and never lets a repeated SIGTERM force the exit.
  const { close } = closeWithGrace(
    { delay: config.shutdownGraceMs + 10_000, skip: ['SIGTERM', 'SIGINT'], logger: app.log },
    async ({ err }) => {
      if (err) app.log.error({ err }, 'shutting down after an error')
      await app.close()
    }
  )
  onStopSignals({
    stop: (signal) => {
      app.log.info(`${signal}: shutting down (council runs under way get up to ${config.shutdownGraceMs} ms)`)
      void close()
    },
    repeated: (signal) => app.log.info(`${signal} again: already shutting down`),
    force: (signal) => {
      app.log.warn(`${signal} again: exiting at once`)
      process.exit(1)
    }
  })

  await app.listen({ port: config.port, host: config.host }).catch(fatal)
}

await main()
