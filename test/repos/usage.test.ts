import { sql } from 'drizzle-orm'
import { PgDialect } from 'drizzle-orm/pg-core'
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import t from 'tap'
import { parseUsageLimits } from '../../src/config.ts'
import * as schema from '../../src/db/schema.ts'
import { queryRows } from '../helpers/db.ts'
import type { Db } from '../../src/db/types.ts'
import { UsageRepo } from '../../src/repos/usage.ts'
import { eachBackend, interceptStatements, openTestDatabase } from '../helpers/db.ts'

const LIMITS = parseUsageLimits('free:10/100,pro:100/3000,enterprise:unlimited,capped:unlimited/3,none:0/0')

async function utcToday(db: Db): Promise<string> {
  const [row] = await queryRows<{ day: string }>(db, sql`select to_char((now() at time zone 'utc'), 'YYYY-MM-DD') as day`)
  return row!.day
}

await eachBackend(t, async (t, backend) => {
  const database = await openTestDatabase(t, backend)
  const { db } = database
  const usage = new UsageRepo(db, LIMITS)
  const stored = async (userId: string) =>
    (await queryRows<Record<string, unknown>>(db, sql`select * from usage where user_id = ${userId}`))[0]

  t.test('a new user starts on free; figures before and after the first query', async (t) => {
    const before = await usage.get('newbie')
    t.match(before, { tier: 'free', daily_used: 0, daily_limit: 10, monthly_used: 0, monthly_limit: 100, total_queries: 0 })
    t.notOk(await stored('newbie'), 'get writes nothing')
    const today = await utcToday(db)
    t.equal(before.daily_resets_at, new Date(Date.parse(`${today}T00:00:00Z`) + 86_400_000).toISOString().replace('.000Z', 'Z'))
    t.match(before.monthly_resets_at, /^\d{4}-\d{2}-01T00:00:00Z$/)

    const first = await usage.consume('newbie')
    t.equal(first.granted, true)
    t.equal(first.day, today)
    t.match(first.usage, { tier: 'free', daily_used: 1, monthly_used: 1, total_queries: 1 })
  })

  t.test('200 concurrent consumes with 10 left give exactly 10', async (t) => {
    const results = await Promise.all(Array.from({ length: 200 }, () => usage.consume('racer')))
    t.equal(results.filter((r) => r.granted).length, 10)
    t.match(await stored('racer'), { daily_used: 10, monthly_used: 10 })
    t.equal(Number((await stored('racer'))!.total_queries), 10)
    const refused = results.find((r) => !r.granted)!
    t.match(refused.usage, { daily_used: 10, daily_limit: 10 }, 'a refusal carries the figures')
  })

  t.test('day rollover resets the daily count only; month rollover resets the monthly one', async (t) => {
    for (let i = 0; i < 3; i++) await usage.consume('roller')
    await db.execute(sql`update usage set last_reset_daily = last_reset_daily - 1 where user_id = 'roller'`)
    t.match(await usage.get('roller'), { daily_used: 0, monthly_used: 3, total_queries: 3 }, 'figures apply the reset before any write')
    t.match((await usage.consume('roller')).usage, { daily_used: 1, monthly_used: 4, total_queries: 4 })

    await db.execute(sql`update usage set last_reset_daily = last_reset_daily - 40,
      last_reset_monthly = (last_reset_monthly - interval '1 month')::date where user_id = 'roller'`)
    t.match((await usage.consume('roller')).usage, { daily_used: 1, monthly_used: 1, total_queries: 5 }, 'both restart, the total goes on')

    // Imported rows may hold a mid-month reset date: same month, no reset.
    await db.execute(sql`update usage set monthly_used = 7,
      last_reset_monthly = date_trunc('month', now() at time zone 'utc')::date + 0 where user_id = 'roller'`)
    t.match((await usage.consume('roller')).usage, { monthly_used: 8 })
  })

  t.test('daily and monthly limits both hold', async (t) => {
    await usage.setTier('monthly-capped', 'capped')
    const results = []
    for (let i = 0; i < 5; i++) results.push((await usage.consume('monthly-capped')).granted)
    t.same(results, [true, true, true, false, false], 'unlimited daily, 3 a month')
    t.match(await usage.get('monthly-capped'), { daily_limit: null, monthly_limit: 3, monthly_used: 3 })

    await db.execute(sql`update usage set daily_limit = 2 where user_id = 'racer'`)
    t.equal((await usage.consume('racer')).granted, false, 'a per-user override wins over the tier')
    await usage.setTier('racer', 'pro')
    t.match(await stored('racer'), { tier: 'pro', daily_limit: null })
    t.equal((await usage.consume('racer')).granted, true, 'a tier change takes effect at once')

    t.equal((await usage.consume('nobody-allowed')).granted, true, 'sanity: the free tier allows queries')
    const noneRepo = new UsageRepo(db, parseUsageLimits('free:0/0'))
    const refused = await noneRepo.consume('brand-new-user')
    t.equal(refused.granted, false, 'a free tier of 0 refuses even a first query')
    t.notOk(await stored('brand-new-user'))

    await db.execute(sql`insert into usage (user_id, tier) values ('legacy', 'platinum-2019')`)
    t.match(await usage.get('legacy'), { tier: 'platinum-2019', daily_limit: 10, monthly_limit: 100 }, 'an unknown tier gets free limits')
  })

  t.test('refund gives the unit back only within its own day and month', async (t) => {
    const taken = await usage.consume('refunder')
    await usage.consume('refunder')
    await usage.refund('refunder', taken.day)
    t.match(await usage.get('refunder'), { daily_used: 1, monthly_used: 1, total_queries: 1 })

    await db.execute(sql`update usage set last_reset_daily = last_reset_daily - 1 where user_id = 'refunder'`)
    const today = await usage.consume('refunder')
    await usage.refund('refunder', `${Number(today.day.slice(0, 4)) - 1}${today.day.slice(4)}`)
    t.match(await stored('refunder'), { daily_used: 1, monthly_used: 2 }, 'a unit from another day and month is not taken off today')
    await usage.refund('nobody', today.day)
    t.notOk(await stored('nobody'), 'refunding an unknown user writes nothing')
  })

  t.test('a granted query is one statement', async (t) => {
    // Counted at the driver, where drizzle's prepared statements run.
    let statements = 0
    const counted = interceptStatements(db, () => void statements++)
    const repo = new UsageRepo(counted, LIMITS)
    await repo.consume('counter')
    t.equal(statements, 1, 'granted: one statement')
    for (let i = 0; i < 12; i++) await repo.consume('counter')
    statements = 0
    const refused = await repo.consume('counter')
    t.equal(refused.granted, false)
    t.equal(statements, 2, 'refused: the statement, then a read of the figures')
  })

  t.test('consume and read build no SQL per call: their statements are prepared once', async (t) => {
    const repo = new UsageRepo(db, LIMITS)
    let built = 0
    const sqlToQuery = PgDialect.prototype.sqlToQuery
    PgDialect.prototype.sqlToQuery = function (...args) {
      built++
      return sqlToQuery.apply(this, args)
    }
    t.teardown(() => void (PgDialect.prototype.sqlToQuery = sqlToQuery))
    await repo.consume('compiled')
    await repo.get('compiled')
    t.equal(built, 0)
    await db.execute(sql`select 1`)
    t.ok(built > 0, 'the count sees what drizzle builds')
  })

  t.test('a session time zone far from UTC does not move the day boundary', async (t) => {
    const today = await utcToday(db)
    for (const zone of ['Pacific/Kiritimati', 'Pacific/Pago_Pago']) {
      let zoned: Db
      let close: () => Promise<void>
      if (backend === 'pglite') {
        await db.execute(sql.raw(`set time zone '${zone}'`))
        zoned = db
        close = async () => void (await db.execute(sql`set time zone 'UTC'`))
      } else {
        const client = postgres(database.url!, { max: 1, connection: { TimeZone: zone } })
        zoned = drizzlePostgres(client, { schema }) as unknown as Db
        close = () => client.end()
      }
      const [local] = await queryRows<{ day: string }>(zoned, sql`select current_date::text as day`)
      t.not(local!.day, undefined)
      const result = await new UsageRepo(zoned, LIMITS).consume(`tz-${zone}`)
      t.equal(result.day, today, `${zone}: the unit is taken on the UTC day`)
      t.equal(result.usage.daily_resets_at.slice(0, 10), new Date(Date.parse(`${today}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10))
      const row = await queryRows<{ d: string }>(db, sql`select to_char(last_reset_daily::timestamp, 'YYYY-MM-DD') as d from usage where user_id = ${`tz-${zone}`}`)
      t.equal(row[0]!.d, today, `${zone}: the stored reset date is the UTC day`)
      await close()
    }
  })
})
