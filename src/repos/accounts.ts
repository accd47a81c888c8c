import { and, asc, eq, gt, notExists, sql } from 'drizzle-orm'
import { accountIdentities, accounts, apiKeys, conversations, subscriptions, usage, userProfiles } from '../db/schema.ts'
import { errorCode } from '../db/errors.ts'
import { UNTIMED, type QueryTimer } from '../db/slow-queries.ts'
import { isoTimestamp, olderThanAMinute } from '../db/sql.ts'
import type { Db } from '../db/types.ts'

export type Role = 'admin' | 'user'

/** An account as the app shows it to its owner and to admins. */
export interface AccountView {
  user_id: string
  email: string | null
  role: Role
  must_change_password: boolean
  disabled: boolean
  created_at: string
}

/** What sign-in needs to know about an email's account. */
export interface Credentials {
  userId: string
  passwordHash: string | null
  disabled: boolean
}

const viewColumns = {
  user_id: accounts.userId,
  email: accounts.email,
  role: accounts.role,
  must_change_password: accounts.mustChangePassword,
  disabled: sql<boolean>`${accounts.disabledAt} is not null`,
  created_at: isoTimestamp(accounts.createdAt)
}

/** A data owner that no account has yet, with how many conversations it holds. */
export interface Unclaimed {
  user_id: string
  conversations: number
}

const UNIQUE_VIOLATION = '23505'

export const normalizeEmail = (email: string) => email.trim().toLowerCase()

/** Accounts and their single sign-on identities; and moving data from a former owner to an account. */
export interface NewAccount {
  userId: string
  email: string | null
  passwordHash: string | null
  mustChangePassword?: boolean
  identity?: { issuer: string; subject: string }
}

export class AccountsRepo {
  #db: Db
  #timer: QueryTimer

  constructor(db: Db, timer: QueryTimer = UNTIMED) {
    this.#db = db
    this.#timer = timer
  }

