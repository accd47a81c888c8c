import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import t from 'tap'
import { openPglite } from '../../src/db/client.ts'
import { migrateDatabase } from '../../src/db/migrate.ts'
import { AccountsRepo } from '../../src/repos/accounts.ts'
import { queryRows } from '../helpers/db.ts'
import { runScript } from '../helpers/process.ts'

t.test('npm run users -- assign: moves a former owner to an account in one transaction', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'llmc-users-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const env = { PGLITE_DIR: join(dir, 'pglite') }
  const database = await openPglite(env.PGLITE_DIR)
  await migrateDatabase(database, {})
  const accounts = new AccountsRepo(database.db)
  const account = (await accounts.create({ userId: 'acct-1', email: 'owner@example.com', passwordHash: null }))!
  await database.db.execute(sql`insert into conversations (user_id, title) values ('local', 'one'), ('local', 'two'), ('imported', 'three')`)
  await database.db.execute(sql`insert into usage (user_id, tier, total_queries) values ('local', 'pro', 7)`)
  await database.db.execute(sql`insert into api_keys (user_id, name, prefix, key_hash) values ('local', 'k', 'llmc_x', repeat('a', 64))`)
  await database.close()

  const listed = await runScript('src/cli/users.ts', env, ['unclaimed']).done
  t.equal(listed.code, 0)
  t.equal(listed.stdout, 'local\t2 conversations\nimported\t1 conversations\n')

  const assigned = await runScript('src/cli/users.ts', env, ['assign', 'local', 'Owner@Example.com']).done
  t.equal(assigned.code, 0, assigned.stderr)
  t.match(assigned.stdout, /^assigned 2 conversations \(and usage, profile and API keys\) of local to Owner@Example.com in PGlite/)

  for (const [args, message] of [
    [['assign', 'local', 'nobody@example.com'], /no account signs in with nobody@example.com/],
    [['assign', account.user_id, 'owner@example.com'], /already that account/],
    [['assign', 'imported'], /wrong arguments/],
    [['rename', 'a', 'b'], /unknown command/]
  ] as const) {
    const run = await runScript('src/cli/users.ts', env, [...args]).done
    t.equal(run.code, 2, args.join(' '))
    t.match(run.stderr, message)
  }

  const after = await openPglite(env.PGLITE_DIR)
  t.teardown(() => after.close())
  const owners = await queryRows<{ user_id: string; count: number }>(after.db, sql`select user_id, count(*)::int as count from conversations group by user_id order by user_id`)
  t.same(owners.map((row) => [row.user_id, Number(row.count)]), [['acct-1', 2], ['imported', 1]])
  t.same(await queryRows(after.db, sql`select user_id, tier, total_queries::int as total from usage`), [{ user_id: 'acct-1', tier: 'pro', total: 7 }], 'the usage row moved')
  t.same(await queryRows(after.db, sql`select user_id from api_keys`), [{ user_id: 'acct-1' }])
})
