import { readFileSync } from 'node:fs'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql as drizzleSql } from 'drizzle-orm'
import postgres, { type Sql } from 'postgres'
import t, { type Test } from 'tap'
import { runDbImport } from '../../src/cli/import-db/importer.ts'
import { derivedUuid } from '../../src/domain.ts'
import { TransferRepo } from '../../src/repos/transfer.ts'
import { buildTestApp } from '../helpers/app.ts'
import { TEST_DATABASE_URL, createPostgresDatabase, eachBackend, openTestDatabase, queryRows } from '../helpers/db.ts'
import { ROOT, runScript } from '../helpers/process.ts'

type Variant = 'json' | 'jsonb'

interface OldMessage {
  role: string
  /** Stored as a JSON string holding the JSON, as some versions wrote it. */
  doubleEncoded?: boolean
  content?: string | null
  stage1?: unknown
  stage2?: unknown
  stage3?: unknown
  metadata?: unknown
  at: string
}

interface OldConversationRow {
  id: string
  user: string
  title: string | null
  starred: boolean | null
  created: string
  updated: string | null
  messages: OldMessage[]
}

const STAGE1 = [
  { model: 'openai/gpt-5.1', response: 'Four. “Quoted” text, a backslash \\ and 日本語.' },
  { model: 'google/gemini-3-pro-preview', response: '2 + 2 = 4 🎉' }
]
const STAGE2 = [
  { model: 'openai/gpt-5.1', ranking: 'Response B is clearer.\n\nFINAL RANKING:\n1. Response B\n2. Response A', parsed_ranking: ['Response B', 'Response A'] },
  { model: 'google/gemini-3-pro-preview', ranking: 'FINAL RANKING:\n1. Response A\n2. Response B', parsed_ranking: ['Response A', 'Response B'] }
]
const METADATA = {
  label_to_model: { 'Response A': 'openai/gpt-5.1', 'Response B': 'google/gemini-3-pro-preview' },
  aggregate_rankings: [{ model: 'openai/gpt-5.1', average_rank: 1.5, rankings_count: 2 }, { model: 'google/gemini-3-pro-preview', average_rank: 1.5, rankings_count: 2 }]
}

// Representative rows: unicode, a full answer, a failed council (empty stages), no metadata, an empty
// conversation, a plain-text answer, and one the server cannot take (a message role it does not know).
const CONVERSATIONS: OldConversationRow[] = [
  {
    id: '0b7f7a52-8a39-4e5c-9d59-2a8c0e0c0001',
    user: 'firebase-uid-alice',
    title: 'Über “quotes” — 日本語 🎉',
    starred: true,
    created: '2024-02-01 09:00:00.123456',
    updated: '2024-02-02 10:00:00',
    messages: [
      { role: 'user', content: 'What is 2+2? 🤔 "quoted" \\ backslash', at: '2024-02-01 09:00:00.123456' },
      { role: 'assistant', stage1: STAGE1, stage2: STAGE2, stage3: { model: 'google/gemini-3-pro-preview', response: '**Four.**' }, metadata: METADATA, at: '2024-02-01 09:00:41.5' },
      { role: 'user', content: 'And 3+3?', at: '2024-02-01 09:05:00' },
      { role: 'assistant', stage1: [], stage2: [], stage3: { model: 'error', response: 'All models failed to respond. Please try again.' }, metadata: null, at: '2024-02-01 09:05:30' }
    ]
  },
  { id: '0b7f7a52-8a39-4e5c-9d59-2a8c0e0c0002', user: 'firebase-uid-bob', title: null, starred: null, created: '2024-03-01 00:00:00', updated: null, messages: [] },
  {
    id: '0b7f7a52-8a39-4e5c-9d59-2a8c0e0c0003',
    user: 'firebase-uid-bob',
    title: 'Plain answer',
    starred: false,
    created: '2024-03-02 08:00:00',
    updated: '2024-03-02 08:01:00',
    messages: [
      { role: 'user', content: 'Hello', at: '2024-03-02 08:00:00' },
      { role: 'assistant', content: 'Hi! (written as plain content)', at: '2024-03-02 08:00:20' }
    ]
  },
  {
    id: '0b7f7a52-8a39-4e5c-9d59-2a8c0e0c0004',
    user: 'firebase-uid-bob',
    title: 'Has a system message',
    starred: false,
    created: '2024-03-03 08:00:00',
    updated: null,
    messages: [{ role: 'system', content: 'You are helpful', at: '2024-03-03 08:00:00' }]
  }
]
// The older version's ids were not always UUIDs.
const LEGACY: OldConversationRow = {
  id: 'legacy-1',
  user: 'firebase-uid-alice',
  title: 'An old id',
  starred: false,
  created: '2023-12-24 18:00:00',
  updated: null,
  messages: [
    { role: 'user', content: 'Is this still here?', at: '2023-12-24 18:00:00' },
    { role: 'assistant', stage1: [STAGE1[0]], stage2: [], stage3: { model: 'x/chair', response: 'Yes.' }, metadata: { label_to_model: { 'Response A': 'openai/gpt-5.1' } }, at: '2023-12-24 18:00:09', doubleEncoded: true }
  ]
}

