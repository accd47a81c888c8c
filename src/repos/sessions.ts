import { and, eq, gt, inArray, isNull, lt, ne, sql } from 'drizzle-orm'
import { accounts, oidcLogins, sessions, signInFailures } from '../db/schema.ts'
import { UNTIMED, type QueryTimer } from '../db/slow-queries.ts'
import { olderThanAMinute } from '../db/sql.ts'
import type { Db } from '../db/types.ts'
import type { Role } from './accounts.ts'

/** The signed-in account a session token belongs to. */
export interface SessionUser {
  userId: string
  role: Role
  mustChangePassword: boolean
  /** The session was last seen over a minute ago: time to record activity (`touch`). */
  stale: boolean
}

// An OIDC login must come back from the provider within this long.
const OIDC_LOGIN_TTL = sql`interval '10 minutes'`

/** Sign-in state: sessions, failed sign-in counts, and single sign-on logins under way. */
export class SessionsRepo {
  #db: Db
  #timer: QueryTimer
  #resolve

  constructor(db: Db, timer: QueryTimer = UNTIMED) {
    this.#db = db
    this.#timer = timer
    this.#resolve = db
      .select({ userId: accounts.userId, role: accounts.role, mustChangePassword: accounts.mustChangePassword, stale: olderThanAMinute(sessions.lastSeenAt) })
      .from(sessions)
      .innerJoin(accounts, eq(accounts.userId, sessions.userId))
      .where(and(eq(sessions.tokenHash, sql.placeholder('tokenHash')), gt(sessions.expiresAt, sql`now()`), isNull(accounts.disabledAt)))
      .prepare('session_resolve')
  }

  /** A new session (and this account's expired ones dropped). */
  async create(userId: string, tokenHash: string, ttlSeconds: number): Promise<void> {
    const query = this.#db.transaction(async (tx) => {
      await tx.delete(sessions).where(and(eq(sessions.userId, userId), lt(sessions.expiresAt, sql`now()`)))
      await tx.insert(sessions).values({ tokenHash, userId, expiresAt: sql`now() + make_interval(secs => ${ttlSeconds})` })
    })
    await this.#timer.time('sessions.create', query)
  }

  /** The account of a live session whose account is not disabled (on every request: a prepared statement). */
  async resolve(tokenHash: string): Promise<SessionUser | null> {
    const [row] = await this.#timer.time('sessions.resolve', this.#resolve.execute({ tokenHash }))
    return row ?? null
  }

  async touch(tokenHash: string): Promise<void> {
    await this.#timer.time('sessions.touch', this.#db.update(sessions).set({ lastSeenAt: sql`now()` }).where(eq(sessions.tokenHash, tokenHash)))
  }

  async delete(tokenHash: string): Promise<void> {
    await this.#timer.time('sessions.delete', this.#db.delete(sessions).where(eq(sessions.tokenHash, tokenHash)))
  }

  /** Ends every session of `userId`, but `keep` (the caller's own, after a password change). */
  async deleteForUser(userId: string, keep?: string): Promise<number> {
    const query = this.#db
      .delete(sessions)
      .where(and(eq(sessions.userId, userId), keep === undefined ? undefined : ne(sessions.tokenHash, keep)))
      .returning({ tokenHash: sessions.tokenHash })
    return (await this.#timer.time('sessions.deleteForUser', query)).length
  }

  /** The longest wait, in whole seconds, among `keys` that reached `limit` failures in their current window; 0 when none has. */
  async throttled(limits: { key: string; limit: number }[]): Promise<number> {
    const query = this.#db
      .select({ key: signInFailures.key, failures: signInFailures.failures, wait: sql<number>`ceil(extract(epoch from ${signInFailures.windowEndsAt} - now()))::int` })
      .from(signInFailures)
      .where(and(inArray(signInFailures.key, limits.map((l) => l.key)), gt(signInFailures.windowEndsAt, sql`now()`)))
    const rows = await this.#timer.time('signIn.throttled', query)
    const limitOf = new Map(limits.map((l) => [l.key, l.limit]))
    return Math.max(0, ...rows.filter((row) => row.failures >= limitOf.get(row.key)!).map((row) => Number(row.wait)))
  }

  /**
   * Counts a failed sign-in against each key; a key's window starts at its first failure. Windows that
   * have ended are deleted first, so the table holds at most one window of failures however many
   * addresses and emails an attacker tries.
   */
  async recordFailure(keys: string[], windowSeconds: number): Promise<void> {
    const windowEnd = sql`now() + make_interval(secs => ${windowSeconds})`
    const expired = sql`${signInFailures.windowEndsAt} <= now()`
    const query = this.#db.transaction(async (tx) => {
      await tx.delete(signInFailures).where(lt(signInFailures.windowEndsAt, sql`now()`))
      await tx
        .insert(signInFailures)
        .values(keys.map((key) => ({ key, failures: 1, windowEndsAt: windowEnd })))
        .onConflictDoUpdate({
          target: signInFailures.key,
          set: {
            failures: sql`case when ${expired} then 1 else ${signInFailures.failures} + 1 end`,
            windowEndsAt: sql`case when ${expired} then excluded.window_ends_at else ${signInFailures.windowEndsAt} end`
          }
        })
    })
    await this.#timer.time('signIn.recordFailure', query)
  }

  /** Forgets an account's failures once its owner signs in. */
  async clearFailures(key: string): Promise<void> {
    await this.#timer.time('signIn.clearFailures', this.#db.delete(signInFailures).where(eq(signInFailures.key, key)))
  }

  async saveOidcLogin(stateHash: string, codeVerifier: string, nonce: string): Promise<void> {
    const query = this.#db.transaction(async (tx) => {
      await tx.delete(oidcLogins).where(lt(oidcLogins.createdAt, sql`now() - ${OIDC_LOGIN_TTL}`))
      await tx.insert(oidcLogins).values({ stateHash, codeVerifier, nonce })
    })
    await this.#timer.time('oidc.saveLogin', query)
  }

  /** The login `state` started, taken out so that it can be used only once; null if unknown, used or expired. */
  async takeOidcLogin(stateHash: string): Promise<{ codeVerifier: string; nonce: string } | null> {
    const query = this.#db
      .delete(oidcLogins)
      .where(eq(oidcLogins.stateHash, stateHash))
      .returning({ codeVerifier: oidcLogins.codeVerifier, nonce: oidcLogins.nonce, fresh: sql<boolean>`${oidcLogins.createdAt} > now() - ${OIDC_LOGIN_TTL}` })
    const [row] = await this.#timer.time('oidc.takeLogin', query)
    return row?.fresh ? { codeVerifier: row.codeVerifier, nonce: row.nonce } : null
  }
}
