import { type SQL, asc, getTableColumns, getTableName, gt, sql } from 'drizzle-orm'
import { type PgColumn, type PgTable, getTableConfig } from 'drizzle-orm/pg-core'
import { SCHEMA_TABLES } from '../../db/migrate.ts'
import type { Db } from '../../db/types.ts'

// Rows per page read and per INSERT: a message row with its stages is some kilobytes, so a page stays a few MB.
const PAGE = 500

export interface TableToCopy {
  name: string
  table: PgTable
  key: PgColumn
}

/**
 * Every table of the schema, each after the tables it references, with its primary key: the order
 * to copy them in. Derived from the schema, so a table added later is moved without a change here.
 */
export function tablesInCopyOrder(): TableToCopy[] {
  const ordered: TableToCopy[] = []
  const visit = (table: PgTable) => {
    if (ordered.some((t) => t.table === table)) return
    const config = getTableConfig(table)
    for (const foreignKey of config.foreignKeys) visit(foreignKey.reference().foreignTable)
    const key = config.columns.find((column) => column.primary)
    if (!key) throw new Error(`table ${config.name} has no single-column primary key to copy it by`)
    ordered.push({ name: config.name, table, key })
  }
  SCHEMA_TABLES.forEach(visit)
  return ordered
}

export interface TableState {
  rows: number
  /** md5 over the md5 of every row's text, in an order no collation changes: equal when the rows are. */
  checksum: string
}

/** A table's row count and checksum, computed by the database (the same SQL on PGlite and PostgreSQL). */
export async function tableState(db: Db, { table }: TableToCopy): Promise<TableState> {
  const rowHash = sql`md5(${table}::text)`
  const [state] = await db
    .select({
      rows: sql<number>`count(*)::int`,
      checksum: sql<string>`coalesce(md5(string_agg(${rowHash}, '' order by ${rowHash} collate "C")), '')`
    })
    .from(table)
  return state!
}

/**
 * Copies the rows of `source`'s table that `target` does not have (by primary key), page by page in
 * key order; rows already there are left as they are. Identity values are copied as they are, and the
 * target's sequence is moved past them. Returns how many rows were inserted.
 */
export async function copyTable(source: Db, target: Db, { table, key }: TableToCopy, onPage: (read: number) => void): Promise<number> {
  let inserted = 0
  let after: unknown
  for (;;) {
    const page: Record<string, unknown>[] = await source
      .select()
      .from(table)
      .where(after === undefined ? undefined : gt(key, after))
      .orderBy(asc(key))
      .limit(PAGE)
    if (page.length === 0) break
    const rows = await target.insert(table).overridingSystemValue().values(page).onConflictDoNothing().returning({ key })
    inserted += rows.length
    after = page.at(-1)![keyProperty(table, key)]
    onPage(page.length)
  }
  if (key.generatedIdentity) await target.execute(moveSequencePast(table, key))
  return inserted
}

/** The property name drizzle gives `key` in `table`'s rows. */
function keyProperty(table: PgTable, key: PgColumn): string {
  return Object.entries(getTableColumns(table)).find(([, column]) => column === key)![0]
}

function moveSequencePast(table: PgTable, key: PgColumn): SQL {
  const name = getTableName(table)
  return sql`select setval(pg_get_serial_sequence(${name}, ${key.name}), greatest((select max(${key}) from ${table}), 1))`
}