function conversationsOf(variant: Variant): OldConversationRow[] {
  return variant === 'json' ? [...CONVERSATIONS, LEGACY] : CONVERSATIONS
}


/** An old database of `variant`'s DDL, filled with the rows above; dropped at teardown. */
async function oldDatabase(t: Test, variant: Variant): Promise<{ url: string; sql: Sql }> {
  const url = await createPostgresDatabase(t)
  const sql = postgres(url, { max: 1, onnotice: () => {} })
  t.teardown(() => sql.end())
  await sql.unsafe(readFileSync(join(ROOT, `test/fixtures/old-schema/${variant}.sql`), 'utf8'))
  const cast = variant === 'json' ? sql`::text::json` : sql`::text::jsonb`
  // As text first: postgres.js would send a timestamp parameter through a Date, which drops microseconds.
  const ts = (at: string | null) => (at === null ? null : variant === 'json' ? sql`${at}::text::timestamp` : sql`${`${at}+00`}::text::timestamptz`)
  for (const c of conversationsOf(variant)) {
    const tags = variant === 'jsonb' && c.user === 'firebase-uid-alice' ? ['maths'] : null
    if (variant === 'json') {
      await sql`insert into conversations values (${c.id}, ${c.user}, ${c.title}, ${c.starred}, ${ts(c.created)}, ${ts(c.updated)})`
    } else {
      await sql`insert into conversations (id, user_id, title, starred, tags, created_at, updated_at)
        values (${c.id}, ${c.user}, ${c.title ?? 'New Conversation'}, ${c.starred ?? false}, ${tags}, ${ts(c.created)}, ${ts(c.updated)})`
    }
    for (const m of c.messages) {
      // As JSON text cast in SQL: a parameter postgres.js knows to be json it would encode once more itself.
      const json = (value: unknown) => (value === undefined || value === null ? null : JSON.stringify(m.doubleEncoded ? JSON.stringify(value) : value))
      await sql`insert into messages (conversation_id, role, content, stage1_data, stage2_data, stage3_data, message_metadata, created_at)
        values (${c.id}, ${m.role}, ${m.content ?? null}, ${json(m.stage1)}${cast}, ${json(m.stage2)}${cast}, ${json(m.stage3)}${cast}, ${json(m.metadata)}${cast}, ${ts(m.at)})`
    }
  }
  if (variant === 'json') {
    await sql`insert into users values ('firebase-uid-alice', 'alice@example.com', 'Alice Ünïcode', 'https://example.com/a.png', '2023-11-01 10:00:00', '2024-03-01 10:00:00')`
    await sql`insert into users (id, email) values ('firebase-uid-bob', 'bob@example.com')`
    await sql`insert into usage (user_id, tier, daily_used, daily_limit, monthly_used, monthly_limit, total_queries, last_reset_daily, last_reset_monthly,
      razorpay_customer_id, razorpay_subscription_id, subscription_status, created_at, updated_at)
      values ('firebase-uid-alice', 'Pro', 3, 100, 40, 3000, 120, '2024-03-02', '2024-03-01', 'cust_A1', 'sub_A1', 'active', '2023-11-01 10:00:00', '2024-03-02 11:00:00'),
             ('firebase-uid-bob', 'free', 0, 10, 5, 100, 5, '2024-03-01', '2024-03-01', null, null, null, '2024-01-01 00:00:00', null)`
  } else {
    await sql`insert into usage (user_id, tier, daily_count, monthly_count, total_queries, last_daily_reset, last_monthly_reset,
      razorpay_customer_id, razorpay_subscription_id, stripe_customer_id, stripe_subscription_id, subscription_status)
      values ('firebase-uid-alice', 'pro', 3, 40, 120, '2024-03-02', '2024-03-01', 'cust_A1', 'sub_A1', null, null, 'active'),
             ('firebase-uid-bob', 'enterprise', 1, 2, 9000000000, '2024-03-01', '2024-03-01', null, null, 'cus_B1', 'sub_B1', 'past_due')`
    await sql`insert into subscriptions (user_id, payment_gateway, razorpay_subscription_id, stripe_subscription_id, plan, status, current_period_end, created_at)
      values ('firebase-uid-alice', 'Razorpay', 'sub_A1', null, 'pro', 'active', '2024-04-01 00:00:00+00', '2024-03-01 00:00:00+00'),
             ('firebase-uid-alice', 'razorpay', 'sub_A0', null, 'pro', 'cancelled', '2024-02-01 00:00:00+00', '2024-01-01 00:00:00+00')`
    await sql`insert into payment_events (payload) values ('{"event": "payment.captured"}')`
  }
  return { url, sql }
}

