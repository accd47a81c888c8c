import type { PGlite } from '@electric-sql/pglite'
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js'
import postgres, { type Sql } from 'postgres'
import type { Config } from '../config.ts'
import { lockDirectory } from './pglite-lock.ts'
import { SlowQueryWatch } from './slow-queries.ts'
import * as schema from './schema.ts'
import type { Db } from './types.ts'

export interface Database {
  db: Db
  /** Set its reporter and threshold to hear of slow statements. */
  slowQueries: SlowQueryWatch
  backend: 'postgres' | 'pglite'
  /** Where the data lives, safe to log: host and database name, or directory; never a password. */
  description: string
  ping(): Promise<void>
  close(): Promise<void>
}

export type PoolOptions = Config['db']

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
    prepare: options.prepare,
    connect_timeout: Math.max(1, Math.ceil(options.connectTimeoutMs / 1000)),
    idle_timeout: 60,
    onnotice: () => {},
    // A transaction pooler (DB_PREPARE=false) refuses startup parameters it does not track, such as
    // statement_timeout: set that on the database or role there (README, deployment).
    connection: {
      application_name: 'llm-council-server',
      TimeZone: 'UTC',
      // Prepared statements keep one generic plan: every statement here finds its rows through a key
      // or an index whose order it reads, so planning again on each call would buy nothing.
      ...(options.prepare ? { statement_timeout: options.statementTimeoutMs, plan_cache_mode: 'force_generic_plan' } : {})
    }
  })
}

/**
 * Statements with more parameters than this are multi-row inserts whose text changes with the batch
 * size; preparing each of them would grow every connection's statement cache without bound.
 */
export const MAX_PREPARED_PARAMETERS = 64

/**
 * Drizzle asks postgres.js for a server-side prepared statement only for queries built with
 * `.prepare(name)`, so every other query is parsed and planned again on each call. With DB_PREPARE on,
 * the repositories' statements (a bounded set of texts) are prepared once per connection instead.
 */
function prepareRepeatedStatements(client: Sql): void {
  const unsafe = client.unsafe.bind(client)
  client.unsafe = ((query: string, parameters: unknown[] = [], queryOptions: { prepare?: boolean } = {}) =>
    unsafe(query, parameters as never, { ...queryOptions, prepare: parameters.length <= MAX_PREPARED_PARAMETERS })) as Sql['unsafe']
}

export function openPostgres(url: string, options: PoolOptions): Database {
  const client = postgresClient(url, options)
  if (options.prepare) prepareRepeatedStatements(client)
  const slowQueries = new SlowQueryWatch()
  slowQueries.instrumentPostgres(client)
  return {
    db: drizzlePostgres(client, { schema }),
    slowQueries,
    backend: 'postgres',
    description: describePostgresUrl(url),
    async ping() {
      await client`select 1`
    },
    close: once(() => client.end({ timeout: 5 }))
  }
}

/** Opens the embedded database; a directory (not `memory://`) is locked to this process until close. */
export async function openPglite(dir: string): Promise<Database> {
  // Imported on first use: PGlite's code and its source map are ~3.5 MB of heap that a server on
  // PostgreSQL would otherwise carry, and every full garbage collection would mark.
  const [{ PGlite }, { drizzle: drizzlePglite }] = await Promise.all([import('@electric-sql/pglite'), import('drizzle-orm/pglite')])
  const memory = dir === 'memory://'
  const release = memory ? () => {} : lockDirectory(dir)
  let client: PGlite
  try {
    client = memory ? new PGlite() : new PGlite(dir)
    await client.waitReady
  } catch (error) {
    release()
    throw error
  }
  const slowQueries = new SlowQueryWatch()
  slowQueries.instrumentPglite(client)
  return {
    db: drizzlePglite(client, { schema }),
    slowQueries,
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
