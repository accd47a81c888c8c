import { and, eq, sql } from 'drizzle-orm'
import { conversations } from '../db/schema.ts'
import { type Statement, compile, isoTimestamp, queryRawRow } from '../db/sql.ts'
import type { Db } from '../db/types.ts'
import { type RecencyCursor, encodeCursor } from './cursor.ts'

export interface ConversationMeta {
  id: string
  created_at: string
  updated_at: string
  title: string
  message_count: number
  starred: boolean
}

/** JSON text for a response body: the bytes PostgreSQL sent, or a string from PGlite. */
export type JsonBody = Buffer | string

export interface ListOptions {
  limit: number
  before?: RecencyCursor
  starred?: boolean
}

// A conversation can hold many messages, but a read never returns an unbounded list.
export const MAX_MESSAGES_READ = 10_000

const metaColumns = {
  id: conversations.id,
  created_at: isoTimestamp(conversations.createdAt),
  updated_at: isoTimestamp(conversations.updatedAt),
  title: conversations.title,
  message_count: conversations.messageCount,
  starred: conversations.starred
}

/** Conversations of one user; every method takes the user id, and no query can reach another user's rows. */
export class ConversationsRepo {
  #db: Db

  constructor(db: Db) {
    this.#db = db
  }

  async create(userId: string, title?: string): Promise<ConversationMeta> {
    const [row] = await this.#db
      .insert(conversations)
      .values({ userId, ...(title === undefined ? {} : { title }) })
      .returning(metaColumns)
    return row!
  }

  /**
   * One page, most recently active first, as JSON built by the database (bytes on PostgreSQL): the
   * rows go out without being parsed into objects and serialised again. The cursor names the last row
   * when more follow.
   */
  listJson(userId: string, options: ListOptions): Promise<{ body: JsonBody; nextCursor: string | null }> {
    const { limit, before, starred } = options
    const values = { userId, limit, fetch: limit + 1, starred, beforeUpdatedAt: before?.updatedAt, beforeId: before?.id }
    return queryRawRow(this.#db, listStatement(before !== undefined, starred !== undefined), values).then((row) => {
      const [body, nextKey] = row!
      return { body: body!, nextCursor: nextKey ? encodeCursor(nextKey) : null }
    })
  }

  /**
   * A conversation with its messages in order, as JSON built by the database in one statement (bytes
   * on PostgreSQL): stage data goes out as stored, without being parsed into objects and serialised
   * again (a 40-message conversation is ~400 KB). Null when it is not the user's.
   */
  getJson(userId: string, id: string): Promise<JsonBody | null> {
    return queryRawRow(this.#db, getStatement, { userId, id }).then((row) => row?.[0] ?? null)
  }

  async exists(userId: string, id: string): Promise<boolean> {
    const rows = await this.#db
      .select({ id: conversations.id })
      .from(conversations)
      .where(and(eq(conversations.id, id), eq(conversations.userId, userId)))
    return rows.length > 0
  }

  async rename(userId: string, id: string, title: string): Promise<ConversationMeta | null> {
    const [row] = await this.#db
      .update(conversations)
      .set({ title })
      .where(and(eq(conversations.id, id), eq(conversations.userId, userId)))
      .returning(metaColumns)
    return row ?? null
  }

  async toggleStar(userId: string, id: string): Promise<ConversationMeta | null> {
    const [row] = await this.#db
      .update(conversations)
      .set({ starred: sql`not ${conversations.starred}` })
      .where(and(eq(conversations.id, id), eq(conversations.userId, userId)))
      .returning(metaColumns)
    return row ?? null
  }

  async delete(userId: string, id: string): Promise<boolean> {
    const rows = await this.#db
      .delete(conversations)
      .where(and(eq(conversations.id, id), eq(conversations.userId, userId)))
      .returning({ id: conversations.id })
    return rows.length > 0
  }
}

const iso = (column: string) => isoTimestamp(sql.raw(column))

/** A conversation's metadata as `json_build_object` keys and values (the shape of `metaColumns`). */
const metaFields = (alias: string) => {
  const column = (name: string) => sql.raw(`${alias}.${name}`)
  return sql`'id', ${column('id')}, 'created_at', ${iso(`${alias}.created_at`)}, 'updated_at', ${iso(`${alias}.updated_at`)},
    'title', ${column('title')}, 'message_count', ${column('message_count')}, 'starred', ${column('starred')}`
}

/** The list statement for each shape of filter, compiled once with placeholders. */
const listStatements = new Map<string, Statement>()

function listStatement(paged: boolean, byStar: boolean): Statement {
  const key = `${paged}:${byStar}`
  const cached = listStatements.get(key)
  if (cached) return cached
  const limit = sql.placeholder('limit')
  const filter = and(
    eq(conversations.userId, sql.placeholder('userId')),
    byStar ? eq(conversations.starred, sql.placeholder('starred')) : undefined,
    paged
      ? sql`(${conversations.updatedAt}, ${conversations.id}) < (${sql.placeholder('beforeUpdatedAt')}::timestamptz, ${sql.placeholder('beforeId')}::uuid)`
      : undefined
  )
  // One row more than the page is read: when it exists, the page's last row is the next cursor.
  const statement = compile(sql`select coalesce(json_agg(json_build_object(${metaFields('p')}) order by p.n)
                           filter (where p.n <= ${limit}), '[]')::text as body,
         min(${iso('p.updated_at')} || '|' || p.id::text) filter (where p.n = ${limit} and p.more) as next_key
    from (select c.*, row_number() over (order by c.updated_at desc, c.id desc) as n, count(*) over () > ${limit} as more
            from (select * from ${conversations} where ${filter}
                   order by ${conversations.updatedAt} desc, ${conversations.id} desc limit ${sql.placeholder('fetch')}) c) p`)
  listStatements.set(key, statement)
  return statement
}

const getStatement = compile(sql`select json_build_object(${metaFields('c')},
      'messages', coalesce((
        select json_agg(case when m.role = 'user'
          then json_build_object('role', 'user', 'content', coalesce(m.content, ''), 'created_at', ${iso('m.created_at')})
          else json_build_object('role', 'assistant', 'stage1', m.stage1, 'stage2', m.stage2, 'stage3', m.stage3,
                                 'metadata', m.metadata, 'created_at', ${iso('m.created_at')})
          end order by m.position)
        from (select * from messages where conversation_id = c.id order by position limit ${sql.raw(String(MAX_MESSAGES_READ))}) m
      ), '[]'::json)
    )::text as body
    from conversations c
   where c.id = ${sql.placeholder('id')} and c.user_id = ${sql.placeholder('userId')}`)