/** Every row of every table of the old database, to show it was only read. */
async function oldSnapshot(sql: Sql) {
  const tables = await sql<{ table_name: string }[]>`select table_name from information_schema.tables where table_schema = 'public' order by 1`
  const out: Record<string, unknown> = {}
  for (const { table_name } of tables) out[table_name] = await sql`select md5(string_agg(t::text, '|' order by t::text)) as sum, count(*)::int as n from ${sql(table_name)} t`
  return out
}

async function targetSnapshot(db: Parameters<typeof queryRows>[0]) {
  const out: Record<string, unknown> = {}
  for (const table of ['conversations', 'messages', 'usage', 'user_profiles', 'subscriptions']) {
    out[table] = await queryRows(db, drizzleSql`select * from ${drizzleSql.identifier(table)} order by 1, 2`)
  }
  return out
}

const iso = (at: string) => `${at.replace(' ', 'T')}${at.includes('.') ? '' : '.'}`.padEnd(26, '0') + 'Z'

/** What the API shows for an old conversation, field by field. */
function expected(c: OldConversationRow) {
  const messages = c.messages.map((m) =>
    m.role === 'user'
      ? { role: 'user', content: m.content, created_at: iso(m.at) }
      : m.stage3 === undefined
        ? { role: 'assistant', stage1: null, stage2: null, stage3: { model: 'unknown', response: m.content }, metadata: null, created_at: iso(m.at) }
        : { role: 'assistant', stage1: m.stage1, stage2: m.stage2, stage3: m.stage3, metadata: m.metadata, created_at: iso(m.at) })
  const latest = c.messages.at(-1)?.at
  return {
    id: c.id.includes('-') && c.id.length === 36 ? c.id : derivedUuid(c.user, c.id),
    title: c.title ?? 'New Conversation',
    starred: c.starred ?? false,
    message_count: c.messages.length,
    created_at: iso(c.created),
    updated_at: iso(c.updated ?? latest ?? c.created),
    // Imported conversations use the server's default council.
    council: null,
    run: null,
    messages
  }
}

if (!TEST_DATABASE_URL) {
  t.comment('import-db reads a PostgreSQL database: these tests need TEST_DATABASE_URL (CI sets it)')
}

