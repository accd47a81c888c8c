import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import postgres from 'postgres'
import t from 'tap'
import { runImport } from '../../src/cli/import/importer.ts'
import { tableState, tablesInCopyOrder } from '../../src/cli/move/copy-tables.ts'
import { openPglite, openPostgres } from '../../src/db/client.ts'
import { migrateDatabase } from '../../src/db/migrate.ts'
import { AccountsRepo } from '../../src/repos/accounts.ts'
import { ApiKeysRepo } from '../../src/repos/api-keys.ts'
import { SessionsRepo } from '../../src/repos/sessions.ts'
import { TransferRepo } from '../../src/repos/transfer.ts'
import { buildTestApp } from '../helpers/app.ts'
import { POOL, TEST_DATABASE_URL, createPostgresDatabase } from '../helpers/db.ts'
import { generateDataDir } from '../helpers/generate.ts'
import { ROOT, runScript } from '../helpers/process.ts'

const skip = !TEST_DATABASE_URL && 'TEST_DATABASE_URL is not set'

function hashTree(dir: string): Record<string, string> {
  const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((p) => statSync(join(dir, p)).isFile()).sort()
  return Object.fromEntries(files.map((p) => [p, createHash('sha256').update(readFileSync(join(dir, p))).digest('hex')]))
}

/** An embedded database directory with `count` conversations over three users, their usage, a profile, a subscription, and an account signed in with a key and single sign-on. */
async function embeddedDatabase(dir: string, count: number): Promise<void> {
  const data = join(dir, 'data')
  generateDataDir(join(data, 'a'), Math.ceil(count / 2), { size: 1_500 })
  generateDataDir(join(data, 'b'), Math.floor(count / 2), { size: 1_500 })
  const database = await openPglite(join(dir, 'pglite'))
  try {
    await migrateDatabase(database, {})
    const repo = new TransferRepo(database.db)
    await runImport(repo, { paths: [join(data, 'a')], defaultUser: 'alice' })
    await runImport(repo, { paths: [join(data, 'b')], defaultUser: 'bob' })
    await repo.createUsage({ kind: 'usage', userId: 'alice', tier: 'pro', dailyUsed: 3, monthlyUsed: 30, totalQueries: 300, lastResetDaily: '2026-11-29', lastResetMonthly: '2026-11-01' })
    await repo.createProfiles([{ userId: 'alice', email: 'alice@example.com', displayName: 'Alice', avatarUrl: null, createdAt: '2024-01-01T00:00:00.123456Z' }])
    await repo.createSubscriptions([{ userId: 'alice', provider: 'stripe', customerId: 'cus_1', subscriptionId: 'sub_1', status: 'active', plan: 'pro', currentPeriodEnd: null, createdAt: null }])
    const accounts = new AccountsRepo(database.db)
    await accounts.create({ userId: 'alice', email: 'alice@example.com', passwordHash: 'scrypt$1$1$1$x$y', identity: { issuer: 'https://id.example.com', subject: 'a-1' } })
    await new SessionsRepo(database.db).create('alice', 'a'.repeat(64), 3600)
    await new ApiKeysRepo(database.db).create('alice', { name: 'script', prefix: 'llmc_abcdefg', keyHash: 'b'.repeat(64) })
  } finally {
    await database.close()
  }
}

