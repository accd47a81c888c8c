import { createHash } from 'node:crypto'
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { sql } from 'drizzle-orm'
import t from 'tap'
import { runExport } from '../../src/cli/export/exporter.ts'
import { runImport } from '../../src/cli/import/importer.ts'
import { derivedUuid } from '../../src/domain.ts'
import { queryRows } from '../helpers/db.ts'
import type { Db } from '../../src/db/types.ts'
import { TransferRepo } from '../../src/repos/transfer.ts'
import { ROOT } from '../helpers/process.ts'
import { BACKENDS, eachBackend, openTestDatabase } from '../helpers/db.ts'
import { generateDataDir } from '../helpers/generate.ts'

const SAMPLES = join(ROOT, 'test/fixtures/llm-council-data')
const BAD = ['conversations/3fb02620-447b-4277-ba12-a494b6ee647d.json', 'conversations/no-id-1.json']

function tmp(t: { teardown(fn: () => void): void }, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((p) => statSync(join(dir, p)).isFile()).sort()
}

function hashTree(dir: string): Record<string, string> {
  return Object.fromEntries(filesUnder(dir).map((p) => [p, createHash('sha256').update(readFileSync(join(dir, p))).digest('hex')]))
}

async function snapshot(db: Db) {
  return {
    conversations: await queryRows(db, sql`select * from conversations order by id`),
    messages: await queryRows(db, sql`select * from messages order by conversation_id, position`),
    usage: await queryRows(db, sql`select * from usage order by user_id`)
  }
}

