import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { parseRecord } from '../../src/cli/import/parse.ts'
import { TransferRepo, type ImportConversation } from '../../src/repos/transfer.ts'
import { fileName } from '../../src/routes/exports.ts'
import { buildTestApp } from '../helpers/app.ts'
import { eachBackend, openTestDatabase } from '../helpers/db.ts'

const ALICE = { 'x-forwarded-user': 'alice' }
const BOB = { 'x-forwarded-user': 'bob' }
const FIXTURES = join(import.meta.dirname, '../fixtures/export')
// UPDATE_GOLDEN=1 writes the golden file from what the server answers (then read the diff).
const UPDATE = process.env.UPDATE_GOLDEN === '1'

await eachBackend(t, async (t, backend) => {
  const database = await openTestDatabase(t, backend)
  const { app } = await buildTestApp(t, database, { AUTH_MODE: 'header' })
  const source = await readFile(join(FIXTURES, 'conversation.json'), 'utf8')
  const record = parseRecord(JSON.parse(source), 'alice') as ImportConversation
  await new TransferRepo(database.db).createConversation(record)
  const url = `/api/conversations/${record.id}/export`

  t.test('Markdown: the golden file, as a download named after the title', async (t) => {
    const res = await app.inject({ url: `${url}?format=md`, headers: ALICE })
    t.equal(res.statusCode, 200)
    t.equal(res.headers['content-type'], 'text/markdown; charset=utf-8')
    t.equal(res.headers['content-disposition'], 'attachment; filename="Which database for a small team.md"')
    const golden = join(FIXTURES, 'conversation.md')
    if (UPDATE) await writeFile(golden, res.body)
    t.equal(res.body, await readFile(golden, 'utf8'), 'the same as test/fixtures/export/conversation.md')
    t.equal((await app.inject({ url, headers: ALICE })).body, res.body, 'Markdown is the default')
  })

  t.test("JSON: llm-council's file, which import reads back to the same conversation", async (t) => {
    const res = await app.inject({ url: `${url}?format=json`, headers: ALICE })
    t.equal(res.statusCode, 200)
    t.match(res.headers['content-disposition'], /^attachment; filename="Which database for a small team\.json"$/)
    const file = res.json()
    t.match(file, { id: record.id, user_id: 'alice', title: record.title, created_at: '2026-03-01T09:30:00', starred: false })
    const again = parseRecord(file, 'someone-else') as ImportConversation
    t.same(again.messages.map(({ createdAt: _, ...m }) => m), record.messages.map(({ createdAt: _, ...m }) => m))
    t.equal(again.userId, 'alice')
  })

  t.test("another user's conversation, an unknown one, or an unknown format", async (t) => {
    t.equal((await app.inject({ url, headers: BOB })).statusCode, 404)
    t.equal((await app.inject({ url: '/api/conversations/00000000-0000-4000-8000-000000000000/export', headers: ALICE })).statusCode, 404)
    t.equal((await app.inject({ url: `${url}?format=pdf`, headers: ALICE })).statusCode, 400)
    t.equal((await app.inject({ url })).statusCode, 401)
  })
})

t.test('file names from titles', async (t) => {
  t.equal(fileName('Trip to “Zürich”', 'md'), 'Trip to “Zürich”.md')
  t.equal(fileName('a/b\\c:d*e?f"g<h>i|j', 'md'), 'a b c d e f g h i j.md')
  t.equal(fileName('  ..hidden ', 'json'), 'hidden.json')
  t.equal(fileName('\u0000\n', 'md'), 'conversation.md')
  t.equal([...fileName('𝔘'.repeat(300), 'md')].length, 103, 'at most 100 characters (code points) before the extension')
})
