import { type SQL, sql } from 'drizzle-orm'
import { toJsonb } from '../db/json.ts'
import { isoTimestamp, queryRows } from '../db/sql.ts'
import type { AssistantStages } from '../db/stages.ts'
import type { UsageFigures } from './usage.ts'
import type { Db } from '../db/types.ts'

export type ImportMessage = { role: 'user'; content: string } | ({ role: 'assistant' } & AssistantStages)

/** A conversation read from an llm-council file, checked and normalised. */
export interface ImportConversation {
  kind: 'conversation'
  id: string
  /** The id the file gave, when it was not a UUID and `id` was derived from it. */
  sourceId: string | null
  userId: string
  title: string | null
  starred: boolean | null
  createdAt: string | null
  messages: ImportMessage[]
  nulReplaced: number
}

export interface ImportUsage {
  kind: 'usage'
  userId: string
  tier: string
  dailyUsed: number
  monthlyUsed: number
  totalQueries: number
  lastResetDaily: string | null
  lastResetMonthly: string | null
}

export interface StoredConversationState {
  userId: string
  messageCount: number
}

export interface ExportConversation {
  id: string
  user_id: string
  title: string
  starred: boolean
  created_at: string
  messages: ExportMessage[]
}

export type ExportMessage = { role: 'user'; content: string | null } | ({ role: 'assistant' } & AssistantStages)

/** A usage row as llm-council's usage files hold it (limits are the stored per-user overrides). */
export type ExportUsage = Omit<UsageFigures, 'daily_resets_at' | 'monthly_resets_at'> & {
  user_id: string
  last_reset_daily: string
  last_reset_monthly: string
}

/** Messages from `from` on, as one JSON document that the database expands (one parameter, any size). */
function messageRecords(messages: ImportMessage[], from = 0, conversationId?: string): string {
  const rows = messages.slice(from).map((message, i) => ({
    ...(conversationId ? { conversation_id: conversationId } : {}),
    ...(message.role === 'user'
      ? { position: from + i, role: 'user', content: message.content }
      : { position: from + i, role: 'assistant', stage1: message.stage1, stage2: message.stage2, stage3: message.stage3, metadata: message.metadata })
  }))
  return toJsonb(rows)!
}

const insertMessagesFrom = (source: SQL, records: string) => sql`
  insert into messages (conversation_id, position, role, content, stage1, stage2, stage3, metadata, created_at)
  select c.id, r.position, r.role, r.content, r.stage1, r.stage2, r.stage3, r.metadata, c.created_at
    from ${source} c
   cross join jsonb_to_recordset(${records}::jsonb)
      as r(position int, role text, content text, stage1 jsonb, stage2 jsonb, stage3 jsonb, metadata jsonb)
  returning 1`

/**
 * Bulk moves in and out of the store, for import-json and export-json. Each import statement is
 * atomic on its own, so a conversation is never half-imported, even if the process is killed.
 */
export class TransferRepo {
  #db: Db

  constructor(db: Db) {
    this.#db = db
  }

  /**
   * Creates the conversations (each with all its messages) whose ids are free, in one statement: all
   * of a conversation goes in or none of it. Returns the ids it created; the others already existed.
   */
  async createConversations(batch: ImportConversation[]): Promise<Set<string>> {
    const conversations = toJsonb(
      batch.map((c) => ({ id: c.id, user_id: c.userId, title: c.title, starred: c.starred, message_count: c.messages.length, created_at: c.createdAt }))
    )
    const messages = `[${batch.map((c) => messageRecords(c.messages, 0, c.id).slice(1, -1)).filter(Boolean).join(',')}]`
    const rows = await queryRows<{ id: string }>(
      this.#db,
      sql`with input as (
            select * from jsonb_to_recordset(${conversations}::jsonb)
              as x(id uuid, user_id text, title text, starred boolean, message_count int, created_at timestamptz)
          ), c as (
            insert into conversations (id, user_id, title, starred, message_count, created_at, updated_at)
            select id, user_id, coalesce(title, 'New Conversation'), coalesce(starred, false), message_count,
                   coalesce(created_at, now()), coalesce(created_at, now())
              from input
            on conflict (id) do nothing
            returning id, created_at
          ), m as (
            insert into messages (conversation_id, position, role, content, stage1, stage2, stage3, metadata, created_at)
            select c.id, r.position, r.role, r.content, r.stage1, r.stage2, r.stage3, r.metadata, c.created_at
              from c join jsonb_to_recordset(${messages}::jsonb)
                as r(conversation_id uuid, position int, role text, content text, stage1 jsonb, stage2 jsonb, stage3 jsonb, metadata jsonb)
                on r.conversation_id = c.id
            returning 1
          )
          select c.id, (select count(*) from m) as messages from c`
    )
    return new Set(rows.map((row) => row.id))
  }

  /** Creates the conversation with all its messages, in one statement; null when its id already exists. */
  async createConversation(c: ImportConversation): Promise<number | null> {
    const createdAt = c.createdAt ? sql`${c.createdAt}::timestamptz` : sql`now()`
    const [row] = await queryRows<{ created: number; messages: number }>(
      this.#db,
      sql`with c as (
            insert into conversations (id, user_id, title, starred, message_count, created_at, updated_at)
            values (${c.id}, ${c.userId}, ${c.title ?? 'New Conversation'}, ${c.starred ?? false}, ${c.messages.length}, ${createdAt}, ${createdAt})
            on conflict (id) do nothing
            returning id, created_at
          ), m as (${insertMessagesFrom(sql`c`, messageRecords(c.messages))})
          select (select count(*) from c)::int as created, (select count(*) from m)::int as messages`
    )
    return row && Number(row.created) > 0 ? Number(row.messages) : null
  }

