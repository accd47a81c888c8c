import { eq, sql } from 'drizzle-orm'
import { userProfiles } from '../db/schema.ts'
import { UNTIMED, type QueryTimer } from '../db/slow-queries.ts'
import type { Db } from '../db/types.ts'

export type Preferences = Record<string, string | number | boolean | null>

export interface Profile {
  email: string | null
  display_name: string | null
  avatar_url: string | null
  preferences: Preferences
}

const EMPTY: Profile = { email: null, display_name: null, avatar_url: null, preferences: {} }

/** What users say about themselves: display name, email (for users without an account), preferences. */
export class ProfilesRepo {
  #db: Db
  #timer: QueryTimer

  constructor(db: Db, timer: QueryTimer = UNTIMED) {
    this.#db = db
    this.#timer = timer
  }

  async get(userId: string): Promise<Profile> {
    const query = this.#db
      .select({ email: userProfiles.email, display_name: userProfiles.displayName, avatar_url: userProfiles.avatarUrl, preferences: userProfiles.preferences })
      .from(userProfiles)
      .where(eq(userProfiles.userId, userId))
    const [row] = await this.#timer.time('profiles.get', query)
    return row ?? EMPTY
  }

  /** Creates or changes the profile; preferences given are merged into the stored ones (a null value removes a key). */
  async update(userId: string, changes: { email?: string | null; displayName?: string | null; preferences?: Preferences }): Promise<Profile> {
    const { preferences, ...columns } = changes
    const merged = preferences && sql`jsonb_strip_nulls(${userProfiles.preferences} || ${JSON.stringify(preferences)}::jsonb)`
    const query = this.#db
      .insert(userProfiles)
      .values({ userId, ...columns, preferences: sql`jsonb_strip_nulls(${JSON.stringify(preferences ?? {})}::jsonb)` })
      .onConflictDoUpdate({ target: userProfiles.userId, set: { ...columns, ...(merged && { preferences: merged }), updatedAt: sql`now()` } })
    await this.#timer.time('profiles.update', query)
    return this.get(userId)
  }
}
