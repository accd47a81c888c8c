import { and, desc, eq, exists, sql } from 'drizzle-orm'
import { storableText } from '../db/json.ts'
import { conversations, messages, runs } from '../db/schema.ts'
import { DEFAULT_TITLE } from '../domain.ts'
import { UNTIMED, type QueryTimer } from '../db/slow-queries.ts'
import { isoTimestamp } from '../db/sql.ts'
import type { Db } from '../db/types.ts'
import type { ChosenCouncil } from '../services/council-settings.ts'
import { type RecencyCursor, encodeCursor } from './cursor.ts'

export interface ConversationMeta {
  id: string
  created_at: string
  updated_at: string
  title: string
  message_count: number
  starred: boolean
}

export type ConversationWithCouncil = ConversationMeta & { council: ChosenCouncil | null }

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

/**
 * A message as the API shows it, as JSON text built by the database: stage data goes out as stored,
 * never parsed into objects and serialised again (a 40-message conversation is ~200 KB of it).
 */
const messageJson = sql<string>`(case when ${messages.role} = 'user' and ${messages.kind} is null
  then json_build_object('role', 'user', 'content', coalesce(${messages.content}, ''), 'created_at', ${isoTimestamp(messages.createdAt)})
  when ${messages.role} = 'user'
  then json_build_object('role', 'user', 'kind', ${messages.kind}, 'content', coalesce(${messages.content}, ''), 'created_at', ${isoTimestamp(messages.createdAt)})
  else json_build_object('role', 'assistant', 'stage1', ${messages.stage1}, 'stage2', ${messages.stage2}, 'stage3', ${messages.stage3},
                         'metadata', ${messages.metadata}, 'created_at', ${isoTimestamp(messages.createdAt)})
  end)::text`

/** A conversation as a single read shows it: its metadata and the council chosen for it (null: the default). */
const conversationColumns = { ...metaColumns, council: conversations.council }

/**
 * The run answering now, if one is: a reader follows it with GET .../runs/{id}/events. Written out:
 * drizzle leaves column names unqualified in a one-table select, which a correlated subquery needs.
 */
const activeRun = sql<{ id: string; state: 'running'; question_position: number; started_at: string } | null>`(
  select json_build_object('id', r.id, 'state', r.state, 'question_position', r.question_position, 'started_at', ${isoTimestamp(sql.raw('r.created_at'))})
  from ${runs} r where r.conversation_id = ${sql.raw('"conversations"."id"')} and r.state = 'running' limit 1)`

const byIdAndOwner = and(eq(conversations.id, sql.placeholder('id')), eq(conversations.userId, sql.placeholder('userId')))

/** Conversations of one user; every method takes the user id, and no query can reach another user's rows. */
export class ConversationsRepo {
  #db: Db
  #timer: QueryTimer
  #statements

  constructor(db: Db, timer: QueryTimer = UNTIMED) {
    this.#db = db
    this.#timer = timer
    this.#statements = {
      create: db.insert(conversations).values({ userId: sql.placeholder('userId') }).returning(conversationColumns).prepare('conversation_create'),
      get: db.select({ ...conversationColumns, run: activeRun }).from(conversations).where(byIdAndOwner).prepare('conversation_get'),
      messages: db
        .select({ json: messageJson })
        .from(messages)
        // The owner's check is a one-time filter: another user's id reads no message at all.
        .where(and(eq(messages.conversationId, sql.placeholder('id')), exists(db.select({ id: conversations.id }).from(conversations).where(byIdAndOwner))))
        .orderBy(messages.position)
        .limit(MAX_MESSAGES_READ)
        .prepare('conversation_messages'),
      exists: db.select({ id: conversations.id }).from(conversations).where(byIdAndOwner).prepare('conversation_exists'),
      council: db.select({ council: conversations.council }).from(conversations).where(byIdAndOwner).prepare('conversation_council'),
      rename: db
        .update(conversations)
        // drizzle's set() types take no bare placeholder; wrapped in sql it binds as one.
        .set({ title: sql`${sql.placeholder('title')}` })
        .where(byIdAndOwner)
        .returning(metaColumns)
        .prepare('conversation_rename'),
      autoTitle: db
        .update(conversations)
        .set({ title: sql`${sql.placeholder('title')}` })
        // Only over the default: a title the user gave while the first run went on wins.
        .where(and(byIdAndOwner, eq(conversations.title, DEFAULT_TITLE)))
        .returning(metaColumns)
        .prepare('conversation_auto_title'),
      toggleStar: db
        .update(conversations)
        .set({ starred: sql`not ${conversations.starred}` })
        .where(byIdAndOwner)
        .returning(metaColumns)
        .prepare('conversation_star'),
      delete: db.delete(conversations).where(byIdAndOwner).returning({ id: conversations.id }).prepare('conversation_delete'),
      list: [false, true].map((paged) => [false, true].map((byStar) => this.#listStatement(paged, byStar)))
    }
  }

  /** The list statement for one shape of filter: one row more than the page, whose presence means more follow. */
  #listStatement(paged: boolean, byStar: boolean) {
    return this.#db
      .select(metaColumns)
      .from(conversations)
      .where(
        and(
          eq(conversations.userId, sql.placeholder('userId')),
          byStar ? eq(conversations.starred, sql.placeholder('starred')) : undefined,
          paged
            ? sql`(${conversations.updatedAt}, ${conversations.id}) < (${sql.placeholder('beforeUpdatedAt')}::timestamptz, ${sql.placeholder('beforeId')}::uuid)`
            : undefined
        )
      )
      .orderBy(desc(conversations.updatedAt), desc(conversations.id))
      .limit(sql.placeholder('fetch'))
      .prepare(`conversations_list${paged ? '_paged' : ''}${byStar ? '_starred' : ''}`)
  }

