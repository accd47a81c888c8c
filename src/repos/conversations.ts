import { and, asc, desc, eq, sql } from 'drizzle-orm'
import { conversations, messages } from '../db/schema.ts'
import { isoTimestamp, queryRows } from '../db/sql.ts'
import type { AssistantStages } from '../db/stages.ts'
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

export type StoredMessage =
  | { role: 'user'; content: string; created_at: string }
  | ({ role: 'assistant'; created_at: string } & AssistantStages)

export interface Conversation extends ConversationMeta {
  messages: StoredMessage[]
}

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

  async list(userId: string, options: ListOptions): Promise<{ items: ConversationMeta[]; nextCursor: string | null }> {
    const { limit, before, starred } = options
    const rows = await this.#db
      .select(metaColumns)
      .from(conversations)
      .where(
        and(
          eq(conversations.userId, userId),
          starred === undefined ? undefined : eq(conversations.starred, starred),
          before
            ? sql`(${conversations.updatedAt}, ${conversations.id}) < (${before.updatedAt}::timestamptz, ${before.id}::uuid)`
            : undefined
        )
      )
      .orderBy(desc(conversations.updatedAt), desc(conversations.id))
      .limit(limit + 1)
    const items = rows.slice(0, limit)
    const last = items.at(-1)
    const nextCursor = rows.length > limit && last ? encodeCursor({ updatedAt: last.updated_at, id: last.id }) : null
    return { items, nextCursor }
  }

  async get(userId: string, id: string): Promise<Conversation | null> {
    // Both reads go out at once; the join keeps the message read to the owner's conversation.
    const [[meta], rows] = await Promise.all([
      this.#db
        .select(metaColumns)
        .from(conversations)
        .where(and(eq(conversations.id, id), eq(conversations.userId, userId))),
      this.#db
        .select({
          role: messages.role,
          content: messages.content,
          stage1: messages.stage1,
          stage2: messages.stage2,
          stage3: messages.stage3,
          metadata: messages.metadata,
          created_at: isoTimestamp(messages.createdAt)
        })
        .from(messages)
        .innerJoin(conversations, eq(conversations.id, messages.conversationId))
        .where(and(eq(messages.conversationId, id), eq(conversations.userId, userId)))
        .orderBy(asc(messages.position))
        .limit(MAX_MESSAGES_READ)
    ])
    if (!meta) return null
    return { ...meta, messages: rows.map(toStoredMessage) }
  }

  /**
   * The same conversation as `get`, as JSON text built by the database in one statement: stage data
   * goes out as stored, without being parsed into objects and serialised again (a 40-message
   * conversation is ~400 KB). Null when it is not the user's.
   */
  async getJson(userId: string, id: string): Promise<string | null> {
    const iso = (column: string) => sql.raw(`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`)
    const [row] = await queryRows<{ body: string }>(
      this.#db,
      sql`select json_build_object(
            'id', c.id, 'created_at', ${iso('c.created_at')}, 'updated_at', ${iso('c.updated_at')},
            'title', c.title, 'message_count', c.message_count, 'starred', c.starred,
            'messages', coalesce((
              select json_agg(case when m.role = 'user'
                then json_build_object('role', 'user', 'content', coalesce(m.content, ''), 'created_at', ${iso('m.created_at')})
                else json_build_object('role', 'assistant', 'stage1', m.stage1, 'stage2', m.stage2, 'stage3', m.stage3,
                                       'metadata', m.metadata, 'created_at', ${iso('m.created_at')})
                end order by m.position)
              from (select * from messages where conversation_id = c.id order by position limit ${MAX_MESSAGES_READ}) m
            ), '[]'::json)
          )::text as body
          from conversations c
         where c.id = ${id} and c.user_id = ${userId}`
    )
    return row?.body ?? null
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

type MessageRow = AssistantStages & { role: 'user' | 'assistant'; content: string | null; created_at: string }

function toStoredMessage(row: MessageRow): StoredMessage {
  if (row.role === 'user') return { role: 'user', content: row.content ?? '', created_at: row.created_at }
  return {
    role: 'assistant',
    stage1: row.stage1,
    stage2: row.stage2,
    stage3: row.stage3,
    metadata: row.metadata,
    created_at: row.created_at
  }
}
