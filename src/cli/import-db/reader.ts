import type { PendingQuery, Row, TransactionSql } from 'postgres'
import { BadFile, MAX_FILE_DEPTH } from '../import/parse.ts'
import { jsonDepth } from '../../validation.ts'
import type { OldColumn, OldSchema, OldTable } from './old-schema.ts'

// Rows fetched per round trip: conversations in a batch, and the messages read ahead to fill it.
export const CONVERSATIONS_PER_FETCH = 200
const MESSAGES_PER_FETCH = 2000

/** The read-only transaction on the old database. */
export type Tx = TransactionSql<Record<string, never>>

/** A column as text the importer reads the same whatever its type: times as naive UTC ISO-8601 (the session is in UTC), dates as YYYY-MM-DD. */
function value(tx: Tx, alias: string, column: OldColumn | undefined, as: string): PendingQuery<Row[]> {
  if (!column) return tx`null as ${tx(as)}`
  const ref = tx`${tx(alias)}.${tx(column.name)}`
  if (column.type.startsWith('timestamp')) return tx`to_char(${ref}, 'YYYY-MM-DD"T"HH24:MI:SS.US') as ${tx(as)}`
  if (column.type === 'date') return tx`to_char(${ref}, 'YYYY-MM-DD') as ${tx(as)}`
  if (column.type === 'boolean') return tx`${ref} as ${tx(as)}`
  // Counters as float8: exact for whole numbers to 2^53, and a number in JavaScript (bigint would be a string).
  if (['integer', 'bigint', 'smallint', 'numeric'].includes(column.type)) return tx`${ref}::float8 as ${tx(as)}`
  return tx`${ref}::text as ${tx(as)}`
}

/** Every part of `table` as a select list (`alias.column as part`, null for parts it has not). */
function selectList<Part extends string>(tx: Tx, alias: string, table: OldTable<Part>, parts: Part[]): PendingQuery<Row[]> {
  return parts.map((part) => value(tx, alias, table.parts[part], part)).reduce((list, item) => tx`${list}, ${item}`)
}

const qualified = (tx: Tx, schema: string, table: string) => tx`${tx(schema)}.${tx(table)}`

/** A JSON (or JSONB, or text holding JSON) column's value: parsed, and parsed again when a version stored it as a JSON string. */
export function parseJsonColumn(text: string | null, field: string): unknown {
  if (text === null) return null
  if (jsonDepth(text) > MAX_FILE_DEPTH) throw new BadFile(`${field} is nested more than ${MAX_FILE_DEPTH} levels deep`)
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new BadFile(`${field} is not valid JSON`)
  }
  if (typeof parsed === 'string' && /^\s*[[{]/.test(parsed)) return parseJsonColumn(parsed, field)
  return parsed
}

export interface OldConversation {
  row: Row
  messages: Row[]
}

/**
 * The old conversations in batches, each with its messages in order. Two cursors in one read-only
 * transaction, merged on the conversation's rank: each table is read once, in one sort, however
 * large (no query per batch that would scan the messages again).
 */
export async function* oldConversations(tx: Tx, old: OldSchema): AsyncGenerator<OldConversation[]> {
  const { conversations: c, messages: m, schema } = old
  const conversationParts = ['id', 'userId', 'title', 'starred', 'createdAt', 'updatedAt'] as const
  const messageParts = ['role', 'content', 'stage1', 'stage2', 'stage3', 'metadata', 'createdAt'] as const
  // Insertion order: an integer id where there is one (rows written in one transaction share a time), else the time.
  const integerId = m.parts.id && ['integer', 'bigint', 'smallint'].includes(m.parts.id.type)
  const order = integerId
    ? tx`m.${tx(m.parts.id!.name)}`
    : [m.parts.createdAt, m.parts.id].filter(Boolean).reduce((list, column) => tx`${list}, m.${tx(column!.name)}`, tx`c.ord`)
  await tx`
    declare old_conversations no scroll cursor for
    select row_number() over (order by c.id) as ord, ${selectList(tx, 'c', c, [...conversationParts])}
    from ${qualified(tx, schema, c.name)} c order by c.id`
  await tx`
    declare old_messages no scroll cursor for
    select c.ord, ${selectList(tx, 'm', m, [...messageParts])}
    from ${qualified(tx, schema, m.name)} m
    join (select id, row_number() over (order by id) as ord from ${qualified(tx, schema, c.name)}) c on c.id = m.${tx(m.parts.conversationId!.name)}
    order by c.ord, ${order}`
  let ahead: Row[] = []
  let messagesLeft = true
  for (;;) {
    const batch = await tx.unsafe(`fetch forward ${CONVERSATIONS_PER_FETCH} from old_conversations`)
    if (batch.length === 0) return
    const last = Number(batch.at(-1)!.ord)
    while (messagesLeft && (ahead.length === 0 || Number(ahead.at(-1)!.ord) <= last)) {
      const more = await tx.unsafe(`fetch forward ${MESSAGES_PER_FETCH} from old_messages`)
      messagesLeft = more.length === MESSAGES_PER_FETCH
      ahead = ahead.concat(more)
    }
    const byRank = new Map<number, Row[]>(batch.map((row) => [Number(row.ord), []]))
    let used = 0
    while (used < ahead.length && Number(ahead[used]!.ord) <= last) {
      byRank.get(Number(ahead[used]!.ord))?.push(ahead[used]!)
      used++
    }
    ahead = ahead.slice(used)
    yield batch.map((row) => ({ row, messages: byRank.get(Number(row.ord))! }))
  }
}

/** All rows of an optional table, every part it has (small tables: one per user). */
export async function oldRows<Part extends string>(tx: Tx, schema: string, table: OldTable<Part> | null): Promise<Row[]> {
  if (!table) return []
  const parts = Object.keys(table.parts) as Part[]
  return tx`select ${selectList(tx, 't', table, parts)} from ${qualified(tx, schema, table.name)} t`
}

/** How many rows hold a value in each column with no place here, for the summary's "not kept" lines. */
export async function unknownColumnCounts(tx: Tx, schema: string, table: OldTable<string> | null): Promise<Record<string, number>> {
  if (!table || table.unknown.length === 0) return {}
  const counts = table.unknown
    .map((column, i) => tx`count(${tx(column.name)})::float8 as ${tx(`c${i}`)}`)
    .reduce((list, item) => tx`${list}, ${item}`)
  const [row] = await tx`select ${counts} from ${qualified(tx, schema, table.name)}`
  return Object.fromEntries(table.unknown.map((column, i) => [`${table.name}.${column.name}`, Number(row![`c${i}`])]).filter(([, n]) => (n as number) > 0))
}

/** Messages that name a conversation that does not exist (a database without the foreign key). */
export async function orphanMessages(tx: Tx, old: OldSchema): Promise<number> {
  const { conversations: c, messages: m, schema } = old
  const [row] = await tx`
    select count(*)::float8 as n from ${qualified(tx, schema, m.name)} m
    where not exists (select 1 from ${qualified(tx, schema, c.name)} c where c.id = m.${tx(m.parts.conversationId!.name)})`
  return Number(row!.n)
}