  async create(userId: string, council: ChosenCouncil | null = null): Promise<ConversationWithCouncil> {
    // Most conversations start on the default council: that insert is prepared like the other hot statements.
    const insert = council === null
      ? this.#statements.create.execute({ userId })
      : this.#db.insert(conversations).values({ userId, council }).returning(conversationColumns)
    const [row] = await this.#timer.time('conversations.create', insert)
    return row!
  }

  /** Sets the council a conversation's next questions use (null: the default); null when it is not the user's. */
  async setCouncil(userId: string, id: string, council: ChosenCouncil | null): Promise<ConversationWithCouncil | null> {
    const [row] = await this.#timer.time(
      'conversations.setCouncil',
      this.#db.update(conversations).set({ council }).where(and(eq(conversations.id, id), eq(conversations.userId, userId))).returning(conversationColumns)
    )
    return row ?? null
  }

  /** The council chosen for a conversation: `{council: null}` for the default, null when it is not the user's. */
  async council(userId: string, id: string): Promise<{ council: ChosenCouncil | null } | null> {
    const [row] = await this.#timer.time('conversations.council', this.#statements.council.execute({ userId, id }))
    return row ?? null
  }

  /** One page, most recently active first; the cursor names the page's last row when more follow. */
  async list(userId: string, { limit, before, starred }: ListOptions): Promise<{ conversations: ConversationMeta[]; nextCursor: string | null }> {
    const statement = this.#statements.list[Number(before !== undefined)]![Number(starred !== undefined)]!
    const values = { userId, fetch: limit + 1, starred, beforeUpdatedAt: before?.updatedAt, beforeId: before?.id }
    const rows = await this.#timer.time('conversations.list', statement.execute(values))
    if (rows.length <= limit) return { conversations: rows, nextCursor: null }
    const page = rows.slice(0, limit)
    return { conversations: page, nextCursor: encodeCursor(page.at(-1)!) }
  }

  /** A conversation with its messages in order, as JSON text; null when it is not the user's. */
  async getJson(userId: string, id: string): Promise<string | null> {
    const [[conversation], rows] = await this.#timer.time(
      'conversations.get',
      Promise.all([this.#statements.get.execute({ userId, id }), this.#statements.messages.execute({ userId, id })])
    )
    if (!conversation) return null
    return `${JSON.stringify(conversation).slice(0, -1)},"messages":[${rows.map((row) => row.json).join(',')}]}`
  }

  async exists(userId: string, id: string): Promise<boolean> {
    const rows = await this.#timer.time('conversations.exists', this.#statements.exists.execute({ userId, id }))
    return rows.length > 0
  }

  async rename(userId: string, id: string, title: string): Promise<ConversationMeta | null> {
    const [row] = await this.#timer.time('conversations.rename', this.#statements.rename.execute({ userId, id, title }))
    return row ?? null
  }

  /** Sets the title generated for a first question, unless the conversation has been renamed meanwhile; null then. */
  async setGeneratedTitle(userId: string, id: string, title: string): Promise<ConversationMeta | null> {
    const [row] = await this.#timer.time('conversations.autoTitle', this.#statements.autoTitle.execute({ userId, id, title: storableText(title) }))
    return row ?? null
  }

  async toggleStar(userId: string, id: string): Promise<ConversationMeta | null> {
    const [row] = await this.#timer.time('conversations.star', this.#statements.toggleStar.execute({ userId, id }))
    return row ?? null
  }

  async delete(userId: string, id: string): Promise<boolean> {
    const rows = await this.#timer.time('conversations.delete', this.#statements.delete.execute({ userId, id }))
    return rows.length > 0
  }
}
