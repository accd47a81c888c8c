import { and, desc, eq, isNull, sql } from 'drizzle-orm'
import { accounts, apiKeys } from '../db/schema.ts'
import { UNTIMED, type QueryTimer } from '../db/slow-queries.ts'
import { isoTimestamp, olderThanAMinute } from '../db/sql.ts'
import type { Db } from '../db/types.ts'

/** A key as its owner sees it: never the key itself. */
export interface ApiKeyView {
  id: string
  name: string
  prefix: string
  created_at: string
  last_used_at: string | null
}

// A user's keys are a short list; the listing is bounded all the same.
export const MAX_KEYS_PER_USER = 25

const viewColumns = {
  id: apiKeys.id,
  name: apiKeys.name,
  prefix: apiKeys.prefix,
  created_at: isoTimestamp(apiKeys.createdAt),
  last_used_at: sql<string | null>`${isoTimestamp(apiKeys.lastUsedAt)}`
}

/** Personal API keys, by owner; a key is found by its SHA-256 only. */
export class ApiKeysRepo {
  #db: Db
  #timer: QueryTimer
  #resolve

  constructor(db: Db, timer: QueryTimer = UNTIMED) {
    this.#db = db
    this.#timer = timer
    // On every request made with a key: a prepared statement.
    this.#resolve = db
      .select({ id: apiKeys.id, userId: apiKeys.userId, role: accounts.role, stale: olderThanAMinute(apiKeys.lastUsedAt) })
      .from(apiKeys)
      .leftJoin(accounts, eq(accounts.userId, apiKeys.userId))
      .where(and(eq(apiKeys.keyHash, sql.placeholder('keyHash')), isNull(accounts.disabledAt)))
      .prepare('api_key_resolve')
  }

  /** A new key's row; null when the owner already has MAX_KEYS_PER_USER (checked under a per-owner lock). */
  async create(userId: string, key: { name: string; prefix: string; keyHash: string }): Promise<ApiKeyView | null> {
    const query = this.#db.transaction(async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(hashtext('llm-council-server/api-keys'), hashtext(${userId}))`)
      const [{ count }] = (await tx.select({ count: sql<number>`count(*)::int` }).from(apiKeys).where(eq(apiKeys.userId, userId))) as [{ count: number }]
      if (Number(count) >= MAX_KEYS_PER_USER) return null
      const [row] = await tx.insert(apiKeys).values({ userId, ...key }).returning(viewColumns)
      return row!
    })
    return this.#timer.time('apiKeys.create', query)
  }

  async list(userId: string): Promise<ApiKeyView[]> {
    const query = this.#db.select(viewColumns).from(apiKeys).where(eq(apiKeys.userId, userId)).orderBy(desc(apiKeys.createdAt)).limit(MAX_KEYS_PER_USER)
    return this.#timer.time('apiKeys.list', query)
  }

  /** Revokes (deletes) one of `userId`'s keys; false when it is not theirs or not there. */
  async revoke(userId: string, id: string): Promise<boolean> {
    const query = this.#db.delete(apiKeys).where(and(eq(apiKeys.id, id), eq(apiKeys.userId, userId))).returning({ id: apiKeys.id })
    return (await this.#timer.time('apiKeys.revoke', query)).length === 1
  }

  /**
   * The owner of the key with this hash, unless the owner is a disabled account; records its use at
   * most once a minute. Role is the owner's account role (null: the owner has no account).
   */
  async resolve(keyHash: string): Promise<{ userId: string; role: 'admin' | 'user' | null } | null> {
    const [row] = await this.#timer.time('apiKeys.resolve', this.#resolve.execute({ keyHash }))
    if (!row) return null
    if (row.stale) await this.#timer.time('apiKeys.touch', this.#db.update(apiKeys).set({ lastUsedAt: sql`now()` }).where(eq(apiKeys.id, row.id)))
    return { userId: row.userId, role: row.role }
  }
}