await eachBackend(t, async (t, backend) => {
  t.test('the sample data dir: every good file in, exactly the bad ones reported; a second run changes nothing', async (t) => {
    const database = await openTestDatabase(t, backend)
    const repo = new TransferRepo(database.db)
    const before = hashTree(SAMPLES)
    const cwd = process.cwd()
    process.chdir(SAMPLES)
    t.teardown(() => process.chdir(cwd))

    const first = await runImport(repo, { paths: ['.'], defaultUser: 'me' })
    t.same(first.failures.map((f) => f.path).sort(), BAD)
    t.match(first.failures.find((f) => f.path.includes('no-id'))!.reason, /no "id"/)
    t.match(first.failures.find((f) => f.path.includes('3fb02620'))!.reason, /invalid JSON/)
    t.match(first, { files: 21, conversationsCreated: 17, conversationsUpdated: 0, usageCreated: 2, replacedCharacters: 1 })
    t.same(first.idMappings, [{ path: 'conversations/legacy-1.json', sourceId: 'legacy-1', id: derivedUuid('me', 'legacy-1') }])

    const db = database.db
    const owners = await queryRows<{ user_id: string; n: number }>(db, sql`select user_id, count(*)::int as n from conversations group by 1 order by 1`)
    t.same(owners.map((o) => [o.user_id, Number(o.n)]), [['firebase-uid-alice', 2], ['firebase-uid-bob', 2], ['me', 13]])
    const nul = await queryRows<{ content: string }>(db, sql`select content from messages where content like ${'%\uFFFD%'}`)
    t.equal(nul.length, 1, 'the NUL became U+FFFD')
    const usage = await queryRows<Record<string, unknown>>(db, sql`select user_id, tier, daily_used, monthly_used, total_queries, daily_limit from usage order by 1`)
    t.same(usage.map((u) => [u.user_id, u.tier, u.daily_used, u.monthly_used, Number(u.total_queries), u.daily_limit]), [
      ['firebase-uid-alice', 'free', 4, 37, 137, null],
      ['firebase-uid-bob', 'pro', 12, 250, 350, null]
    ], 'both usage shapes; limits come from the tier, not the file')
    const [empty] = await queryRows<{ message_count: number; updated_at: string; created_at: string }>(
      db, sql`select message_count, updated_at = created_at as same, created_at from conversations where id = '9386e761-5c36-4cf5-a625-9c583c874d99'`)
    t.match(empty, { message_count: 0, same: true }, 'an empty conversation, updated_at = created_at')

    const afterFirst = await snapshot(db)
    const second = await runImport(repo, { paths: ['.'], defaultUser: 'me' })
    t.match(second, { conversationsCreated: 0, conversationsUpdated: 0, conversationsUnchanged: 17, messagesAdded: 0, usageCreated: 0, usageKept: 2 })
    t.same(await snapshot(db), afterFirst, 'row counts and contents identical')
    t.same(hashTree(SAMPLES), before, 'the source dir is byte-for-byte unchanged')
  })

  t.test('a file that gained messages adds exactly those; app changes are kept', async (t) => {
    const database = await openTestDatabase(t, backend)
    const repo = new TransferRepo(database.db)
    const dir = tmp(t, 'llmc-grow-')
    const name = '5d230000-9576-4234-a4d5-19b2bb826f4d.json'
    cpSync(join(SAMPLES, 'conversations', name), join(dir, name))
    await runImport(repo, { paths: [dir], defaultUser: 'me' })
    await database.db.execute(sql`update conversations set title = 'Renamed in the app', starred = true where id = '5d230000-9576-4234-a4d5-19b2bb826f4d'`)

    const file = JSON.parse(readFileSync(join(dir, name), 'utf8'))
    file.messages.push({ role: 'user', content: 'one more?' }, { role: 'assistant', stage1: [], stage2: [], stage3: { model: 'x', response: 'y' } })
    file.title = 'Changed in the file'
    writeFileSync(join(dir, name), JSON.stringify(file))
    const result = await runImport(repo, { paths: [dir], defaultUser: 'me' })
    t.match(result, { conversationsUpdated: 1, messagesAdded: 2 })
    const [row] = await queryRows<Record<string, unknown>>(database.db, sql`select title, starred, message_count from conversations where id = '5d230000-9576-4234-a4d5-19b2bb826f4d'`)
    t.same(row, { title: 'Renamed in the app', starred: true, message_count: 6 })
    const positions = await queryRows<{ position: number; role: string }>(database.db, sql`select position, role from messages where conversation_id = '5d230000-9576-4234-a4d5-19b2bb826f4d' order by position`)
    t.same(positions.map((p) => p.position), [0, 1, 2, 3, 4, 5])
    t.equal(positions[4]!.role, 'user')

    const other = join(dir, 'owned-by-someone-else.json')
    writeFileSync(other, JSON.stringify({ ...file, user_id: 'mallory' }))
    const stolen = await runImport(repo, { paths: [other], defaultUser: 'me' })
    t.match(stolen.failures, [{ reason: /already belongs to another user/ }], "a file cannot add to another user's conversation")
  })

  t.test('--dry-run writes nothing; --backup copies every source file', async (t) => {
    const database = await openTestDatabase(t, backend)
    const repo = new TransferRepo(database.db)
    const dry = await runImport(repo, { paths: [SAMPLES], defaultUser: 'me', dryRun: true })
    t.match(dry, { dryRun: true, conversationsCreated: 17, messagesAdded: 72, usageCreated: 2 })
    t.same(await snapshot(database.db), { conversations: [], messages: [], usage: [] })

    const backupDir = tmp(t, 'llmc-backup-')
    await runImport(repo, { paths: [SAMPLES], defaultUser: 'me', backupDir })
    t.same(hashTree(join(backupDir, 'llm-council-data')), hashTree(SAMPLES), 'a byte-for-byte copy of every file')
    await t.rejects(runImport(repo, { paths: [SAMPLES], defaultUser: 'me', backupDir: join(SAMPLES, 'backup') }), /inside/)
    t.throws(() => statSync(join(SAMPLES, 'backup')), 'a refused --backup creates nothing in the data')
  })

  t.test('import then export gives the same conversations', async (t) => {
    const database = await openTestDatabase(t, backend)
    const repo = new TransferRepo(database.db)
    await runImport(repo, { paths: [SAMPLES], defaultUser: 'me' })
    const out = tmp(t, 'llmc-export-')
    const exported = await runExport(repo, { dir: out, pageSize: 5 })
    t.match(exported, { conversations: 17, messages: 72, usage: 2 })

    const sources = filesUnder(join(SAMPLES, 'conversations'))
      .filter((p) => !BAD.includes(`conversations/${p}`))
      .map((p) => JSON.parse(readFileSync(join(SAMPLES, 'conversations', p), 'utf8').replace(/\\u0000/g, '\\ufffd')))
    for (const source of sources) {
      const owner = source.user_id ?? 'me'
      const id = /^[0-9a-f-]{36}$/.test(source.id) ? source.id : derivedUuid('me', source.id)
      const copy = JSON.parse(readFileSync(join(out, 'conversations', owner, `${id}.json`), 'utf8'))
      // Plus each one's times: the file's messages had none, so they are the conversation's.
      const messages = source.messages.map((m: object) => ({ ...m, created_at: source.created_at }))
      t.same(copy, { ...source, id, user_id: owner, starred: source.starred ?? false, updated_at: source.created_at, messages }, `${source.id} round-trips`)
    }
    const usage = JSON.parse(readFileSync(join(out, 'usage', 'firebase-uid-bob.json'), 'utf8'))
    t.match(usage, { user_id: 'firebase-uid-bob', tier: 'pro', daily_used: 12, monthly_used: 250, total_queries: 350, last_reset_daily: '2025-06-01' })

    const flat = tmp(t, 'llmc-export-user-')
    const alice = await runExport(repo, { dir: flat, userId: 'firebase-uid-alice' })
    t.match(alice, { conversations: 2, usage: 1 })
    t.same(filesUnder(flat), ['conversations/2bd27596-6e49-4eba-9d94-6322dc58cf8c.json', 'conversations/6da1d17a-fb99-4f6e-b806-6765c46c1358.json', 'usage/firebase-uid-alice.json'])

    // The export imports again into a fresh database as the same data.
    const again = await openTestDatabase(t, backend)
    const reimport = await runImport(new TransferRepo(again.db), { paths: [out], defaultUser: 'me' })
    t.match(reimport, { failures: [], conversationsCreated: 17, messagesAdded: 72 })
    const strip = (rows: Record<string, unknown>[]) => rows.map(({ id: _, ...rest }) => rest)
    t.same(strip(await queryRows(again.db, sql`select * from messages order by conversation_id, position`)), strip(await queryRows(database.db, sql`select * from messages order by conversation_id, position`)))
    t.same(await queryRows(again.db, sql`select * from conversations order by id`), await queryRows(database.db, sql`select * from conversations order by id`),
      'conversations too, their activity times included')
  })

  t.test('a generated dir of 5,000 conversations', async (t) => {
    const database = await openTestDatabase(t, backend)
    const dir = tmp(t, 'llmc-5000-')
    const messages = generateDataDir(dir, 5000, { size: 500 })
    const summary = await runImport(new TransferRepo(database.db), { paths: [dir], defaultUser: 'bulk' })
    t.match(summary, { files: 5000, conversationsCreated: 5000, messagesAdded: messages, failures: [] })
    const [count] = await queryRows<{ c: number; m: number }>(database.db, sql`select (select count(*) from conversations)::int as c, (select count(*) from messages)::int as m`)
    t.same([Number(count!.c), Number(count!.m)], [5000, messages])
  })
})

