import type { PGlite } from '@electric-sql/pglite'
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import type { Config } from '../config.ts'
import { deadlineSocket } from './deadline-socket.ts'
import { DatabaseStartupError } from './errors.ts'
import { lockDirectory } from './pglite-lock.ts'
import * as schema from './schema.ts'
import { QueryTimer } from './slow-queries.ts'
import type { Db } from './types.ts'

export interface Database {
  db: Db
  /** Times the repositories' calls; set its reporter and threshold to hear of slow ones. */
  timer: QueryTimer
  backend: 'postgres' | 'pglite'
  /** Where the data lives, safe to log: host and database name, or directory; never a password. */
  description: string
  ping(): Promise<void>
  close(): Promise<void>
  /** LISTEN on a channel over a connection of its own; resolves to a function that stops. PostgreSQL only. */
  listen?: (channel: string, onNotify: (payload: string) => void) => Promise<() => Promise<void>>
}

export type PoolOptions = Omit<Config['db'], 'startupTimeoutMs'>

/** Closing twice (a test and its teardown, a signal during shutdown) closes once. */
function once(close: () => Promise<void>): () => Promise<void> {
  let closing: Promise<void> | undefined
  return () => (closing ??= close())
}

export function describePostgresUrl(url: string): string {
  const parsed = new URL(url)
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || '(default database)'
  return `PostgreSQL ${parsed.hostname}:${parsed.port || 5432}/${database}`
}

export function postgresClient(url: string, options: PoolOptions, max = options.poolMax) {
  return postgres(url, {
    max,
    // postgres.js prepares the statements drizzle marks with .prepare(); off behind a transaction pooler.
    prepare: options.prepare,
    connect_timeout: Math.max(1, Math.ceil(options.connectTimeoutMs / 1000)),
    idle_timeout: 60,
    // A client-side deadline: a connection that gets no answer within the statement timeout (by when
    // the server would have cancelled the statement) is given up, so requests answer 503, not hang.
    ...(options.statementTimeoutMs > 0 ? { socket: deadlineSocket(options.statementTimeoutMs) } : {}),
    onnotice: () => {},
    // A transaction pooler (DB_PREPARE=false) refuses startup parameters it does not track, such as
    // statement_timeout: set that on the database or role there (README, deployment).
    connection: {
      application_name: 'llm-council-server',
      TimeZone: 'UTC',
      ...(options.prepare ? { statement_timeout: options.statementTimeoutMs } : {})
    }
  })
}

/** `listenUrl`: a direct connection for LISTEN (a transaction pooler does not keep one session); the pool's by default. */
export function openPostgres(url: string, options: PoolOptions, listenUrl = url): Database {
  const client = postgresClient(url, options)
  let listener: ReturnType<typeof postgres> | undefined
  return {
    db: drizzlePostgres({ client, schema }),
    timer: new QueryTimer(),
    backend: 'postgres',
    description: describePostgresUrl(url),
    async ping() {
      await client`select 1`
    },
    async listen(channel, onNotify) {
      // One connection, opened on first use, listens for every channel; postgres.js reconnects it.
      listener ??= postgres(listenUrl, { max: 1, onnotice: () => {}, connect_timeout: Math.max(1, Math.ceil(options.connectTimeoutMs / 1000)), connection: { application_name: 'llm-council-server' } })
      const { unlisten } = await listener.listen(channel, onNotify)
      return unlisten
    },
    close: once(async () => {
      await Promise.all([client.end({ timeout: 5 }), listener?.end({ timeout: 5 })])
    })
  }
}

/** Opens the embedded database; a directory (not `memory://`) is locked to this process until close. */
export async function openPglite(dir: string): Promise<Database> {
  // Imported on first use: a server on PostgreSQL never loads PGlite's code (~3.5 MB of heap).
  const [{ PGlite }, { drizzle: drizzlePglite }] = await Promise.all([import('@electric-sql/pglite'), import('drizzle-orm/pglite')])
  const memory = dir === 'memory://'
  const release = memory ? () => {} : lockDirectory(dir)
  let client: PGlite
  try {
    client = memory ? new PGlite() : new PGlite(dir)
    await client.waitReady
  } catch (error) {
    release()
    // PGlite may throw what is not an Error (its WebAssembly runtime's own objects): one line either way.
    const reason = error instanceof Error ? error.message : JSON.stringify(error) ?? String(error)
    throw new DatabaseStartupError(`the embedded database in ${dir} could not be opened: ${reason}`)
  }
  return {
    db: drizzlePglite({ client, schema }),
    timer: new QueryTimer(),
    backend: 'pglite',
    description: memory ? 'PGlite in memory' : `PGlite in ${dir}`,
    async ping() {
      await client.query('select 1')
    },
    close: once(async () => {
      try {
        await client.close()
      } finally {
        release()
      }
    })
  }
}
