import { type SQL, and, eq, inArray, sql } from 'drizzle-orm'
import type { TierLimits } from '../config.ts'
import { isUnreachable } from '../db/errors.ts'
import type { UsageTotals } from '../council/types.ts'
import { tokenUsage, usage } from '../db/schema.ts'
import { UNTIMED, type QueryTimer } from '../db/slow-queries.ts'
import { utcMonthStart, utcToday } from '../db/sql.ts'
import type { Db } from '../db/types.ts'
import { DEFAULT_TIER } from '../domain.ts'

/** A user's allowance as the API shows it: resets applied, limits null when unlimited. */
export interface UsageFigures {
  tier: string
  daily_used: number
  daily_limit: number | null
  monthly_used: number
  monthly_limit: number | null
  total_queries: number
  daily_resets_at: string
  monthly_resets_at: string
}

export interface ConsumeResult {
  granted: boolean
  usage: UsageFigures
  /** The database's clock when the statement ran (ISO-8601 UTC), for Retry-After. */
  now: string
  /** The UTC day the unit was taken on; a refund is only given back within that day's and month's counters. */
  day: string
}

/** Tokens and cost summed over a period, as GET /api/usage shows them. */
export interface TokenFigures {
  prompt_tokens: number
  completion_tokens: number
  cost: number
  calls: number
  unknown_calls: number
}

// This month's spending of the user a `usage` row belongs to.
const monthCost = sql<string>`(select coalesce(sum(${tokenUsage.cost}), 0) from ${tokenUsage}
  where ${tokenUsage.userId} = ${usage.userId} and ${tokenUsage.day} >= ${utcMonthStart})`

const isoSeconds = (date: SQL) => sql<string>`to_char(${date}, 'YYYY-MM-DD"T"HH24:MI:SS"Z"')`
// The row's counters as of today: a count from an earlier day or month is zero now.
const dailyUsed = sql<number>`(case when ${usage.lastResetDaily} < ${utcToday} then 0 else ${usage.dailyUsed} end)`
const monthlyUsed = sql<number>`(case when ${usage.lastResetMonthly} < ${utcMonthStart} then 0 else ${usage.monthlyUsed} end)`
const clock = {
  daily_resets_at: isoSeconds(sql`(${utcToday} + 1)::timestamp`),
  monthly_resets_at: isoSeconds(sql`(${utcMonthStart} + interval '1 month')::timestamp`),
  now: isoSeconds(sql`now() at time zone 'utc'`),
  day: sql<string>`to_char(${utcToday}::timestamp, 'YYYY-MM-DD')`
}

/**
 * Per-user daily and monthly allowances. Every statement is atomic on its own: however many
 * requests arrive at once, on however many instances, no user gets more than the limit.
 */
export class UsageRepo {
  #db: Db
  #timer: QueryTimer
  #statements
  #costLimit: (tier: string) => number | null