t.test('1,000 conversations moved from PGlite to PostgreSQL: the same API output, equal checksums, the directory untouched', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'llmc-move-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  await embeddedDatabase(dir, 1000)
  const url = await createPostgresDatabase(t)
  const env = { PGLITE_DIR: join(dir, 'pglite') }
  const before = hashTree(join(dir, 'pglite'))

  const run = await runScript('src/cli/move-to-postgres.ts', env, [url]).done
  t.equal(run.code, 0, run.stderr)
  t.match(run.stdout, /(^|\n)conversations: 1000 rows, 1000 copied, 0 already there; counts and checksums equal\nmessages: \d+ rows, \d+ copied/)
  t.match(run.stdout, /usage: 1 rows, 1 copied, 0 already there; counts and checksums equal\n/)
  t.match(run.stdout, /user_profiles: 1 rows, 1 copied/)
  t.match(run.stdout, /subscriptions: 1 rows, 1 copied/)
  for (const table of ['accounts', 'account_identities', 'sessions', 'api_keys']) {
    t.match(run.stdout, new RegExp(`(^|\\n)${table}: 1 rows, 1 copied, 0 already there; counts and checksums equal\\n`), `${table}: signed-in users stay signed in`)
  }
  t.match(run.stdout, new RegExp(`Set this and restart the server:\\nDATABASE_URL=${url.replace(/[.?*+]/g, '\\$&')}\\n$`))
  t.match(run.stderr, /progress: \d+\/\d+ rows, 1000 conversations/)
  t.same(hashTree(join(dir, 'pglite')), before, 'the embedded directory is byte for byte as it was')

  const again = await runScript('src/cli/move-to-postgres.ts', env, [url]).done
  t.equal(again.code, 0, 'a second run is fine')
  t.match(again.stdout, /(^|\n)conversations: 1000 rows, 0 copied, 1000 already there; counts and checksums equal\n/)

  const embedded = await openPglite(join(dir, 'pglite'))
  t.teardown(() => embedded.close())
  const moved = openPostgres(url, POOL)
  t.teardown(() => moved.close())
  for (const table of tablesInCopyOrder()) {
    t.same(await tableState(moved.db, table), await tableState(embedded.db, table), `${table.name}: count and checksum`)
  }
  const apps = [await buildTestApp(t, embedded, { AUTH_MODE: 'header' }), await buildTestApp(t, moved, { AUTH_MODE: 'header' })].map((a) => a.app)
  const ids = (await embedded.db.execute(sql`select id, user_id from conversations order by id`)) as unknown as { rows: { id: string; user_id: string }[] }
  t.equal(ids.rows.length, 1000)
  let same = 0
  for (const { id, user_id } of ids.rows) {
    const headers = { 'x-forwarded-user': user_id }
    const [a, b] = await Promise.all(apps.map((app) => app.inject({ url: `/api/conversations/${id}`, headers })))
    if (a!.statusCode === 200 && a!.body === b!.body) same++
    else t.fail(`${id} differs`)
  }
  t.equal(same, 1000, 'every conversation reads the same through the API')
  for (const user of ['alice', 'bob']) {
    const headers = { 'x-forwarded-user': user }
    const lists = await Promise.all(apps.map((app) => app.inject({ url: '/api/conversations?limit=200', headers })))
    t.equal(lists[0]!.body, lists[1]!.body, `${user}'s list`)
    t.equal(lists[0]!.headers['x-next-cursor'], lists[1]!.headers['x-next-cursor'])
    const usage = await Promise.all(apps.map((app) => app.inject({ url: '/api/usage', headers })))
    t.equal(usage[0]!.body, usage[1]!.body, `${user}'s usage`)
  }
  const created = await apps[1]!.inject({ method: 'POST', url: '/api/conversations', headers: { 'x-forwarded-user': 'alice' } })
  t.equal(created.statusCode, 200, 'PostgreSQL takes new rows after the move (its sequences moved past the copied ids)')
})

t.test('refusals and a changed target: nothing overwritten, exit codes', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'llmc-move-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  await embeddedDatabase(dir, 4)
  const env = { PGLITE_DIR: join(dir, 'pglite') }
  const url = await createPostgresDatabase(t)

  const held = await openPglite(join(dir, 'pglite'))
  const busy = await runScript('src/cli/move-to-postgres.ts', env, [url]).done
  await held.close()
  t.equal(busy.code, 2)
  t.match(busy.stderr, new RegExp(`^move-to-postgres: PGLITE_DIR .* is in use by pid ${process.pid}: .*\\(stop the server first\\)\\n$`))

  t.equal((await runScript('src/cli/move-to-postgres.ts', env, [url]).done).code, 0)
  const target = postgres(url, { max: 1, onnotice: () => {} })
  t.teardown(() => target.end())
  const [renamed] = await target`update conversations set title = 'renamed on PostgreSQL' where id = (select id from conversations order by id limit 1) returning id`
  const changed = await runScript('src/cli/move-to-postgres.ts', env, [url]).done
  t.equal(changed.code, 1)
  t.match(changed.stdout, /conversations: 4 rows, 0 copied, 4 already there; DIFFERS: 4 rows in PostgreSQL, same count, other contents\n/)
  t.match(changed.stdout, /does not hold exactly what the embedded database holds \(conversations\).*Nothing there was overwritten/)
  const [still] = await target`select title from conversations where id = ${renamed!.id}`
  t.equal(still!.title, 'renamed on PostgreSQL')

  const foreign = await createPostgresDatabase(t)
  const old = postgres(foreign, { max: 1, onnotice: () => {} })
  t.teardown(() => old.end())
  await old.unsafe(readFileSync(join(ROOT, 'test/fixtures/old-schema/jsonb.sql'), 'utf8'))
  mkdirSync(join(dir, 'empty'))
  const cases: [string, Record<string, string>, string[], RegExp][] = [
    ['no URL', env, [], /name the PostgreSQL database to move to/],
    ['not a postgres URL', env, ['mysql://x/y'], /the target URL is malformed/],
    ['no embedded database', { PGLITE_DIR: join(dir, 'none') }, [url], /no embedded database in .*none \(PGLITE_DIR\): nothing to move/],
    ['in memory', { PGLITE_DIR: 'memory://' }, [url], /an in-memory database has nothing to move/],
    ['unreachable', env, ['postgres://u:sekrit@127.0.0.1:1/x'], /cannot open PostgreSQL 127\.0\.0\.1:1\/x: ECONNREFUSED/],
    ["another system's tables", env, [foreign], /already holds tables named like this server's \(conversations, messages, subscriptions, usage\)/]
  ]
  for (const [name, caseEnv, args, message] of cases) {
    const refused = await runScript('src/cli/move-to-postgres.ts', caseEnv, args).done
    t.equal(refused.code, 2, `${name}: 2`)
    t.match(refused.stderr, message, name)
    t.notMatch(refused.stderr + refused.stdout, 'sekrit')
  }
  const help = await runScript('src/cli/move-to-postgres.ts', env, ['--help']).done
  t.equal(help.code, 0)
  t.match(help.stdout, /usage: npm run move-to-postgres -- <postgres url>/)
})
