import { type SQL, type SQLWrapper, sql } from 'drizzle-orm'
import type { TierLimits } from '../config.ts'
import { isUnreachable } from '../db/connect.ts'
import { type Statement, compile, queryStatementRows } from '../db/sql.ts'
import type { Db } from '../db/types.ts'

export const DEFAULT_TIER = 'free'

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

type Row = Omit<UsageFigures, 'total_queries'> & { total_queries: number | string; now: string; day: string; granted?: boolean }

// "Today" and "this month" always come from the database's clock in UTC, never the session time zone.
const CLOCK = sql`clock as (
  select (now() at time zone 'utc')::date as today,
         date_trunc('month', (now() at time zone 'utc'))::date as month_start
)`

const iso = (expression: SQL) => sql`to_char(${expression}, 'YYYY-MM-DD"T"HH24:MI:SS"Z"')`

/**
 * Per-user daily and monthly allowances. Every statement is atomic on its own: however many
 * requests arrive at once, on however many instances, no user gets more than the limit.
 */
export class UsageRepo {
  #db: Db
  // Compiled once (the tiers are fixed for the server's life): consume runs before every council message.
  #consumeStatement: Statement
  #readStatement: Statement

  constructor(db: Db, tiers: Map<string, TierLimits>) {
    this.#db = db
    const rows = [...tiers].map(([tier, { daily, monthly }]) => sql`(${tier}::text, ${daily}::int, ${monthly}::int)`)
    const limits = sql`limits (tier, daily, monthly) as (values ${sql.join(rows, sql`, `)})`
    const userId = sql.placeholder('userId')
    this.#consumeStatement = compile(this.#consumeQuery(limits, userId))
    this.#readStatement = compile(this.#readQuery(limits, userId))
  }

