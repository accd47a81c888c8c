import { sql } from 'drizzle-orm'
import t from 'tap'
import type { SlowQuery } from '../../src/db/slow-queries.ts'
import { eachBackend, openTestDatabase } from '../helpers/db.ts'

t.test('every statement is timed once, whether it succeeds or fails, and the caller still gets its result', async (t) => {
  await eachBackend(t, async (t, backend) => {
    const database = await openTestDatabase(t, backend)
    const reported: SlowQuery[] = []
    database.slowQueries.reporter = (query) => reported.push(query)
    database.slowQueries.thresholdMs = 0

    const rows = await database.db.execute(sql`select 41 + 1 as answer`)
    t.same(Array.isArray(rows) ? rows : (rows as { rows: unknown[] }).rows, [{ answer: 42 }], 'the result is unchanged')
    const failure = await database.db.execute(sql`select 1 / 0`).then(() => null, (error: Error) => error)
    t.match(String((failure?.cause as Error | undefined)?.message), /division by zero/, "the database's error still reaches the caller")
    t.same(reported.map((query) => query.statement), ['select 41 + 1 as answer', 'select 1 / 0'], 'both reported, once each')
    t.ok(reported.every((query) => query.durationMs >= 0))
  })
})

t.test('a statement is reported only when it takes at least the threshold, with the time it took', async (t) => {
  await eachBackend(t, async (t, backend) => {
    if (backend === 'pglite') {
      t.pass('PGlite: timed by a plain await around the query (covered above)')
      return
    }
    const database = await openTestDatabase(t, backend)
    const reported: SlowQuery[] = []
    database.slowQueries.reporter = (query) => reported.push(query)
    database.slowQueries.thresholdMs = 100
    await database.db.execute(sql`select 1`)
    await database.db.execute(sql`select pg_sleep(0.2)`)
    t.equal(reported.length, 1, 'only the slow one')
    t.match(reported[0], { statement: 'select pg_sleep(0.2)' })
    t.ok(reported[0]!.durationMs >= 190, `its duration (${reported[0]!.durationMs} ms) spans the statement`)
  })
})