  /** `tiers`: each tier's limits (fixed for the server's life); a row's own limits override them. */
  constructor(db: Db, tiers: Map<string, TierLimits>, timer: QueryTimer = UNTIMED) {
    this.#db = db
    this.#timer = timer
    const free = tiers.get(DEFAULT_TIER) ?? { daily: null, monthly: null, monthlyCost: null }
    // The limit that applies to a row: its own override, else its tier's (a tier no longer configured counts as free).
    const limit = (kind: 'daily' | 'monthly') => {
      const cases = [...tiers].map(([tier, limits]) => sql`when ${tier} then ${limits[kind]}::int`)
      const override = kind === 'daily' ? usage.dailyLimit : usage.monthlyLimit
      return sql<number | null>`coalesce(${override}, case ${usage.tier} ${sql.join(cases, sql` `)} else ${free[kind]}::int end)`
    }
    const figures = {
      tier: usage.tier,
      daily_used: dailyUsed,
      daily_limit: limit('daily'),
      monthly_used: monthlyUsed,
      monthly_limit: limit('monthly'),
      total_queries: usage.totalQueries,
      ...clock
    }
    const below = (used: SQL, kind: 'daily' | 'monthly') => sql`(${limit(kind)} is null or ${used} < ${limit(kind)})`
    // A tier's monthly cost budget: a question starts only while the month's spending is below it.
    const budgets = [...tiers].filter(([, limits]) => limits.monthlyCost !== null)
    const withinBudget =
      budgets.length === 0
        ? undefined
        : sql`(case ${usage.tier} ${sql.join(budgets.map(([tier, limits]) => sql`when ${tier} then ${monthCost} < ${limits.monthlyCost}::numeric`), sql` `)} else ${
            free.monthlyCost === null ? sql`true` : sql`${monthCost} < ${free.monthlyCost}::numeric`
          } end)`
    this.#costLimit = (tier: string) => (tiers.get(tier) ?? free).monthlyCost
    const withinLimits = and(below(dailyUsed, 'daily'), below(monthlyUsed, 'monthly'), withinBudget)
    const counted = {
      dailyUsed: sql`${dailyUsed} + 1`,
      monthlyUsed: sql`${monthlyUsed} + 1`,
      totalQueries: sql`${usage.totalQueries} + 1`,
      lastResetDaily: sql`greatest(${usage.lastResetDaily}, ${utcToday})`,
      lastResetMonthly: sql`greatest(${usage.lastResetMonthly}, ${utcMonthStart})`,
      updatedAt: sql`now()`
    }
    const userId = sql.placeholder('userId')
    this.#statements = {
      // A new user's first query counts, unless the free tier allows none: then only a user who has a
      // row (put on another tier by an admin) can ever be granted one.
      consume:
        free.daily === 0 || free.monthly === 0 || free.monthlyCost === 0
          ? db.update(usage).set(counted).where(and(eq(usage.userId, userId), withinLimits)).returning(figures).prepare('usage_consume')
          : db
              .insert(usage)
              .values({ userId, tier: DEFAULT_TIER, dailyUsed: 1, monthlyUsed: 1, totalQueries: 1, lastResetDaily: utcToday, lastResetMonthly: utcMonthStart })
              .onConflictDoUpdate({ target: usage.userId, set: counted, setWhere: withinLimits })
              .returning(figures)
              .prepare('usage_consume'),
      get: db.select(figures).from(usage).where(eq(usage.userId, userId)).prepare('usage_get'),
      addTokens: db
        .insert(tokenUsage)
        .values({
          userId,
          day: utcToday,
          promptTokens: sql.placeholder('prompt_tokens'),
          completionTokens: sql.placeholder('completion_tokens'),
          cost: sql`${sql.placeholder('cost')}::numeric`,
          calls: sql.placeholder('calls'),
          unknownCalls: sql.placeholder('unknown_calls')
        })
        .onConflictDoUpdate({
          target: [tokenUsage.userId, tokenUsage.day],
          set: {
            promptTokens: sql`${tokenUsage.promptTokens} + excluded.prompt_tokens`,
            completionTokens: sql`${tokenUsage.completionTokens} + excluded.completion_tokens`,
            cost: sql`${tokenUsage.cost} + excluded.cost`,
            calls: sql`${tokenUsage.calls} + excluded.calls`,
            unknownCalls: sql`${tokenUsage.unknownCalls} + excluded.unknown_calls`,
            updatedAt: sql`now()`
          }
        })
        .prepare('usage_add_tokens'),
      many: (userIds: string[]) => db.select({ userId: usage.userId, ...figures }).from(usage).where(inArray(usage.userId, userIds)),
      // A user with no row yet: the free tier's figures, by the database's clock.
      fresh: db
        .select({ daily_limit: sql<number | null>`${free.daily}::int`, monthly_limit: sql<number | null>`${free.monthly}::int`, ...clock })
        .from(sql`(select 1) as clock`)
        .prepare('usage_fresh')
    }
  }

  /**
   * Takes one unit of today's and this month's allowance, in one statement: the upsert applies
   * the UTC-midnight and first-of-month resets, checks both limits and counts the query, or
   * changes nothing when a limit is reached. Either way the caller's figures come back.
   */
  async consume(userId: string): Promise<ConsumeResult> {
    // Retried once only when the statement never reached the database (no connection): then it
    // cannot have counted anything. Any other failure may have, so it is not retried.
    const run = () => this.#timer.time('usage.consume', this.#statements.consume.execute({ userId }))
    const [row] = await run().catch((error: unknown) => {
      if (isUnreachable(error)) return run()
      throw error
    })
    // No row: a limit refused the update.
    if (row) {
      const { now, day, ...figures } = row
      return { granted: true, usage: toFigures(figures), now, day }
    }
    const { now, day, ...figures } = await this.#read(userId)
    return { granted: false, usage: figures, now, day }
  }

  /** Gives back a unit taken on `day`, to each counter that still counts that day (or its month). */
  async refund(userId: string, day: string): Promise<void> {
    const query = this.#db
      .update(usage)
      .set({
        dailyUsed: sql`case when ${usage.lastResetDaily} = ${day}::date then greatest(${usage.dailyUsed} - 1, 0) else ${usage.dailyUsed} end`,
        monthlyUsed: sql`case when date_trunc('month', ${usage.lastResetMonthly}) = date_trunc('month', ${day}::date)
                              then greatest(${usage.monthlyUsed} - 1, 0) else ${usage.monthlyUsed} end`,
        totalQueries: sql`greatest(${usage.totalQueries} - 1, 0)`,
        updatedAt: sql`now()`
      })
      .where(eq(usage.userId, userId))
    await this.#timer.time('usage.refund', query)
  }

  /** The caller's figures with resets applied, without writing anything. */
  async get(userId: string): Promise<UsageFigures> {
    const { now: _now, day: _day, ...figures } = await this.#read(userId)
    return figures
  }

  async #read(userId: string): Promise<UsageFigures & { now: string; day: string }> {
    const [row] = await this.#timer.time('usage.get', this.#statements.get.execute({ userId }))
    if (row) return { ...toFigures(row), now: row.now, day: row.day }
    const [fresh] = await this.#timer.time('usage.get', this.#statements.fresh.execute())
    return { tier: DEFAULT_TIER, daily_used: 0, monthly_used: 0, total_queries: 0, ...fresh! }
  }

  /** Several users' figures at once (an admin's list); users with no row get the free tier's. */
  async getMany(userIds: string[]): Promise<Map<string, UsageFigures>> {
    const rows = userIds.length === 0 ? [] : await this.#timer.time('usage.getMany', this.#statements.many(userIds))
    const found = new Map(rows.map(({ userId, ...row }) => [userId, toFigures(row)]))
    const missing = userIds.filter((id) => !found.has(id))
    if (missing.length > 0) {
      const fresh = await this.get(missing[0]!)
      for (const id of missing) found.set(id, fresh)
    }
    return found
  }

  /** Adds a run's calls to the user's totals for today, in one upsert: concurrent runs sum exactly. */
  async addTokens(userId: string, totals: UsageTotals): Promise<void> {
    if (totals.calls === 0) return
    const { prompt_tokens, completion_tokens, cost, calls, unknown_calls } = totals
    await this.#timer.time(
      'usage.addTokens',
      this.#statements.addTokens.execute({ userId, prompt_tokens, completion_tokens, cost: cost.toFixed(6), calls, unknown_calls })
    )
  }

  /** A tier's monthly cost budget; null: none. */
  costLimit(tier: string): number | null {
    return this.#costLimit(tier)
  }

  /** Today's and this month's tokens and cost (UTC). */
  async tokens(userId: string): Promise<{ today: TokenFigures; month: TokenFigures }> {
    const sum = (column: SQL | typeof tokenUsage.cost, since: SQL) => sql<string>`coalesce(sum(${column}) filter (where ${tokenUsage.day} >= ${since}), 0)`
    const period = (since: SQL) => ({
      prompt_tokens: sum(sql`${tokenUsage.promptTokens}`, since),
      completion_tokens: sum(sql`${tokenUsage.completionTokens}`, since),
      cost: sum(tokenUsage.cost, since),
      calls: sum(sql`${tokenUsage.calls}`, since),
      unknown_calls: sum(sql`${tokenUsage.unknownCalls}`, since)
    })
    const [row] = await this.#timer.time(
      'usage.tokens',
      this.#db
        .select({ today: period(utcToday), month: period(utcMonthStart) })
        .from(tokenUsage)
        .where(and(eq(tokenUsage.userId, userId), sql`${tokenUsage.day} >= ${utcMonthStart}`))
    )
    const figures = (values: Record<keyof TokenFigures, string>): TokenFigures =>
      Object.fromEntries(Object.entries(values).map(([key, value]) => [key, Number(value)])) as unknown as TokenFigures
    return { today: figures(row!.today), month: figures(row!.month) }
  }

  /** Puts a user on `tier` (creating the row if needed) and clears any per-user limit overrides. */
  async setTier(userId: string, tier: string): Promise<UsageFigures> {
    const query = this.#db
      .insert(usage)
      .values({ userId, tier })
      .onConflictDoUpdate({ target: usage.userId, set: { tier, dailyLimit: null, monthlyLimit: null, updatedAt: sql`now()` } })
    await this.#timer.time('usage.setTier', query)
    return this.get(userId)
  }
}

/** Whether no query is left today or this month. */
export function exhausted(usage: UsageFigures): { daily: boolean; monthly: boolean } | null {
  const daily = usage.daily_limit !== null && usage.daily_used >= usage.daily_limit
  const monthly = usage.monthly_limit !== null && usage.monthly_used >= usage.monthly_limit
  return daily || monthly ? { daily, monthly } : null
}

// Counts come back as numbers from PGlite and as strings (bigint, sums) from postgres.js.
function toFigures(row: Record<keyof UsageFigures, unknown>): UsageFigures {
  const count = (value: unknown) => (value === null ? null : Number(value))
  return {
    tier: row.tier as string,
    daily_used: Number(row.daily_used),
    daily_limit: count(row.daily_limit),
    monthly_used: Number(row.monthly_used),
    monthly_limit: count(row.monthly_limit),
    total_queries: Number(row.total_queries),
    daily_resets_at: row.daily_resets_at as string,
    monthly_resets_at: row.monthly_resets_at as string
  }
}
