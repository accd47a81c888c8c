import t from 'tap'
import { buildTestApp } from '../helpers/app.ts'
import { eachBackend, openTestDatabase } from '../helpers/db.ts'
import { storeConversation } from '../helpers/search.ts'

const ALICE = { 'x-forwarded-user': 'alice' }
const BOB = { 'x-forwarded-user': 'bob' }

await eachBackend(t, async (t, backend) => {
  const database = await openTestDatabase(t, backend)
  const { app } = await buildTestApp(t, database, { AUTH_MODE: 'header' })
  const search = (q: string, headers: Record<string, string> = ALICE, extra = '') =>
    app.inject({ url: `/api/search?q=${encodeURIComponent(q)}${extra}`, headers })

  const ids: string[] = []
  for (let i = 0; i < 5; i++) {
    ids.push(await storeConversation(database.db, 'alice', `Compost notes ${i}`, [{ question: `How hot does compost get? (${i})`, answer: 'About 60 °C in the middle.' }], new Date(Date.now() - (10 - i) * 60_000).toISOString()))
  }
  const bobs = await storeConversation(database.db, 'bob', 'Compost for bob', [{ question: 'compost?', answer: 'yes' }])

  t.test('results with a snippet, best first, a page at a time', async (t) => {
    const res = await search('compost', ALICE, '&limit=2')
    t.equal(res.statusCode, 200)
    const page = res.json()
    t.same(page.map((r: { id: string }) => r.id), [ids[4], ids[3]])
    t.match(page[0], { match: 'title', position: null, snippet: [{ text: 'Compost', mark: true }, { text: ' notes 4' }] })
    const cursor = res.headers['x-next-cursor'] as string
    t.ok(cursor)
    const rest = []
    let next: string | undefined = cursor
    while (next) {
      const more = await search('compost', ALICE, `&limit=2&before=${encodeURIComponent(next)}`)
      rest.push(...more.json().map((r: { id: string }) => r.id))
      next = more.headers['x-next-cursor'] as string | undefined
    }
    t.same(rest, [ids[2], ids[1], ids[0]])
  })

  t.test("nobody finds another user's conversations", async (t) => {
    t.notOk((await search('compost')).json().some((r: { id: string }) => r.id === bobs))
    t.same((await search('compost', BOB)).json().map((r: { id: string }) => r.id), [bobs])
    t.equal((await search('compost', {})).statusCode, 401)
  })

  t.test('bad queries are refused with 400', async (t) => {
    const bad: Array<[string, string]> = [
      ['compost\u0000', 'NUL'],
      ['a\u0001b', 'a control character'],
      ['x'.repeat(501), 'over 500 characters'],
      ['   ', 'blank'],
      ['', 'empty']
    ]
    for (const [q, why] of bad) {
      const res = await search(q, ALICE)
      t.equal(res.statusCode, 400, why)
      t.match(res.json(), { statusCode: 400, message: /q/ }, why)
    }
    t.equal((await app.inject({ url: '/api/search', headers: ALICE })).statusCode, 400, 'no q')
    t.equal((await search('compost', ALICE, '&before=nonsense')).statusCode, 400, 'a cursor this server did not write')
    t.equal((await search('compost', ALICE, '&limit=51')).statusCode, 400, 'limit at most 50')
    t.equal((await search('compost', ALICE, '&limit=0')).statusCode, 400)
  })

  t.test('any web-search syntax is answered, never an error', async (t) => {
    for (const q of ['"unclosed', '-', 'or or or', '((compost', 'compost & | ! :*', "'quote'", '\\', 'ü'.repeat(500), '"" - or "']) {
      t.equal((await search(q)).statusCode, 200, q.slice(0, 20))
    }
  })
})
