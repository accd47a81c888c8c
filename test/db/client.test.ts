import { sql } from 'drizzle-orm'
import t from 'tap'
import { openPostgres } from '../../src/db/client.ts'
import { migrateDatabase } from '../../src/db/migrate.ts'
import { ConversationsRepo } from '../../src/repos/conversations.ts'
import { TransferRepo } from '../../src/repos/transfer.ts'
import { POOL, TEST_DATABASE_URL, createPostgresDatabase, eachBackend, openTestDatabase, queryRows } from '../helpers/db.ts'

/** The statements the pool's one connection holds prepared (pg_prepared_statements is per session). */
const preparedOn = async (database: ReturnType<typeof openPostgres>) =>
  (await queryRows<{ statement: string }>(database.db, sql`select statement from pg_prepared_statements`)).map((row) => row.statement)

t.test("DB_PREPARE: the repositories' statements are prepared once per connection, one-off statements never", { skip: !TEST_DATABASE_URL && 'TEST_DATABASE_URL is not set' }, async (t) => {
  const url = await createPostgresDatabase(t)
  const database = openPostgres(url, { ...POOL, poolMax: 1 })
  t.teardown(() => database.close())
  await migrateDatabase(database, { migrationUrl: url, pool: POOL })
  const conversations = new ConversationsRepo(database.db)
  await conversations.list('alice', { limit: 50 })
  await conversations.list('alice', { limit: 50 })
  await new TransferRepo(database.db).createUsage({ kind: 'usage', userId: 'bob', tier: 'free', dailyUsed: 0, monthlyUsed: 0, totalQueries: 0, lastResetDaily: null, lastResetMonthly: null })

  const prepared = await preparedOn(database)
  const lists = prepared.filter((s) => s.includes('from "conversations"') && s.includes('order by "conversations"."updated_at" desc'))
  t.equal(lists.length, 1, 'the list statement, prepared once and reused')
  t.notOk(prepared.some((s) => s.startsWith('insert into "usage"')), 'a statement not built with .prepare() is not kept')

  const unprepared = openPostgres(url, { ...POOL, poolMax: 1, prepare: false })
  t.teardown(() => unprepared.close())
  await new ConversationsRepo(unprepared.db).list('alice', { limit: 50 })
  t.same(await preparedOn(unprepared), [], 'DB_PREPARE=false prepares nothing (transaction poolers)')
})

t.test('repositories run inside a transaction: its reads see its writes, a rollback undoes them', async (t) => {
  await eachBackend(t, async (t, backend) => {
    const database = await openTestDatabase(t, backend)
    const { db } = database
    const kept = await db.transaction(async (tx) => {
      const conversations = new ConversationsRepo(tx)
      const created = await conversations.create('alice')
      await conversations.rename('alice', created.id, 'In a transaction')
      const body = await conversations.getJson('alice', created.id)
      t.match(JSON.parse(body!), { id: created.id, title: 'In a transaction', messages: [] }, 'getJson on tx')
      t.match((await conversations.list('alice', { limit: 10 })).conversations, [{ id: created.id }], 'list on tx')
      return created.id
    })
    t.ok(await new ConversationsRepo(db).exists('alice', kept), 'committed')

    const rolledBack = await db
      .transaction(async (tx) => {
        const created = await new ConversationsRepo(tx).create('alice')
        t.ok(await new ConversationsRepo(tx).exists('alice', created.id))
        tx.rollback()
      })
      .then(
        () => 'committed',
        (error: Error) => error.message
      )
    t.equal(rolledBack, 'Rollback')
    t.equal((await new ConversationsRepo(db).list('alice', { limit: 10 })).conversations.length, 1, 'the rolled-back conversation is gone')
  })
})
