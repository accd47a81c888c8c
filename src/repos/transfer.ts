import { type SQL, and, asc, eq, gt, inArray, sql } from 'drizzle-orm'
import type { AssistantStages } from '../council/types.ts'
import type { PgInsertValue } from 'drizzle-orm/pg-core'
import { conversations, messages, subscriptions, usage, userProfiles } from '../db/schema.ts'
import { isoTimestamp, utcToday } from '../db/sql.ts'
import type { Db } from '../db/types.ts'
import { DEFAULT_TITLE } from '../domain.ts'
import type { UsageFigures } from './usage.ts'

/** A message read from a file; `createdAt` is its own time when the file gave one. */
export type ImportMessage = ({ role: 'user'; kind?: 'follow_up'; content: string } | ({ role: 'assistant' } & AssistantStages)) & { createdAt?: string | null }

/** Fields a source held that have no place here: field name -> how many times this source held it. */
export type NotKept = Record<string, number>

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
  /** The last activity the source recorded, if it did. */
  updatedAt?: string | null
  messages: ImportMessage[]
  replacedCharacters: number
  notKept?: NotKept
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
  /** When the source's row was created and last changed, where it recorded that. */
  createdAt?: string | null
  updatedAt?: string | null
  notKept?: NotKept
}

/** A user's profile as an earlier system kept it. */
export interface ImportProfile {
  userId: string
  email: string | null
  displayName: string | null
  avatarUrl: string | null
  createdAt: string | null
}

/** A subscription with a payment provider, by the provider's ids. */
export interface ImportSubscription {
  userId: string
  provider: string
  customerId: string | null
  subscriptionId: string | null
  status: string | null
  plan: string | null
  currentPeriodEnd: string | null
  createdAt: string | null
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
  updated_at: string
  messages: ExportMessage[]
}

export type ExportMessage = ({ role: 'user'; kind: 'follow_up' | null; content: string | null } | ({ role: 'assistant' } & AssistantStages)) & { created_at: string }

/** A usage row as llm-council's usage files hold it (limits are the stored per-user overrides). */
export type ExportUsage = Omit<UsageFigures, 'daily_resets_at' | 'monthly_resets_at'> & {
  user_id: string
  last_reset_daily: string
  last_reset_monthly: string
}

// Rows per INSERT: a statement may carry at most 65,535 parameters, and a message takes nine.
const MESSAGES_PER_INSERT = 1000

type Tx = Parameters<Parameters<Db['transaction']>[0]>[0]

/** The rows of `c`'s messages from position `from` on, each at its own time, else when the conversation was created. */
function messageRows(c: ImportConversation, from: number, conversationCreatedAt: SQL | string) {
  return c.messages.slice(from).map(({ createdAt, ...message }, i) => ({
    ...message,
    conversationId: c.id,
    position: from + i,
    createdAt: createdAt ?? conversationCreatedAt
  }))
}

/** When a conversation was last active: the time the source recorded, else its latest message's, else its creation. */
function activityTime(c: ImportConversation, createdAt: SQL | string): SQL | string {
  if (c.updatedAt) return c.updatedAt
  const times = c.messages.flatMap((m) => (m.createdAt ? [m.createdAt] : []))
  return times.length > 0 ? times.reduce((latest, time) => (Date.parse(time) > Date.parse(latest) ? time : latest)) : createdAt
}

async function insertMessages(tx: Tx, rows: PgInsertValue<typeof messages>[]): Promise<void> {
  for (let i = 0; i < rows.length; i += MESSAGES_PER_INSERT) await tx.insert(messages).values(rows.slice(i, i + MESSAGES_PER_INSERT))
}

const ownedBy = (userId: string | undefined) => (userId === undefined ? undefined : eq(conversations.userId, userId))

/**
 * Bulk moves in and out of the store, for import-json and export-json. Each import runs in one
 * transaction, so a conversation is never half-imported, even if the process is killed.
 */
