import { sql } from 'drizzle-orm'
import t from 'tap'
import { MAX_PREPARED_PARAMETERS, openPostgres } from '../../src/db/client.ts'
import { queryRows } from '../../src/db/sql.ts'
import { migrateDatabase } from '../../src/db/migrate.ts'
import { ConversationsRepo } from '../../src/repos/conversations.ts'
import { POOL, TEST_DATABASE_URL, createPostgresDatabase, eachBackend, openTestDatabase } from '../helpers/db.ts'

/** The statements the pool's one connection holds prepared (pg_prepared_statements is per session). */
const preparedOn = async (database: ReturnType<typeof openPostgres>) =>
  (await queryRows<{ statement: string }>(database.db, sql`select statement from pg_prepared_statements`)).map((row) => row.statement)

t.test('DB_PREPARE: the repositories\' statements are prepared once per connection, batch inserts never', { skip: !TEST_DATABASE_URL && 'TEST_DATABASE_URL is not set' }, async (t) => {
  const url = await createPostgresDatabase(t)
  const database = openPostgres(url, { ...POOL, poolMax: 1 })
  t.teardown(() => database.close())
  await migrateDatabase(database, { migrationUrl: url, pool: POOL })
  const conversations = new ConversationsRepo(database.db)
  await conversations.listJson('alice', { limit: 50 })
  await conversations.listJson('alice', { limit: 50 })
  const values = Array.from({ length: MAX_PREPARED_PARAMETERS + 1 }, (_, i) => sql`(${`batch-${i}`})`)
  await database.db.execute(sql`insert into conversations (user_id) values ${sql.join(values, sql`, `)}`)

  const prepared = await preparedOn(database)
  t.equal(prepared.filter((s) => s.includes('json_agg') && s.includes('"conversations"."user_id"')).length, 1, 'the list statement, prepared once and reused')
  t.notOk(prepared.some((s) => s.startsWith('insert into conversations')), `a statement with more than ${MAX_PREPARED_PARAMETERS} parameters is not kept`)

  const unprepared = openPostgres(url, { ...POOL, poolMax: 1, prepare: false })
  t.teardown(() => unprepared.close())
  await new ConversationsRepo(unprepared.db).listJson('alice', { limit: 50 })
  t.same(await preparedOn(unprepared), [], 'DB_PREPARE=false prepares nothing (transaction poolers)')

  const planMode = async (db: typeof database) => (await queryRows<{ plan_cache_mode: string }>(db.db, sql`show plan_cache_mode`))[0]!.plan_cache_mode
  t.equal(await planMode(database), 'force_generic_plan', 'prepared statements are planned once, not on every call')
  t.equal(await planMode(unprepared), 'auto', 'nothing sent as a startup parameter to a transaction pooler')
})

t.test('JSON reads come back as the bytes PostgreSQL sent (text on PGlite), the same document either way', async (t) => {
  await eachBackend(t, async (t, backend) => {
    const database = await openTestDatabase(t, backend)
    const conversations = new ConversationsRepo(database.db)
    const created = await conversations.create('alice', 'Bytes')
    const body = await conversations.getJson('alice', created.id)
    const page = await conversations.listJson('alice', { limit: 10 })
    t.equal(Buffer.isBuffer(body), backend !== 'pglite', backend === 'pglite' ? 'a string from PGlite' : 'a Buffer from postgres.js')
    t.match(JSON.parse(String(body)), { id: created.id, title: 'Bytes', messages: [] })
    t.match(JSON.parse(String(page.body)), [{ id: created.id }])
  })
})