  async conversationState(id: string): Promise<StoredConversationState | null> {
    const [row] = await queryRows<{ user_id: string; message_count: number }>(
      this.#db,
      sql`select user_id, message_count from conversations where id = ${id}`
    )
    return row ? { userId: row.user_id, messageCount: Number(row.message_count) } : null
  }

  /**
   * Appends the file's messages at positions from the stored count on, and moves the count; nothing
   * else changes. Only if the count is still `stored` (a concurrent change makes it a no-op: 0).
   */
  async appendMessages(c: ImportConversation, stored: number): Promise<number> {
    const [row] = await queryRows<{ messages: number }>(
      this.#db,
      sql`with c as (
            update conversations set message_count = ${c.messages.length}
             where id = ${c.id} and user_id = ${c.userId} and message_count = ${stored}
            returning id, created_at
          ), m as (${insertMessagesFrom(sql`c`, messageRecords(c.messages, stored))})
          select count(*)::int as messages from m`
    )
    return Number(row?.messages ?? 0)
  }

  /** Tier and counters for a user who has no usage row yet; false when they already have one. */
  async createUsage(u: ImportUsage): Promise<boolean> {
    const [row] = await queryRows<{ user_id: string }>(
      this.#db,
      sql`insert into usage (user_id, tier, daily_used, monthly_used, total_queries, last_reset_daily, last_reset_monthly)
          values (${u.userId}, ${u.tier}, ${u.dailyUsed}, ${u.monthlyUsed}, ${u.totalQueries},
                  coalesce(${u.lastResetDaily}::date, (now() at time zone 'utc')::date),
                  coalesce(${u.lastResetMonthly}::date, (now() at time zone 'utc')::date))
          on conflict (user_id) do nothing
          returning user_id`
    )
    return row !== undefined
  }

  async hasUsage(userId: string): Promise<boolean> {
    return (await queryRows(this.#db, sql`select 1 from usage where user_id = ${userId}`)).length > 0
  }

  /** Conversations in (user_id, id) order after `after`, with their messages: one page of an export. */
  async exportPage(options: { userId?: string; after?: { userId: string; id: string }; limit: number }): Promise<ExportConversation[]> {
    const { userId, after, limit } = options
    const conversations = await queryRows<Omit<ExportConversation, 'messages'>>(
      this.#db,
      sql`select id, user_id, title, starred, ${isoTimestamp(sql`created_at`)} as created_at
            from conversations
           where ${userId === undefined ? sql`true` : sql`user_id = ${userId}`}
             and ${after ? sql`(user_id, id) > (${after.userId}, ${after.id}::uuid)` : sql`true`}
           order by user_id, id
           limit ${limit}`
    )
    if (conversations.length === 0) return []
    const ids = conversations.map((c) => c.id)
    const messages = await queryRows<ExportMessage & { conversation_id: string }>(
      this.#db,
      sql`select conversation_id, role, content, stage1, stage2, stage3, metadata
            from messages
           where conversation_id in (${sql.join(ids.map((id) => sql`${id}::uuid`), sql`, `)})
           order by conversation_id, position`
    )
    const byConversation = new Map<string, ExportMessage[]>(ids.map((id) => [id, []]))
    for (const { conversation_id, ...message } of messages) byConversation.get(conversation_id)!.push(parseJsonColumns(message))
    return conversations.map((c) => ({ ...c, messages: byConversation.get(c.id)! }))
  }

  async exportUsage(options: { userId?: string; after?: string; limit: number }): Promise<ExportUsage[]> {
    const { userId, after, limit } = options
    const rows = await queryRows<ExportUsage>(
      this.#db,
      sql`select user_id, tier, daily_used, daily_limit, monthly_used, monthly_limit, total_queries,
                 to_char(last_reset_daily::timestamp, 'YYYY-MM-DD') as last_reset_daily,
                 to_char(last_reset_monthly::timestamp, 'YYYY-MM-DD') as last_reset_monthly
            from usage
           where ${userId === undefined ? sql`true` : sql`user_id = ${userId}`}
             and ${after === undefined ? sql`true` : sql`user_id > ${after}`}
           order by user_id
           limit ${limit}`
    )
    return rows.map((row) => ({ ...row, total_queries: Number(row.total_queries) }))
  }
}

// Raw SQL through postgres.js already parses JSONB; PGlite too. Strings only if a driver did not.
function parseJsonColumns(message: ExportMessage & Record<string, unknown>): ExportMessage {
  const parse = (value: unknown) => (typeof value === 'string' ? JSON.parse(value) : value)
  if (message.role === 'user') return { role: 'user', content: message.content as string | null }
  return {
    role: 'assistant',
    stage1: parse(message.stage1),
    stage2: parse(message.stage2),
    stage3: parse(message.stage3),
    metadata: parse(message.metadata)
  }
}