export class TransferRepo {
  #db: Db

  constructor(db: Db) {
    this.#db = db
  }

  /**
   * Creates the conversations (each with all its messages) whose ids are free: all of a conversation
   * goes in or none of it. Returns the ids it created; the others already existed.
   */
  createConversations(batch: ImportConversation[]): Promise<Set<string>> {
    return this.#db.transaction(async (tx) => {
      const created = await tx
        .insert(conversations)
        .values(
          batch.map((c) => {
            const createdAt = c.createdAt ?? sql`now()`
            return {
              id: c.id,
              userId: c.userId,
              title: c.title ?? DEFAULT_TITLE,
              starred: c.starred ?? false,
              messageCount: c.messages.length,
              createdAt,
              updatedAt: activityTime(c, createdAt)
            }
          })
        )
        .onConflictDoNothing()
        .returning({ id: conversations.id })
      const ids = new Set(created.map((row) => row.id))
      await insertMessages(tx, batch.filter((c) => ids.has(c.id)).flatMap((c) => messageRows(c, 0, c.createdAt ?? sql`now()`)))
      return ids
    })
  }

  /** Creates the conversation with all its messages; the number of messages, or null when its id already exists. */
  async createConversation(c: ImportConversation): Promise<number | null> {
    const created = await this.createConversations([c])
    return created.has(c.id) ? c.messages.length : null
  }

  async conversationState(id: string): Promise<StoredConversationState | null> {
    const [row] = await this.#db
      .select({ userId: conversations.userId, messageCount: conversations.messageCount })
      .from(conversations)
      .where(eq(conversations.id, id))
    return row ?? null
  }

  /**
   * Appends the file's messages at positions from the stored count on, and moves the count; nothing
   * else changes. Only if the count is still `stored` (a concurrent change makes it a no-op: 0).
   */
  appendMessages(c: ImportConversation, stored: number): Promise<number> {
    return this.#db.transaction(async (tx) => {
      const [row] = await tx
        .update(conversations)
        .set({ messageCount: c.messages.length })
        .where(and(eq(conversations.id, c.id), eq(conversations.userId, c.userId), eq(conversations.messageCount, stored)))
        .returning({ createdAt: conversations.createdAt })
      if (!row) return 0
      const rows = messageRows(c, stored, row.createdAt)
      await insertMessages(tx, rows)
      return rows.length
    })
  }

  /** Tier and counters for a user who has no usage row yet; false when they already have one. */
  async createUsage(u: ImportUsage): Promise<boolean> {
    const rows = await this.#db
      .insert(usage)
      .values({
        userId: u.userId,
        tier: u.tier,
        dailyUsed: u.dailyUsed,
        monthlyUsed: u.monthlyUsed,
        totalQueries: u.totalQueries,
        lastResetDaily: u.lastResetDaily ?? utcToday,
        lastResetMonthly: u.lastResetMonthly ?? utcToday,
        createdAt: u.createdAt ?? sql`now()`,
        updatedAt: u.updatedAt ?? u.createdAt ?? sql`now()`
      })
      .onConflictDoNothing()
      .returning({ userId: usage.userId })
    return rows.length > 0
  }

  /** Profiles for users who have none yet; how many were created (the others already had one). */
  async createProfiles(rows: ImportProfile[], dryRun = false): Promise<number> {
    if (rows.length === 0) return 0
    if (dryRun) {
      const existing = await this.#db.select({ userId: userProfiles.userId }).from(userProfiles).where(inArray(userProfiles.userId, rows.map((p) => p.userId)))
      return new Set(rows.map((p) => p.userId)).size - existing.length
    }
    const created = await this.#db
      .insert(userProfiles)
      .values(rows.map(({ createdAt, ...profile }) => ({ ...profile, createdAt: createdAt ?? sql`now()` })))
      .onConflictDoNothing()
      .returning({ userId: userProfiles.userId })
    return created.length
  }

  /** Subscriptions not stored yet (by user, provider and subscription id); how many were created. */
  async createSubscriptions(rows: ImportSubscription[], dryRun = false): Promise<number> {
    if (rows.length === 0) return 0
    const values = rows.map(({ createdAt, ...subscription }) => ({ ...subscription, createdAt: createdAt ?? sql`now()` }))
    if (dryRun) {
      const existing = await this.#db
        .select({ userId: subscriptions.userId, provider: subscriptions.provider, subscriptionId: subscriptions.subscriptionId })
        .from(subscriptions)
        .where(inArray(subscriptions.userId, rows.map((s) => s.userId)))
      const key = (s: { userId: string; provider: string; subscriptionId: string | null }) => JSON.stringify([s.userId, s.provider, s.subscriptionId])
      const stored = new Set(existing.map(key))
      return new Set(rows.map(key).filter((k) => !stored.has(k))).size
    }
    const created = await this.#db.insert(subscriptions).values(values).onConflictDoNothing().returning({ id: subscriptions.id })
    return created.length
  }

  async hasUsage(userId: string): Promise<boolean> {
    const rows = await this.#db.select({ userId: usage.userId }).from(usage).where(eq(usage.userId, userId))
    return rows.length > 0
  }

  /** Conversations in (user_id, id) order after `after`, with their messages: one page of an export. */
  async exportPage(options: { userId?: string; after?: { userId: string; id: string }; limit: number }): Promise<ExportConversation[]> {
    const { userId, after, limit } = options
    const page = await this.#db
      .select({
        id: conversations.id,
        user_id: conversations.userId,
        title: conversations.title,
        starred: conversations.starred,
        created_at: isoTimestamp(conversations.createdAt),
        updated_at: isoTimestamp(conversations.updatedAt)
      })
      .from(conversations)
      .where(and(ownedBy(userId), after ? sql`(${conversations.userId}, ${conversations.id}) > (${after.userId}, ${after.id}::uuid)` : undefined))
      .orderBy(asc(conversations.userId), asc(conversations.id))
      .limit(limit)
    if (page.length === 0) return []
    const rows = await this.#db
      .select({
        conversationId: messages.conversationId,
        role: messages.role,
        kind: messages.kind,
        content: messages.content,
        stage1: messages.stage1,
        stage2: messages.stage2,
        stage3: messages.stage3,
        metadata: messages.metadata,
        created_at: isoTimestamp(messages.createdAt)
      })
      .from(messages)
      .where(inArray(messages.conversationId, page.map((c) => c.id)))
      .orderBy(asc(messages.conversationId), asc(messages.position))
    const byConversation = new Map<string, ExportMessage[]>(page.map((c) => [c.id, []]))
    for (const { conversationId, role, kind, content, created_at, ...stages } of rows) {
      byConversation.get(conversationId)!.push(role === 'user' ? { role, kind, content, created_at } : { role, ...stages, created_at })
    }
    return page.map((c) => ({ ...c, messages: byConversation.get(c.id)! }))
  }

  async exportUsage(options: { userId?: string; after?: string; limit: number }): Promise<ExportUsage[]> {
    const { userId, after, limit } = options
    const rows = await this.#db
      .select({
        user_id: usage.userId,
        tier: usage.tier,
        daily_used: usage.dailyUsed,
        daily_limit: usage.dailyLimit,
        monthly_used: usage.monthlyUsed,
        monthly_limit: usage.monthlyLimit,
        total_queries: usage.totalQueries,
        last_reset_daily: usage.lastResetDaily,
        last_reset_monthly: usage.lastResetMonthly
      })
      .from(usage)
      .where(and(userId === undefined ? undefined : eq(usage.userId, userId), after === undefined ? undefined : gt(usage.userId, after)))
      .orderBy(asc(usage.userId))
      .limit(limit)
    return rows.map((row) => ({ ...row, total_queries: Number(row.total_queries) }))
  }
}
