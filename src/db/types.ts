import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core'
import type * as schema from './schema.ts'

/** What the postgres.js database, the PGlite database and a transaction on either all are. */
export type Db = PgDatabase<PgQueryResultHKT, typeof schema>