  /**
   * A new account; the first one ever made is an admin. A transaction-level advisory lock makes "first"
   * exact when two sign-ups arrive at once, on one instance or several. Null when the email is taken.
   */
  /** A new account (the first is the admin); null when its email or identity has one. With `onlyIfFirst`, 'closed' once any account exists. */
  create(account: NewAccount): Promise<AccountView | null>
  create(account: NewAccount, options: { onlyIfFirst: boolean }): Promise<AccountView | null | 'closed'>
  async create(account: NewAccount, { onlyIfFirst = false } = {}): Promise<AccountView | null | 'closed'> {
    const query = this.#db.transaction(async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(hashtext('llm-council-server/accounts/first'))`)
      const [existing] = await tx.select({ one: sql`1` }).from(accounts).limit(1)
      // Sign-up that is open only to the first account: decided under the lock, so sign-ups racing on an empty server make one.
      if (existing && onlyIfFirst) return 'closed' as const
      const [row] = await tx
        .insert(accounts)
        .values({ ...account, role: existing ? 'user' : 'admin' })
        .onConflictDoNothing()
        .returning(viewColumns)
      if (row && account.identity) await tx.insert(accountIdentities).values({ ...account.identity, userId: row.user_id })
      return row ?? null
    })
    return this.#timer.time('accounts.create', query)
  }

  async get(userId: string): Promise<AccountView | null> {
    const [row] = await this.#timer.time('accounts.get', this.#db.select(viewColumns).from(accounts).where(eq(accounts.userId, userId)))
    return row ?? null
  }

  async credentials(email: string): Promise<Credentials | null> {
    const query = this.#db
      .select({ userId: accounts.userId, passwordHash: accounts.passwordHash, disabled: sql<boolean>`${accounts.disabledAt} is not null` })
      .from(accounts)
      .where(eq(accounts.email, normalizeEmail(email)))
    const [row] = await this.#timer.time('accounts.credentials', query)
    return row ?? null
  }

  async passwordHash(userId: string): Promise<string | null> {
    const [row] = await this.#timer.time('accounts.passwordHash', this.#db.select({ hash: accounts.passwordHash }).from(accounts).where(eq(accounts.userId, userId)))
    return row?.hash ?? null
  }

  /** Sets a password; `temporary` (an admin's) must be changed at the next sign-in. */
  async setPassword(userId: string, passwordHash: string, temporary: boolean): Promise<boolean> {
    const query = this.#db
      .update(accounts)
      .set({ passwordHash, mustChangePassword: temporary, updatedAt: sql`now()` })
      .where(eq(accounts.userId, userId))
      .returning({ userId: accounts.userId })
    return (await this.#timer.time('accounts.setPassword', query)).length === 1
  }

  /** Changes what an admin can change; null when there is no such account. */
  async update(userId: string, changes: { role?: Role; disabled?: boolean }): Promise<AccountView | null> {
    const set = {
      ...(changes.role && { role: changes.role }),
      ...(changes.disabled !== undefined && { disabledAt: changes.disabled ? sql`coalesce(${accounts.disabledAt}, now())` : null }),
      updatedAt: sql`now()`
    }
    const [row] = await this.#timer.time('accounts.update', this.#db.update(accounts).set(set).where(eq(accounts.userId, userId)).returning(viewColumns))
    return row ?? null
  }

  /** Changes the sign-in email; false when another account has it. */
  async setEmail(userId: string, email: string): Promise<boolean> {
    const query = this.#db
      .update(accounts)
      .set({ email: normalizeEmail(email), updatedAt: sql`now()` })
      .where(eq(accounts.userId, userId))
      .returning({ userId: accounts.userId })
    try {
      return (await this.#timer.time('accounts.setEmail', query)).length === 1
    } catch (error) {
      if (errorCode(error) === UNIQUE_VIOLATION) return false
      throw error
    }
  }

  /** Records activity at most once a minute per account, so a busy user costs no write per request. */
  async touch(userId: string): Promise<void> {
    const query = this.#db.update(accounts).set({ lastActiveAt: sql`now()` }).where(and(eq(accounts.userId, userId), olderThanAMinute(accounts.lastActiveAt)))
    await this.#timer.time('accounts.touch', query)
  }

  async identityOwner(issuer: string, subject: string): Promise<string | null> {
    const query = this.#db
      .select({ userId: accountIdentities.userId })
      .from(accountIdentities)
      .where(and(eq(accountIdentities.issuer, issuer), eq(accountIdentities.subject, subject)))
    const [row] = await this.#timer.time('accounts.identityOwner', query)
    return row?.userId ?? null
  }

  async linkIdentity(issuer: string, subject: string, userId: string): Promise<void> {
    await this.#timer.time('accounts.linkIdentity', this.#db.insert(accountIdentities).values({ issuer, subject, userId }).onConflictDoNothing())
  }

  /** Users, accounts or not (usage rows of jwt and header users), by user id, with their figures' raw columns. */
  async list(options: { limit: number; after?: string; only?: string }) {
    const owner = sql<string>`coalesce(${accounts.userId}, ${usage.userId})`
    const query = this.#db
      .select({
        user_id: owner,
        email: accounts.email,
        role: accounts.role,
        disabled: sql<boolean>`${accounts.disabledAt} is not null`,
        last_active_at: sql<string | null>`${isoTimestamp(sql`greatest(${accounts.lastActiveAt}, ${usage.updatedAt})`)}`
      })
      .from(accounts)
      .fullJoin(usage, eq(usage.userId, accounts.userId))
      .where(and(options.after === undefined ? undefined : gt(owner, options.after), options.only === undefined ? undefined : eq(owner, options.only)))
      .orderBy(asc(owner))
      .limit(options.limit)
    return this.#timer.time('accounts.list', query)
  }

  /** Owners of conversations that no account holds (such as `local`), most conversations first. */
  async unclaimed(limit: number): Promise<Unclaimed[]> {
    const query = this.#db
      .select({ user_id: conversations.userId, conversations: sql<number>`count(*)::int` })
      .from(conversations)
      .where(notExists(this.#db.select({ one: sql`1` }).from(accounts).where(eq(accounts.userId, conversations.userId))))
      .groupBy(conversations.userId)
      .orderBy(sql`count(*) desc`, asc(conversations.userId))
      .limit(limit)
    return (await this.#timer.time('accounts.unclaimed', query)).map((row) => ({ ...row, conversations: Number(row.conversations) }))
  }

  /**
   * Moves everything `from` owns to the account `to`, in one transaction: conversations (and so their
   * messages), API keys, subscriptions; its usage row and profile when `to` has none (else `from`'s
   * query total is added to `to`'s and its row is dropped). Nothing is copied. The counts moved.
   */
  async assign(from: string, to: string): Promise<{ conversations: number }> {
    const query = this.#db.transaction(async (tx) => {
      const moved = await tx
        .update(conversations)
        .set({ userId: to })
        .where(eq(conversations.userId, from))
        .returning({ id: conversations.id })
      await tx.update(apiKeys).set({ userId: to }).where(eq(apiKeys.userId, from))
      await tx.update(subscriptions).set({ userId: to }).where(eq(subscriptions.userId, from))
      const [target] = await tx.select({ total: usage.totalQueries }).from(usage).where(eq(usage.userId, to)).for('update')
      if (target) {
        const [source] = await tx.delete(usage).where(eq(usage.userId, from)).returning({ total: usage.totalQueries })
        if (source) await tx.update(usage).set({ totalQueries: sql`${usage.totalQueries} + ${source.total}` }).where(eq(usage.userId, to))
      } else {
        await tx.update(usage).set({ userId: to }).where(eq(usage.userId, from))
      }
      const [profile] = await tx.select({ userId: userProfiles.userId }).from(userProfiles).where(eq(userProfiles.userId, to))
      if (profile) await tx.delete(userProfiles).where(eq(userProfiles.userId, from))
      else await tx.update(userProfiles).set({ userId: to }).where(eq(userProfiles.userId, from))
      return { conversations: moved.length }
    })
    return this.#timer.time('accounts.assign', query)
  }

  /** Whether any account exists (the first sign-up makes the admin). */
  async any(): Promise<boolean> {
    return (await this.#timer.time('accounts.any', this.#db.select({ one: sql`1` }).from(accounts).limit(1))).length > 0
  }
}