  /** The limit that applies to row `r`: its own override, else its tier's (an unknown tier counts as free). */
  #limit(r: string, kind: 'daily' | 'monthly'): SQL {
    const column = sql.raw(kind)
    const override = sql.raw(`${r}.${kind}_limit`)
    return sql`coalesce(${override}, (select ${column} from limits where tier = coalesce(
      (select tier from limits where tier = ${sql.raw(r)}.tier), ${DEFAULT_TIER})))`
  }

  /** The API's figures for row `r`, with resets applied, next to the clock. */
  #figures(r: string): SQL {
    const row = sql.raw(r)
    return sql`${row}.tier,
      case when ${row}.last_reset_daily < clock.today then 0 else ${row}.daily_used end as daily_used,
      ${this.#limit(r, 'daily')} as daily_limit,
      case when ${row}.last_reset_monthly < clock.month_start then 0 else ${row}.monthly_used end as monthly_used,
      ${this.#limit(r, 'monthly')} as monthly_limit,
      ${row}.total_queries,
      ${iso(sql`(clock.today + 1)::timestamp`)} as daily_resets_at,
      ${iso(sql`(clock.month_start + interval '1 month')::timestamp`)} as monthly_resets_at,
      ${iso(sql`now() at time zone 'utc'`)} as now,
      to_char(clock.today::timestamp, 'YYYY-MM-DD') as day`
  }

  /**
   * Takes one unit of today's and this month's allowance, in one statement: the upsert applies
   * the UTC-midnight and first-of-month resets, checks both limits and counts the query, or
   * changes nothing when a limit is reached. Either way the caller's figures come back.
   */
  async consume(userId: string): Promise<ConsumeResult> {
    // Retried once only when the statement never reached the database (no connection): then it
    // cannot have counted anything. Any other failure may have, so it is not retried.
    const run = () => queryStatementRows<Row>(this.#db, this.#consumeStatement, { userId })
    const [row] = await run().catch((error: unknown) => {
      if (isUnreachable(error)) return run()
      throw error
    })
    if (row?.granted) return { granted: true, usage: toFigures(row), now: row.now, day: row.day }
    // The refusal's figures come from the statement's snapshot. When requests race, the row that
    // was refused may be newer than that snapshot (it shows a unit left): read it again then.
    const usage = row && exhausted(toFigures(row)) ? toFigures(row) : await this.get(userId)
    return { granted: false, usage, now: row?.now ?? new Date().toISOString(), day: row?.day ?? usage.daily_resets_at.slice(0, 10) }
  }

  #consumeQuery(limits: SQL, userId: SQLWrapper): SQL {
    const daily = this.#limit('u', 'daily')
    const monthly = this.#limit('u', 'monthly')
    return sql`with ${limits}, ${CLOCK},
      attempt as (
        insert into usage as u (user_id, tier, daily_used, monthly_used, total_queries, last_reset_daily, last_reset_monthly)
        select ${userId}, ${DEFAULT_TIER}, 1, 1, 1, clock.today, clock.month_start from clock
        -- a first query is allowed unless the free tier allows none; an existing row decides below
        where exists (select 1 from usage where user_id = ${userId})
           or (select coalesce(daily, 1) > 0 and coalesce(monthly, 1) > 0 from limits where tier = ${DEFAULT_TIER})
        on conflict (user_id) do update set
          daily_used = case when u.last_reset_daily < excluded.last_reset_daily then 1 else u.daily_used + 1 end,
          monthly_used = case when u.last_reset_monthly < excluded.last_reset_monthly then 1 else u.monthly_used + 1 end,
          total_queries = u.total_queries + 1,
          last_reset_daily = greatest(u.last_reset_daily, excluded.last_reset_daily),
          last_reset_monthly = case when u.last_reset_monthly < excluded.last_reset_monthly
                                    then excluded.last_reset_monthly else u.last_reset_monthly end,
          updated_at = now()
        where (${daily} is null
               or (case when u.last_reset_daily < excluded.last_reset_daily then 0 else u.daily_used end) < ${daily})
          and (${monthly} is null
               or (case when u.last_reset_monthly < excluded.last_reset_monthly then 0 else u.monthly_used end) < ${monthly})
        returning u.*
      )
      select true as granted, ${this.#figures('a')} from attempt a cross join clock
      union all
      select false as granted, ${this.#figures('u')} from usage u cross join clock
       where u.user_id = ${userId} and not exists (select 1 from attempt)`
  }

  /** Gives back a unit taken on `day`, to each counter that still counts that day (or its month). */
  async refund(userId: string, day: string): Promise<void> {
    await this.#db.execute(sql`update usage set
        daily_used = case when last_reset_daily = ${day}::date then greatest(daily_used - 1, 0) else daily_used end,
        monthly_used = case when date_trunc('month', last_reset_monthly) = date_trunc('month', ${day}::date)
                            then greatest(monthly_used - 1, 0) else monthly_used end,
        total_queries = greatest(total_queries - 1, 0),
        updated_at = now()
      where user_id = ${userId}`)
  }

  /** The caller's figures with resets applied, without writing anything. */
  async get(userId: string): Promise<UsageFigures> {
    const [row] = await queryStatementRows<Row>(this.#db, this.#readStatement, { userId })
    return toFigures(row!)
  }

  #readQuery(limits: SQL, userId: SQLWrapper): SQL {
    return sql`with ${limits}, ${CLOCK},
      target as (
        select tier, daily_used, daily_limit, monthly_used, monthly_limit, total_queries, last_reset_daily, last_reset_monthly
          from usage where user_id = ${userId}
        union all
        select ${DEFAULT_TIER}, 0, null::int, 0, null::int, 0::bigint, clock.today, clock.month_start
          from clock where not exists (select 1 from usage where user_id = ${userId})
      )
      select ${this.#figures('t')} from target t cross join clock`
  }

  /** Puts a user on `tier` (creating the row if needed) and clears any per-user limit overrides. */
  async setTier(userId: string, tier: string): Promise<UsageFigures> {
    await this.#db.execute(sql`insert into usage (user_id, tier) values (${userId}, ${tier})
      on conflict (user_id) do update set tier = excluded.tier, daily_limit = null, monthly_limit = null, updated_at = now()`)
    return this.get(userId)
  }
}

/** Whether no query is left today or this month. */
export function exhausted(usage: UsageFigures): { daily: boolean; monthly: boolean } | null {
  const daily = usage.daily_limit !== null && usage.daily_used >= usage.daily_limit
  const monthly = usage.monthly_limit !== null && usage.monthly_used >= usage.monthly_limit
  return daily || monthly ? { daily, monthly } : null
}

function toFigures(row: Row): UsageFigures {
  const count = (value: number | string | null) => (value === null ? null : Number(value))
  return {
    tier: row.tier,
    daily_used: Number(row.daily_used),
    daily_limit: count(row.daily_limit),
    monthly_used: Number(row.monthly_used),
    monthly_limit: count(row.monthly_limit),
    total_queries: Number(row.total_queries),
    daily_resets_at: row.daily_resets_at,
    monthly_resets_at: row.monthly_resets_at
  }
}
