import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import t from 'tap'
import { sql } from 'drizzle-orm'
import { runExport } from '../../src/cli/export/exporter.ts'
import { runImport } from '../../src/cli/import/importer.ts'
import type { Db } from '../../src/db/types.ts'
import { derivedUuid } from '../../src/domain.ts'
import { TransferRepo } from '../../src/repos/transfer.ts'
import { buildTestApp } from '../helpers/app.ts'
import { eachBackend, openTestDatabase, queryRows } from '../helpers/db.ts'
import { runScript } from '../helpers/process.ts'

// What the original backend's older versions and its forks wrote, beside what this server reads as is.
const FORK_FILES: Record<string, unknown> = {
  'conversations/plain-answer.json': {
    id: 'plain-answer',
    created_at: '2024-03-01T10:00:00',
    title: 'Plain answers',
    tags: ['physics'],
    messages: [
      { role: 'user', content: 'Why is the sky blue?', timestamp: '2024-03-01T10:00:05' },
      { role: 'assistant', content: 'Rayleigh scattering: shorter wavelengths scatter more.', model: 'openai/gpt-4o', timestamp: '2024-03-01T10:00:40.123456' },
      { role: 'user', content: 'And sunsets?', created_at: '2024-03-02T08:00:00Z' },
      { role: 'assistant', content: 'The light crosses more air, so the blue is scattered away.' }
    ]
  },
  'conversations/6f0c4a38-95d4-4a4e-9a55-0d4a4c1f1f01.json': {
    id: '6f0c4a38-95d4-4a4e-9a55-0d4a4c1f1f01',
    created_at: '2024-04-01T09:00:00',
    updated_at: '2024-04-03T12:30:00',
    title: 'With extras',
    tags: ['misc'],
    council_models: ['a/one', 'b/two'],
    messages: [
      { id: 'm1', role: 'user', content: 'Hello', created_at: '2024-04-01T09:00:01' },
      {
        id: 'm2',
        role: 'assistant',
        stage1: [{ model: 'a/one', response: 'Hi', tokens: 3 }],
        stage2: [],
        stage3: { model: 'c/chair', response: 'Hello there' },
        created_at: '2024-04-01T09:00:30',
        rating: 5
      },
      { role: 'user', kind: 'follow_up', content: 'We have three engineers.', created_at: '2024-04-01T09:01:00' }
    ]
  },
  'conversations/no-times.json': {
    id: 'no-times',
    created_at: '2024-05-01T00:00:00',
    title: null,
    messages: [{ role: 'user', content: 'only a question' }]
  },
  'usage/someone.json': { user_id: 'someone', tier: 'pro', daily_used: 1, monthly_used: 2, total_queries: 3, stripe_customer_id: 'cus_123' }
}

function writeTree(root: string, files: Record<string, unknown>): void {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true })
    writeFileSync(join(root, path), JSON.stringify(content, null, 2))
  }
}

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'llmc-variants-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

