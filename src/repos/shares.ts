import { and, count, desc, eq, inArray, sql } from 'drizzle-orm'
import { conversations, shares } from '../db/schema.ts'
import { isoTimestamp } from '../db/sql.ts'
import { UNTIMED, type QueryTimer } from '../db/slow-queries.ts'
import type { Db } from '../db/types.ts'

export interface Share {
  id: string
  token: string
  created_at: string
}

/** The most links one conversation may have at a time: the owner's list of them is never long. */
export const MAX_SHARES_PER_CONVERSATION = 20

const shareColumns = { id: shares.id, token: shares.token, created_at: isoTimestamp(shares.createdAt) }

/** Read-only links to snapshots of a user's conversations; every write names the owner. */
export class SharesRepo {
  #db: Db
  #timer: QueryTimer

  constructor(db: Db, timer: QueryTimer = UNTIMED) {
    this.#db = db
    this.#timer = timer
  }

  /**
   * Shares `conversationJson` (the conversation as its owner reads it now) under `token`. Null when
   * the conversation is not the user's; 'full' when it has its most links already.
   */
  async create(userId: string, conversationId: string, token: string, conversationJson: string): Promise<Share | null | 'full'> {
    return this.#timer.time(
      'shares.create',
      this.#db.transaction(async (tx) => {
        // Locks the conversation: two shares at once count each other, and a delete waits for the share.
        const [owned] = await tx
          .select({ id: conversations.id })
          .from(conversations)
          .where(and(eq(conversations.id, conversationId), eq(conversations.userId, userId)))
          .for('update')
        if (!owned) return null
        const [existing] = await tx.select({ n: count() }).from(shares).where(eq(shares.conversationId, conversationId))
        if (existing!.n >= MAX_SHARES_PER_CONVERSATION) return 'full'
        const [row] = await tx
          .insert(shares)
          .values({ conversationId, token, snapshot: sql`${conversationJson}::jsonb` })
          .returning(shareColumns)
        return row!
      })
    )
  }

  /** A conversation's links, newest first; null when the conversation is not the user's. */
  async list(userId: string, conversationId: string): Promise<Share[] | null> {
    const rows = await this.#timer.time(
      'shares.list',
      this.#db
        .select(shareColumns)
        .from(conversations)
        .leftJoin(shares, eq(shares.conversationId, conversations.id))
        .where(and(eq(conversations.id, conversationId), eq(conversations.userId, userId)))
        .orderBy(desc(shares.createdAt))
        .limit(MAX_SHARES_PER_CONVERSATION)
    )
    if (rows.length === 0) return null
    return rows.flatMap(({ id, token, created_at }) => (id === null || token === null || created_at === null ? [] : [{ id, token, created_at }]))
  }

  /** Revokes a link of the user's; false when there is none. */
  async delete(userId: string, id: string): Promise<boolean> {
    const rows = await this.#timer.time(
      'shares.delete',
      this.#db
        .delete(shares)
        .where(and(eq(shares.id, id), inArray(shares.conversationId, this.#db.select({ id: conversations.id }).from(conversations).where(eq(conversations.userId, userId)))))
        .returning({ id: shares.id })
    )
    return rows.length > 0
  }

  /** The snapshot a link shows, as JSON text, with when it was shared; null for no such link. */
  async snapshot(token: string): Promise<{ json: string; shared_at: string } | null> {
    const [row] = await this.#timer.time(
      'shares.snapshot',
      this.#db.select({ json: sql<string>`${shares.snapshot}::text`, shared_at: isoTimestamp(shares.createdAt) }).from(shares).where(eq(shares.token, token))
    )
    return row ?? null
  }

  async exists(token: string): Promise<boolean> {
    const rows = await this.#timer.time('shares.exists', this.#db.select({ id: shares.id }).from(shares).where(eq(shares.token, token)))
    return rows.length > 0
  }
}
