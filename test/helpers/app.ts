import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { buildApp } from '../../src/app.ts'
import { loadConfig } from '../../src/config.ts'
import type { Database } from '../../src/db/client.ts'

export interface TestApp {
  app: FastifyInstance
  /** Every log line the app wrote, parsed. */
  logs: Record<string, unknown>[]
  /** Values no log line may hold (passwords, session tokens, API keys a test used); checked at teardown. */
  secrets: Set<string>
}

/** Captures pino's JSON lines. */
export function logCapture(): { stream: Writable; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = []
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line))
      done()
    }
  })
  return { stream, lines }
}

/** The same app the server builds, over `database`, configured by `env` on top of test defaults. */
export async function buildTestApp(t: Test, database: Database, env: Record<string, string> = {}): Promise<TestApp> {
  // Rate limiting and load shedding have tests of their own; elsewhere a busy CI machine must not trip them.
  const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'info', RATE_LIMIT_MAX: '0', MAX_EVENT_LOOP_DELAY_MS: '0', ...env })
  const capture = logCapture()
  const app = await buildApp({ config, database, logStream: capture.stream })
  await app.ready()
  const secrets = new Set<string>()
  t.teardown(async () => {
    await app.close()
    // No log line of any test's app may hold a secret it was configured with, or one a test used.
    const text = JSON.stringify(capture.lines)
    const configured = [
      config.llm.apiKey,
      config.adminToken,
      config.auth.mode === 'jwt' ? config.auth.secret : undefined,
      'oidc' in config.auth ? config.auth.oidc?.clientSecret : undefined,
      config.database.kind === 'postgres' ? new URL(config.database.url).password : ''
    ]
    for (const secret of configured) {
      if (secret && text.includes(secret)) throw new Error('a log line holds a configured secret')
    }
    for (const secret of secrets) {
      if (text.includes(secret)) throw new Error('a log line holds a password, session token or API key a test used')
    }
  })
  return { app, logs: capture.lines, secrets }
}