await eachBackend(t, async (t, backend) => {
  t.test("forks' files: plain answers, message times, activity time, old ids; what has no place is listed", async (t) => {
    const dir = tmp(t)
    writeTree(join(dir, 'data'), FORK_FILES)
    const database = await openTestDatabase(t, backend)
    const repo = new TransferRepo(database.db)

    const summary = await runImport(repo, { paths: ['data'], baseDir: dir, defaultUser: 'me' })
    t.same(summary.failures, [])
    t.match(summary, { conversationsCreated: 3, messagesAdded: 8, usageCreated: 1 })
    t.same(summary.notKept, { tags: 2, council_models: 1, 'messages[].id': 1, 'messages[].rating': 1, stripe_customer_id: 1 },
      'each field with no place, counted by the files that held it')
    t.same(summary.idMappings.map((m) => m.path), ['data/conversations/no-times.json', 'data/conversations/plain-answer.json'], 'paths as written')

    const { app } = await buildTestApp(t, database, { AUTH_MODE: 'header' })
    const me = { 'x-forwarded-user': 'me' }
    const plain = await app.inject({ url: '/api/conversations/plain-answer', headers: me })
    t.equal(plain.statusCode, 200, 'the old id opens the conversation')
    const body = plain.json()
    t.equal(body.id, derivedUuid('me', 'plain-answer'))
    t.match(body.messages, [
      { role: 'user', content: 'Why is the sky blue?', created_at: '2024-03-01T10:00:05.000000Z' },
      { role: 'assistant', stage1: null, stage2: null, stage3: { model: 'openai/gpt-4o', response: 'Rayleigh scattering: shorter wavelengths scatter more.' }, created_at: '2024-03-01T10:00:40.123456Z' },
      { role: 'user', content: 'And sunsets?', created_at: '2024-03-02T08:00:00.000000Z' },
      { role: 'assistant', stage3: { model: 'unknown', response: 'The light crosses more air, so the blue is scattered away.' }, created_at: '2024-03-01T10:00:00.000000Z' }
    ], 'a plain answer is the final answer; each message at its own time, else the conversation\'s')
    t.equal(body.updated_at, '2024-03-02T08:00:00.000000Z', 'without updated_at, the latest message time is the activity time')

    const extras = (await app.inject({ url: '/api/conversations/6f0c4a38-95d4-4a4e-9a55-0d4a4c1f1f01', headers: me })).json()
    t.equal(extras.updated_at, '2024-04-03T12:30:00.000000Z', 'updated_at is the activity time')
    t.same(extras.messages[1].stage1, [{ model: 'a/one', response: 'Hi', tokens: 3 }], 'fields inside stages are stored as written')
    t.same(extras.messages[2], { role: 'user', kind: 'follow_up', content: 'We have three engineers.', created_at: '2024-04-01T09:01:00.000000Z' }, 'a follow-up stays one')
    const noTimes = (await app.inject({ url: '/api/conversations/no-times', headers: me })).json()
    t.equal(noTimes.updated_at, noTimes.created_at)
    t.equal(noTimes.messages[0].created_at, noTimes.created_at)

    const list = (await app.inject({ url: '/api/conversations', headers: me })).json()
    t.same(list.map((c: { title: string }) => c.title), ['New Conversation', 'With extras', 'Plain answers'], 'ordered by the kept activity times (May, April 3, March 2)')
    t.equal((await app.inject({ url: '/api/conversations/plain-answer', headers: { 'x-forwarded-user': 'other' } })).statusCode, 404,
      "another user's old id is not this user's conversation")
    t.equal((await app.inject({ url: '/api/conversations/never-imported', headers: me })).statusCode, 404)
    const renamed = await app.inject({ method: 'PATCH', url: '/api/conversations/plain-answer/title', headers: me, payload: { title: 'Renamed' } })
    t.equal(renamed.json().title, 'Renamed', 'every route takes the old id')

    const again = await runImport(repo, { paths: ['data'], baseDir: dir, defaultUser: 'me' })
    t.match(again, { conversationsCreated: 0, conversationsUnchanged: 3, messagesAdded: 0, usageKept: 1 })

    // Exported and imported elsewhere, the kept times come along.
    await runExport(repo, { dir: join(dir, 'export') })
    const elsewhere = await openTestDatabase(t, backend)
    await runImport(new TransferRepo(elsewhere.db), { paths: [join(dir, 'export')], defaultUser: 'me' })
    const times = (db: Db) => queryRows(db, sql`select c.updated_at, m.position, m.kind, m.created_at from conversations c join messages m on m.conversation_id = c.id order by c.id, m.position`)
    t.same(await times(elsewhere.db), await times(database.db), 'message and activity times, and follow-ups, survive an export')
  })
})

t.test('summary paths as the user wrote them, relative to where the command was run', async (t) => {
  const dir = tmp(t)
  writeTree(join(dir, 'elsewhere'), {
    'data/conversations/broken.json': { id: 'x' },
    'data/conversations/legacy-7.json': { id: 'legacy-7', messages: [] },
    'single/legacy-8.json': { id: 'legacy-8', messages: [] }
  })
  mkdirSync(join(dir, 'here'))
  const env = { PGLITE_DIR: join(dir, 'pglite'), INIT_CWD: join(dir, 'here') }
  const absolute = join(dir, 'elsewhere', 'single', 'legacy-8.json')
  const run = await runScript('src/cli/import-json.ts', env, ['../elsewhere/data', absolute]).done
  t.equal(run.code, 1, run.stderr)
  t.match(run.stdout, /\n {2}\.\.\/elsewhere\/data\/conversations\/broken\.json: "messages" is missing/)
  t.match(run.stdout, /legacy-7 -> [0-9a-f-]{36} \(\.\.\/elsewhere\/data\/conversations\/legacy-7\.json\)/, 'a relative path from where the command ran')
  t.ok(run.stdout.includes(`(${absolute})`), 'an absolute path stays absolute')
  t.match(run.stdout, /conversations: 2 created/)
})

t.test('the summary names each field that was not kept', async (t) => {
  const dir = tmp(t)
  writeTree(dir, FORK_FILES)
  const run = await runScript('src/cli/import-json.ts', { PGLITE_DIR: join(dir, 'pglite'), INIT_CWD: dir }, ['conversations', 'usage']).done
  t.equal(run.code, 0, run.stderr)
  t.match(run.stdout, /not kept: council_models in 1 file\nnot kept: messages\[\]\.id in 1 file\nnot kept: messages\[\]\.rating in 1 file\nnot kept: stripe_customer_id in 1 file\nnot kept: tags in 2 files\n/)
})
