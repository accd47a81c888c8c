import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import postgres from 'postgres'
import t from 'tap'
import { TEST_DATABASE_URL, createPostgresDatabase } from '../helpers/db.ts'
import { ROOT, runScript } from '../helpers/process.ts'

const MIGRATIONS = (JSON.parse(readFileSync(join(ROOT, 'drizzle/meta/_journal.json'), 'utf8')) as { entries: { tag: string }[] }).entries.map((entry) => entry.tag)

t.test('eight processes migrating one fresh PostgreSQL database at once', { skip: !TEST_DATABASE_URL && 'TEST_DATABASE_URL is not set' }, async (t) => {
  const url = await createPostgresDatabase(t)
  const runs = await Promise.all(
    Array.from({ length: 8 }, () => runScript('src/cli/migrate.ts', { DATABASE_URL: url }).done)
  )
  for (const [i, run] of runs.entries()) t.equal(run.code, 0, `process ${i} succeeded${run.code ? `: ${run.stderr}` : ''}`)
  const output = runs.map((run) => run.stdout).join('')
  const applied = `migrations: applied ${MIGRATIONS.length} (${MIGRATIONS.join(', ')})`
  t.equal(output.split(applied).length - 1, 1, 'exactly one process applied the migrations')
  t.equal(output.match(/is up to date/g)?.length, 7, 'the other seven found nothing to do')

  const sql = postgres(url, { max: 1 })
  t.teardown(() => sql.end())
  const [row] = await sql`select count(*)::int as count from drizzle.__drizzle_migrations`
  t.equal(row?.count, MIGRATIONS.length, 'the migrations table holds each migration once')
  const tables = await sql`select table_name from information_schema.tables where table_schema = 'public' order by 1`
  t.same(tables.map((row) => row.table_name), ['account_identities', 'accounts', 'api_keys', 'conversations', 'messages', 'oidc_logins', 'run_events', 'runs', 'sessions', 'shares', 'sign_in_failures', 'subscriptions', 'token_usage', 'usage', 'user_profiles'])
})

t.test('db:migrate never falls back to the embedded database', async (t) => {
  const run = await runScript('src/cli/migrate.ts', { DATABASE_URL: 'postgres://u:hunter2@127.0.0.1:1/db' }).done
  t.equal(run.code, 2)
  t.match(run.stderr, /^db:migrate: cannot open the database: ECONNREFUSED/)
  t.notMatch(run.stdout + run.stderr, 'hunter2')
})