for (const variant of ['json', 'jsonb'] as const) {
  t.test(`the old schema with ${variant.toUpperCase()} stage columns`, { skip: !TEST_DATABASE_URL && 'TEST_DATABASE_URL is not set' }, async (t) => {
    const old = await oldDatabase(t, variant)
    const before = await oldSnapshot(old.sql)
    await eachBackend(t, async (t, backend) => {
      const database = await openTestDatabase(t, backend)
      const repo = new TransferRepo(database.db)

      const dry = await runDbImport(old.sql, repo, { defaultUser: 'local', dryRun: true })
      t.match(dry, { dryRun: true, conversationsCreated: conversationsOf(variant).length - 1 })
      t.same((await targetSnapshot(database.db)).conversations, [], 'a dry run writes nothing')

      const first = await runDbImport(old.sql, repo, { defaultUser: 'local' })
      const good = conversationsOf(variant).filter((c) => !c.messages.some((m) => m.role === 'system'))
      t.match(first, {
        read: { conversations: conversationsOf(variant).length, messages: conversationsOf(variant).reduce((n, c) => n + c.messages.length, 0), usage: 2 },
        conversationsCreated: good.length,
        messagesAdded: good.reduce((n, c) => n + c.messages.length, 0),
        usageCreated: 2
      })
      t.same(first.failures, [{ path: 'conversation 0b7f7a52-8a39-4e5c-9d59-2a8c0e0c0004', reason: 'messages[0].role must be "user" or "assistant"' }])
      if (variant === 'json') {
        t.same(first.idMappings, [{ sourceId: 'legacy-1', id: derivedUuid('firebase-uid-alice', 'legacy-1') }])
        t.same(first.notKept, { 'users.last_login_at': 1 })
        t.match(first, { read: { users: 2, subscriptions: 0 }, profilesCreated: 2, subscriptionsCreated: 1, notRead: { tables: [], orphanMessages: 0 } })
      } else {
        t.same(first.notKept, { 'conversations.tags': 1 })
        t.match(first, { read: { users: 0, subscriptions: 2 }, profilesCreated: 0, subscriptionsCreated: 3, notRead: { tables: ['payment_events'] } })
      }

      // Every field, through the API, as each owner sees it.
      const { app } = await buildTestApp(t, database, { AUTH_MODE: 'header', USAGE_LIMITS: 'free:10/100,pro:100/3000,enterprise:unlimited' })
      for (const c of good) {
        const res = await app.inject({ url: `/api/conversations/${c.id}`, headers: { 'x-forwarded-user': c.user } })
        t.equal(res.statusCode, 200, `${c.id} opens for its owner (by its old id)`)
        t.same(res.json(), expected(c), `${c.id}: every field`)
        const other = c.user === 'firebase-uid-bob' ? 'firebase-uid-alice' : 'firebase-uid-bob'
        t.equal((await app.inject({ url: `/api/conversations/${c.id}`, headers: { 'x-forwarded-user': other } })).statusCode, 404, 'and for nobody else')
      }
      const aliceList = (await app.inject({ url: '/api/conversations', headers: { 'x-forwarded-user': 'firebase-uid-alice' } })).json()
      t.same(aliceList.map((c: { id: string }) => c.id), good.filter((c) => c.user === 'firebase-uid-alice').map((c) => expected(c).id), 'the list, latest activity first')
      const aliceUsage = (await app.inject({ url: '/api/usage', headers: { 'x-forwarded-user': 'firebase-uid-alice' } })).json()
      t.match(aliceUsage, { tier: 'pro', daily_limit: 100, monthly_limit: 3000, total_queries: 120 }, "tier and counters; limits from the tier, not the old row's")
      const bobUsage = (await app.inject({ url: '/api/usage', headers: { 'x-forwarded-user': 'firebase-uid-bob' } })).json()
      t.match(bobUsage, variant === 'json' ? { tier: 'free', total_queries: 5 } : { tier: 'enterprise', daily_limit: null, total_queries: 9000000000 })

      const profiles = await queryRows(database.db, drizzleSql`select user_id, email, display_name, avatar_url, to_char(created_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS') as created from user_profiles order by 1`)
      const subscriptions = await queryRows(database.db, drizzleSql`select user_id, provider, customer_id, subscription_id, status, plan, to_char(current_period_end at time zone 'UTC', 'YYYY-MM-DD') as ends from subscriptions order by 1, 2, 4`)
      if (variant === 'json') {
        t.same(profiles, [
          { user_id: 'firebase-uid-alice', email: 'alice@example.com', display_name: 'Alice Ünïcode', avatar_url: 'https://example.com/a.png', created: '2023-11-01 10:00:00' },
          { user_id: 'firebase-uid-bob', email: 'bob@example.com', display_name: null, avatar_url: null, created: profiles[1]?.created }
        ])
        t.same(subscriptions, [{ user_id: 'firebase-uid-alice', provider: 'razorpay', customer_id: 'cust_A1', subscription_id: 'sub_A1', status: 'active', plan: 'pro', ends: null }])
        const [usage] = await queryRows(database.db, drizzleSql`select to_char(created_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI') as created from usage where user_id = 'firebase-uid-alice'`)
        t.same(usage, { created: '2023-11-01 10:00' }, "the usage row's own times are kept")
      } else {
        t.same(profiles, [])
        t.same(subscriptions, [
          { user_id: 'firebase-uid-alice', provider: 'razorpay', customer_id: null, subscription_id: 'sub_A0', status: 'cancelled', plan: 'pro', ends: '2024-02-01' },
          { user_id: 'firebase-uid-alice', provider: 'razorpay', customer_id: 'cust_A1', subscription_id: 'sub_A1', status: 'active', plan: 'pro', ends: null },
          { user_id: 'firebase-uid-bob', provider: 'stripe', customer_id: 'cus_B1', subscription_id: 'sub_B1', status: 'past_due', plan: 'enterprise', ends: null }
        ], "the usage rows' ids and the subscriptions table's, each subscription once")
      }

      const afterFirst = await targetSnapshot(database.db)
      const second = await runDbImport(old.sql, repo, { defaultUser: 'local' })
      t.match(second, { conversationsCreated: 0, conversationsUpdated: 0, conversationsUnchanged: good.length, messagesAdded: 0, usageCreated: 0, usageKept: 2, profilesCreated: 0, subscriptionsCreated: 0 })
      t.same(await targetSnapshot(database.db), afterFirst, 'the second run changes nothing')
    })
    t.same(await oldSnapshot(old.sql), before, 'the old database is unchanged')
  })
}

