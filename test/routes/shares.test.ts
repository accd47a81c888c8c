import t from 'tap'
import { buildTestApp } from '../helpers/app.ts'
import { eachBackend, openTestDatabase } from '../helpers/db.ts'
import { storeConversation } from '../helpers/search.ts'

const ALICE = { 'x-forwarded-user': 'alice' }
const BOB = { 'x-forwarded-user': 'bob' }

await eachBackend(t, async (t, backend) => {
  const database = await openTestDatabase(t, backend)
  const { app } = await buildTestApp(t, database, { AUTH_MODE: 'header' })
  const first = await storeConversation(database.db, 'alice', 'Shared garden plans', [{ question: 'Where do beans go?', answer: 'Along the fence.' }])
  const second = await storeConversation(database.db, 'alice', 'Private diary', [{ question: 'A secret question', answer: 'A secret answer' }])

  const share = async (id: string, headers = ALICE) => app.inject({ method: 'POST', url: `/api/conversations/${id}/shares`, headers, remoteAddress: '127.0.0.1' })
  const tokenOf = (url: string) => url.split('/s/')[1]!

  t.test('a link shows the conversation as it was when shared, to anyone, read-only', async (t) => {
    const res = await share(first)
    t.equal(res.statusCode, 201)
    const link = res.json()
    t.match(link, { id: /^[0-9a-f-]{36}$/, url: /^http:\/\/localhost(:\d+)?\/s\/[A-Za-z0-9_-]{43}$/, visibility: 'anyone with the link' })
    const token = tokenOf(link.url)

    const shared = await app.inject({ url: `/api/shared/${token}` })
    t.equal(shared.statusCode, 200, 'no credentials needed')
    t.equal(shared.headers['x-robots-tag'], 'noindex, nofollow')
    t.match(shared.json(), { title: 'Shared garden plans', messages: [{ role: 'user', content: 'Where do beans go?' }, { role: 'assistant', stage3: { response: 'Along the fence.' } }] })
    t.notOk('id' in shared.json(), 'the conversation id is not given out')

    await app.inject({ method: 'PATCH', url: `/api/conversations/${first}/title`, headers: ALICE, payload: { title: 'Renamed later' } })
    t.equal((await app.inject({ url: `/api/shared/${token}` })).json().title, 'Shared garden plans', 'a snapshot: later changes are not shown')

    const page = await app.inject({ url: `/s/${token}` })
    t.equal(page.statusCode, 200)
    t.match(page.headers['content-type'], /text\/html/)
    t.equal(page.headers['x-robots-tag'], 'noindex, nofollow')
    t.match(page.body, /<meta name="robots" content="noindex, nofollow"/)

    const listed = await app.inject({ url: `/api/conversations/${first}/shares`, headers: ALICE })
    t.same(listed.json(), [link], 'the owner sees the link, to copy it again')
    t.equal((await app.inject({ url: `/api/conversations/${first}/shares`, headers: BOB })).statusCode, 404, 'nobody else does')

    t.equal((await app.inject({ method: 'DELETE', url: `/api/shares/${link.id}`, headers: BOB })).statusCode, 404, 'only the owner revokes')
    t.equal((await app.inject({ method: 'DELETE', url: `/api/shares/${link.id}`, headers: ALICE })).statusCode, 204)
    t.equal((await app.inject({ url: `/api/shared/${token}` })).statusCode, 404, 'revoked: gone at once')
    const gone = await app.inject({ url: `/s/${token}` })
    t.equal(gone.statusCode, 404, 'the page is a 404 too')
    t.match(gone.body, /noindex/)
    t.same((await app.inject({ url: `/api/conversations/${first}/shares`, headers: ALICE })).json(), [])
  })

  t.test("a token reads its own conversation and nothing else", async (t) => {
    const link = (await share(first)).json()
    const token = tokenOf(link.url)
    const other = (await share(second)).json()
    t.equal((await app.inject({ url: `/api/shared/${token}` })).json().title, 'Renamed later', 'the title when this link was made')
    t.equal((await app.inject({ url: `/api/shared/${tokenOf(other.url)}` })).json().title, 'Private diary')
    t.equal((await app.inject({ url: `/api/conversations/${second}`, headers: { authorization: `Bearer ${token}` } })).statusCode, 401, 'a share token is no credential')
    t.equal((await app.inject({ url: `/api/shared/${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}` })).statusCode, 404, 'one character off')
    t.equal((await app.inject({ url: `/api/shared/${'x'.repeat(43)}` })).statusCode, 404)
    t.equal((await app.inject({ url: '/api/shared/short' })).statusCode, 404)
    t.equal((await share(second, BOB)).statusCode, 404, "nobody shares another user's conversation")
  })

  t.test('deleting the conversation ends its links', async (t) => {
    const doomed = await storeConversation(database.db, 'alice', 'Soon deleted', [{ question: 'q', answer: 'a' }])
    const link = (await share(doomed)).json()
    t.equal((await app.inject({ method: 'DELETE', url: `/api/conversations/${doomed}`, headers: ALICE })).statusCode, 204)
    t.equal((await app.inject({ url: `/api/shared/${tokenOf(link.url)}` })).statusCode, 404)
    t.equal((await app.inject({ url: `/s/${tokenOf(link.url)}` })).statusCode, 404)
  })

  t.test('a conversation has at most 20 links', async (t) => {
    const many = await storeConversation(database.db, 'alice', 'Popular', [{ question: 'q', answer: 'a' }])
    for (let i = 0; i < 20; i++) t.equal((await share(many)).statusCode, 201)
    const refused = await share(many)
    t.equal(refused.statusCode, 409)
    t.match(refused.json().message, /at most 20 links/)
    t.equal((await app.inject({ url: `/api/conversations/${many}/shares`, headers: ALICE })).json().length, 20)
  })

  t.test("a shared answer's metadata keeps the council's verdict, not the server's settings or costs", async (t) => {
    const id = await storeConversation(database.db, 'alice', 'With metadata', [{ question: 'q', answer: 'a' }])
    await database.db.execute(
      (await import('drizzle-orm')).sql`update messages set metadata = '{"status":"complete","label_to_model":{"Response A":"m/0"},"council":{"system_prompt":"secret"},"usage":{"cost":1},"calls":[]}'::jsonb where conversation_id = ${id} and role = 'assistant'`
    )
    const token = tokenOf((await share(id)).json().url)
    const [, answer] = (await app.inject({ url: `/api/shared/${token}` })).json().messages
    t.same(answer.metadata, { status: 'complete', label_to_model: { 'Response A': 'm/0' } })
  })
})
