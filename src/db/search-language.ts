import { sql } from 'drizzle-orm'
import { ConfigError, DEFAULT_SEARCH_LANGUAGE } from '../config.ts'
import type { Database } from './client.ts'

/** Set once at startup by whoever opens the database (the server, a tool); the schema's `search_config` default reads it. */
export const searchLanguage = { current: DEFAULT_SEARCH_LANGUAGE }

/** Checks that the database has the configuration `language` and indexes new rows under it. */
export async function useSearchLanguage(database: Database, language: string): Promise<void> {
  const rows = await database.db.select({ name: sql<string>`cfgname::text` }).from(sql`pg_ts_config`).orderBy(sql`cfgname`)
  const names = rows.map((row) => row.name)
  if (!names.includes(language)) {
    throw new ConfigError(`SEARCH_LANGUAGE=${language} is not a text search configuration of this database; it has ${names.join(', ')}`)
  }
  searchLanguage.current = language
}