t.test('a role that may only read is enough; the command: summary, exit codes, refusals', { skip: !TEST_DATABASE_URL && 'TEST_DATABASE_URL is not set' }, async (t) => {
  const old = await oldDatabase(t, 'json')
  const role = `llmc_reader_${process.pid}`
  await old.sql.unsafe(`create role ${role} login`)
  // Teardowns run last first: the role's grants go (in its database) before the role, before the database.
  t.teardown(async () => {
    await old.sql.unsafe(`drop owned by ${role}`)
    await old.sql.unsafe(`drop role ${role}`)
  })
  await old.sql.unsafe(`grant select on all tables in schema public to ${role}`)
  const readOnly = new URL(old.url)
  readOnly.username = role

  const dir = mkdtempSync(join(tmpdir(), 'llmc-import-db-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const env = { PGLITE_DIR: join(dir, 'pglite') }
  const run = await runScript('src/cli/import-db.ts', env, ['--from', readOnly.toString()]).done
  t.equal(run.code, 1, 'one conversation could not be imported: 1')
  t.match(run.stderr, /^import-db: from PostgreSQL 127\.0\.0\.1:5432\/llmc_test_\S+ into PGlite in /)
  t.match(run.stdout, /^read from PostgreSQL [^\n]*: 5 conversations, 9 messages, 2 usage rows, 2 users, 0 subscriptions\nconversations: 4 created, 0 updated, 0 unchanged\nmessages: 8 added\nusage: 2 users added, 0 kept \(they already had a row\)\nprofiles: 2 added, 0 kept\nsubscriptions: 1 added, 0 kept\n/)
  t.match(run.stdout, /not kept: users\.last_login_at in 1 row\n/)
  t.match(run.stdout, /legacy-1 -> [0-9a-f-]{36}\n/)
  t.match(run.stdout, /rows that could not be imported \(1\):\n {2}conversation 0b7f7a52-8a39-4e5c-9d59-2a8c0e0c0004: messages\[0\]\.role must be "user" or "assistant"\n/)
  t.match(run.stderr, /progress: 5\/5 conversations/)

  const again = await runScript('src/cli/import-db.ts', env, ['--from', readOnly.toString(), '--dry-run']).done
  t.match(again.stdout, /^dry run: nothing was written\. read from [^\n]*\nconversations: 0 would be created, 0 would be updated, 4 unchanged\n/)

  const ours = await openTestDatabase(t, 'postgres')
  const cases: [string, string[], RegExp][] = [
    ['no --from', [], /name the old database with --from <postgres url>\nusage: npm run import-db/],
    ['not a postgres URL', ['--from', 'mysql://x/y'], /--from must be a postgres:\/\/ or postgresql:\/\/ URL/],
    ['unreachable', ['--from', 'postgres://u:sekrit@127.0.0.1:1/old'], /cannot open the old database \(--from, PostgreSQL 127\.0\.0\.1:1\/old\): ECONNREFUSED/],
    ['an empty database', ['--from', await createPostgresDatabase(t)], /is not the old llm-council PostgreSQL schema: no table "conversations", no table "messages" \(schema "public" has no tables; --schema picks another\)/],
    ["this server's own database", ['--from', ours.url!], /is an LLM Council server database already/],
    ['another schema', ['--from', old.url, '--schema', 'nothing'], /schema "nothing" has no tables/]
  ]
  for (const [name, args, message] of cases) {
    const refused = await runScript('src/cli/import-db.ts', { PGLITE_DIR: join(dir, 'never') }, args).done
    t.equal(refused.code, 2, `${name}: 2`)
    t.match(refused.stderr, message, name)
    t.notMatch(refused.stderr, 'sekrit')
  }
  const help = await runScript('src/cli/import-db.ts', env, ['--help']).done
  t.equal(help.code, 0)
  t.match(help.stdout, /--schema <name>/)
})