t.test('owners: flat files take --user, per-user folders their folder, files their user_id', async (t) => {
  const database = await openTestDatabase(t, 'pglite')
  const dir = tmp(t, 'llmc-owners-')
  cpSync(join(SAMPLES, 'conversations/7c797f93-e9a4-477c-a0ae-481b4729bee3.json'), join(dir, 'flat.json'))
  const nested = join(dir, 'conversations', 'carol')
  cpSync(join(SAMPLES, 'conversations/cd613e30-d8f1-4adf-91b7-584a2265b1f5.json'), join(nested, 'x.json'), { recursive: true })
  const summary = await runImport(new TransferRepo(database.db), { paths: [dir], defaultUser: 'dave' })
  t.equal(summary.conversationsCreated, 2)
  const owners = await queryRows<{ id: string; user_id: string }>(database.db, sql`select id, user_id from conversations order by user_id`)
  t.same(owners.map((o) => o.user_id), ['carol', 'dave'])
  t.equal(relative(dir, join(nested, 'x.json')), 'conversations/carol/x.json')
})

t.test('duplicates in a batch find their twin; a half surrogate pair (which JSONB refuses) is stored as U+FFFD', async (t) => {
  for (const backend of BACKENDS.filter((b) => b !== 'pgbouncer')) {
    const database = await openTestDatabase(t, backend)
    const dir = tmp(t, 'llmc-fallback-')
    generateDataDir(dir, 30, { size: 300 })
    const answer = { role: 'assistant', stage1: [{ model: 'm', response: 'lone \ud800 surrogate' }], stage2: [], stage3: { model: 'm', response: 'x' } }
    const halfPair = { id: '11111111-1111-4111-8111-111111111111', created_at: '2025-01-01T00:00:00', title: 'half', messages: [answer] }
    writeFileSync(join(dir, 'conversations', 'half-pair.json'), JSON.stringify(halfPair))
    const original = JSON.parse(readFileSync(join(dir, 'conversations', readdirSync(join(dir, 'conversations'))[0]!), 'utf8'))
    writeFileSync(join(dir, 'conversations', 'copy-of-first.json'), JSON.stringify(original))
    const summary = await runImport(new TransferRepo(database.db), { paths: [dir], defaultUser: 'me' })
    t.same(summary.failures, [], backend)
    t.equal(summary.replacedCharacters, 1)
    t.equal(summary.conversationsCreated, 31, 'every conversation went in')
    t.equal(summary.conversationsUnchanged, 1, 'the duplicate found its twin')
    const [stored] = await queryRows<{ stage1: { response: string }[] }>(database.db, sql`select stage1 from messages where conversation_id = ${halfPair.id}`)
    t.equal(stored!.stage1[0]!.response, 'lone \ufffd surrogate')
  }
})

t.test('a database slower than the disk: one batch in flight at a time, so memory stays flat', async (t) => {
  const database = await openTestDatabase(t, 'pglite')
  const dir = tmp(t, 'llmc-slow-db-')
  generateDataDir(dir, 200, { size: 300 })
  const repo = new TransferRepo(database.db)
  let inFlight = 0
  let most = 0
  const create = repo.createConversations.bind(repo)
  repo.createConversations = async (batch) => {
    most = Math.max(most, ++inFlight)
    await new Promise((resolve) => setTimeout(resolve, 20))
    try {
      return await create(batch)
    } finally {
      inFlight--
    }
  }
  const summary = await runImport(repo, { paths: [dir], defaultUser: 'me', concurrency: 8 })
  t.equal(summary.conversationsCreated, 200)
  t.equal(most, 1, 'batches never overlap, however many workers read files')
})
