import t from 'tap'
import { MessagesRepo } from '../../src/repos/messages.ts'
import { ended, newRun } from '../helpers/runs.ts'
import { buildTestApp } from '../helpers/app.ts'
import { eachBackend, openTestDatabase } from '../helpers/db.ts'

const ALICE = { 'x-forwarded-user': 'alice' }
const BOB = { 'x-forwarded-user': 'bob' }
const LEASE_MS = 600_000
const MISSING = '00000000-0000-4000-8000-000000000000'

const STAGES = {
  stage1: [
    { model: 'a/one', response: 'He said "hi" \\ and left. Ünïcødé ✓ 𝔘 — “quotes” \'single\'' },
    { model: 'b/two', response: '```json\n{"k": [1, 2]}\n```' }
  ],
  stage2: [{ model: 'a/one', ranking: 'FINAL RANKING:\n1. Response B\n2. Response A', parsed_ranking: ['Response B', 'Response A'] }],
  stage3: { model: 'c/chair', response: 'Final: 𝔘 "ok"' },
  metadata: {
    label_to_model: { 'Response A': 'a/one', 'Response B': 'b/two' },
    aggregate_rankings: [{ model: 'b/two', average_rank: 1, rankings_count: 1 }],
    nested: { empty: [], nil: null, n: 1.5 }
  }
}

await eachBackend(t, async (t, backend) => {
  const database = await openTestDatabase(t, backend)
  const { app } = await buildTestApp(t, database, { AUTH_MODE: 'header' })
  const messages = new MessagesRepo(database.db)

  const create = async (headers = ALICE) => {
    const res = await app.inject({ method: 'POST', url: '/api/conversations', headers })
    t.equal(res.statusCode, 200)
    return res.json()
  }

  t.test('create, get, rename, star, list and delete', async (t) => {
    const created = await create()
    t.match(created, {
      id: /^[0-9a-f-]{36}$/,
      title: 'New Conversation',
      message_count: 0,
      starred: false,
      messages: []
    })
    t.ok(Date.parse(created.created_at) > 0, 'created_at is an ISO timestamp')
    t.match(created.created_at, /Z$/, 'in UTC')

    const withEmptyObject = await app.inject({ method: 'POST', url: '/api/conversations', headers: ALICE, payload: {} })
    t.equal(withEmptyObject.statusCode, 200, 'a {} body is accepted too')

    const got = await app.inject({ url: `/api/conversations/${created.id}`, headers: ALICE })
    t.same(got.json(), created)

    const renamed = await app.inject({
      method: 'PATCH',
      url: `/api/conversations/${created.id}/title`,
      headers: ALICE,
      payload: { title: '  Trip to “Zürich”  ' }
    })
    t.equal(renamed.statusCode, 200)
    t.same(Object.keys(renamed.json()).sort(), ['created_at', 'id', 'message_count', 'starred', 'title', 'updated_at'])
    t.equal(renamed.json().title, 'Trip to “Zürich”', 'stored trimmed')
    t.equal(renamed.json().updated_at, created.updated_at, 'renaming does not move updated_at')

    const starred = await app.inject({ method: 'POST', url: `/api/conversations/${created.id}/star`, headers: ALICE })
    t.equal(starred.json().starred, true)
    const unstarred = await app.inject({ method: 'POST', url: `/api/conversations/${created.id}/star`, headers: ALICE })
    t.equal(unstarred.json().starred, false)
    t.equal(unstarred.json().updated_at, created.updated_at, 'starring does not move updated_at')

    const list = await app.inject({ url: '/api/conversations', headers: ALICE })
    t.equal(list.statusCode, 200)
    t.ok(list.json().some((c: { id: string }) => c.id === created.id))

    const deleted = await app.inject({ method: 'DELETE', url: `/api/conversations/${created.id}`, headers: ALICE })
    t.equal(deleted.statusCode, 204)
    t.equal(deleted.body, '')
    const gone = await app.inject({ url: `/api/conversations/${created.id}`, headers: ALICE })
    t.equal(gone.statusCode, 404)
    t.match(gone.json(), { statusCode: 404, error: 'Not Found', message: 'conversation not found', requestId: String })
  })

  t.test('messages come back in order, stage data exactly as stored', async (t) => {
    const { id } = await create()
    t.equal(await messages.startRun('alice', id, 'First "question" ✓', LEASE_MS, newRun()), 0)
    t.equal(await messages.appendAnswer('alice', id, STAGES, ended()), 1)
    t.equal(await messages.startRun('alice', id, 'Second', LEASE_MS, newRun()), 2)
    t.equal(await messages.appendAnswer('alice', id, { ...STAGES, metadata: null }, ended()), 3)

    const res = await app.inject({ url: `/api/conversations/${id}`, headers: ALICE })
    const body = res.json()
    t.equal(body.message_count, 4)
    t.same(
      body.messages.map((m: { role: string }) => m.role),
      ['user', 'assistant', 'user', 'assistant']
    )
    t.same(body.messages[0], { role: 'user', content: 'First "question" ✓', created_at: body.messages[0].created_at })
    const { created_at: _, ...assistant } = body.messages[1]
    t.same(assistant, { role: 'assistant', ...STAGES }, 'JSONB round-trips exactly')
    t.equal(body.messages[3].metadata, null, 'metadata is null where none was stored')
    t.ok(body.updated_at > body.created_at, 'appending moves updated_at')
  })

  t.test('one run at a time; concurrent appends never collide or reorder', async (t) => {
    const { id } = await create()
    const started = await Promise.all(Array.from({ length: 40 }, (_, i) => messages.startRun('alice', id, `q${i}`, LEASE_MS, newRun())))
    t.same(started.filter((result) => result !== 'busy'), [0], 'one question starts a run; the other 39 find it busy')
    const answers = Array.from({ length: 40 }, (_, i) => ({ ...STAGES, stage3: { model: 'm', response: `a${i}` } }))
    const positions = await Promise.all(answers.map((answer) => messages.appendAnswer('alice', id, answer, ended())))
    t.same([...positions].sort((a, b) => a! - b!), Array.from({ length: 40 }, (_, i) => i + 1))
    const body = (await app.inject({ url: `/api/conversations/${id}`, headers: ALICE })).json()
    t.equal(body.message_count, 41)
    for (const [i, position] of positions.entries()) {
      t.equal(body.messages[position!].stage3.response, `a${i}`, `answer ${i} sits at the position it was given`)
    }
    t.type(await messages.startRun('alice', id, 'next', LEASE_MS, newRun()), 'number', 'an answer ends the run')
    t.equal(await messages.startRun('alice', id, 'too soon', LEASE_MS, newRun()), 'busy')
    await messages.endRun('alice', id, ended())
    t.type(await messages.startRun('alice', id, 'after a failed run', LEASE_MS, newRun()), 'number', 'a run that ended without an answer frees it too')
    t.type(await messages.startRun('alice', id, 'after a lost run', 0, newRun()), 'number', 'a run older than the lease (its server died) frees it')
  })

  t.test("isolation: another user's conversation is a 404 everywhere and never listed", async (t) => {
    const mine = await create(ALICE)
    await messages.startRun('alice', mine.id, 'secret', LEASE_MS, newRun())
    const routes = [
      { method: 'GET', url: `/api/conversations/${mine.id}` },
      { method: 'PATCH', url: `/api/conversations/${mine.id}/title`, payload: { title: 'hijack' } },
      { method: 'POST', url: `/api/conversations/${mine.id}/star` },
      { method: 'DELETE', url: `/api/conversations/${mine.id}` }
    ] as const
    for (const route of routes) {
      const res = await app.inject({ ...route, headers: BOB })
      t.equal(res.statusCode, 404, `${route.method} ${route.url} as bob`)
      t.notMatch(res.body, 'secret')
      const unknown = await app.inject({ ...route, url: route.url.replace(mine.id, MISSING), headers: ALICE })
      t.equal(unknown.statusCode, 404, `${route.method} on an unknown id`)
    }
    t.equal(await messages.startRun('bob', mine.id, 'intrusion', LEASE_MS, newRun()), null, 'bob cannot append to it')
    t.equal(await messages.appendAnswer('bob', mine.id, STAGES, ended()), null)
    const bobs = await app.inject({ url: '/api/conversations?limit=200', headers: BOB })
    t.notOk(bobs.json().some((c: { id: string }) => c.id === mine.id))
    const still = (await app.inject({ url: `/api/conversations/${mine.id}`, headers: ALICE })).json()
    t.match(still, { title: 'New Conversation', starred: false, message_count: 1 }, 'nothing of it changed')
  })

  t.test('credentials are checked first: 401 JSON', async (t) => {
    const res = await app.inject({ url: '/api/conversations' })
    t.equal(res.statusCode, 401)
    t.match(res.json(), { statusCode: 401, error: 'Unauthorized', message: /x-forwarded-user/ })
    const bad = await app.inject({ url: '/api/conversations/not-a-uuid' })
    t.equal(bad.statusCode, 401, '401 comes before 400')
  })

  t.test('pagination: no duplicates or gaps while conversations are added', async (t) => {
    const user = { 'x-forwarded-user': `pager-${backend}` }
    const ids = new Set<string>()
    for (let i = 0; i < 23; i++) ids.add((await create(user)).id)
    const seen: string[] = []
    let cursor: string | undefined
    let pages = 0
    do {
      const res = await app.inject({
        url: '/api/conversations',
        query: { limit: '5', ...(cursor ? { before: cursor } : {}) },
        headers: user
      })
      t.equal(res.statusCode, 200)
      const page = res.json() as { id: string; updated_at: string }[]
      t.ok(page.length <= 5)
      seen.push(...page.map((c) => c.id))
      cursor = res.headers['x-next-cursor'] as string | undefined
      // New conversations arrive while the client pages: they sort first, so they never shift later pages.
      if (pages++ < 3) await create(user)
    } while (cursor)
    t.equal(new Set(seen).size, seen.length, 'no duplicates')
    for (const id of ids) t.ok(seen.includes(id), 'every conversation that existed at the start is seen')
    t.equal(pages, 5)

    const starredOnly = await app.inject({ url: '/api/conversations?starred=true', headers: user })
    t.same(starredOnly.json(), [])
    const firstId = seen.at(-1)!
    await app.inject({ method: 'POST', url: `/api/conversations/${firstId}/star`, headers: user })
    const afterStar = await app.inject({ url: '/api/conversations?starred=true', headers: user })
    t.same(afterStar.json().map((c: { id: string }) => c.id), [firstId])
    const unstarredCount = (await app.inject({ url: '/api/conversations?starred=false&limit=200', headers: user })).json().length
    t.equal(unstarredCount, 23 + 3 - 1)
  })

  t.test('list order follows activity', async (t) => {
    const user = { 'x-forwarded-user': `order-${backend}` }
    const a = await create(user)
    const b = await create(user)
    let list = (await app.inject({ url: '/api/conversations', headers: user })).json()
    t.same(list.map((c: { id: string }) => c.id), [b.id, a.id])
    await messages.startRun(user['x-forwarded-user'], a.id, 'bump', LEASE_MS, newRun())
    list = (await app.inject({ url: '/api/conversations', headers: user })).json()
    t.same(list.map((c: { id: string }) => c.id), [a.id, b.id], 'a message moves a conversation to the top')
  })

  t.test('bad input is a 4xx and writes nothing', async (t) => {
    const user = { 'x-forwarded-user': `bad-${backend}` }
    const { id } = await create(user)
    const cases: { name: string; method: 'GET' | 'PATCH' | 'POST'; url: string; payload?: unknown; status: number; message?: RegExp; headers?: Record<string, string> }[] = [
      { name: 'id too long to be a UUID or a former id', method: 'GET', url: `/api/conversations/${'x'.repeat(201)}`, status: 400, message: /params\/id must NOT have more than 200 characters/ },
      { name: 'control character in the id', method: 'GET', url: '/api/conversations/a%01b', status: 400, message: /params\/id must match pattern/ },
      { name: 'unknown field', method: 'PATCH', url: `/api/conversations/${id}/title`, payload: { title: 'x', extra: 1 }, status: 400, message: /additional properties/ },
      { name: 'unknown field on create', method: 'POST', url: '/api/conversations', payload: { title: 'x' }, status: 400 },
      { name: 'empty title', method: 'PATCH', url: `/api/conversations/${id}/title`, payload: { title: '   ' }, status: 400, message: /title must not be empty/ },
      { name: '501-character title', method: 'PATCH', url: `/api/conversations/${id}/title`, payload: { title: 'x'.repeat(501) }, status: 400, message: /500 characters/ },
      { name: 'title of the wrong type', method: 'PATCH', url: `/api/conversations/${id}/title`, payload: { title: 5 }, status: 400, message: /must be string/ },
      { name: 'missing title', method: 'PATCH', url: `/api/conversations/${id}/title`, payload: {}, status: 400, message: /required property 'title'/ },
      { name: 'NUL character', method: 'PATCH', url: `/api/conversations/${id}/title`, payload: { title: 'a\u0000b' }, status: 400, message: /body\/title must not contain NUL/ },
      { name: 'NUL character in the query', method: 'GET', url: '/api/conversations?before=a%00b', status: 400, message: /querystring\/before must not contain NUL/ },
      { name: 'a JSON null body is not "no body"', method: 'POST', url: '/api/conversations', payload: 'null', status: 400, message: /body must be object/, headers: { 'content-type': 'application/json' } },
      { name: 'invalid JSON', method: 'PATCH', url: `/api/conversations/${id}/title`, payload: '{"title": ', status: 400, headers: { 'content-type': 'application/json' } },
      { name: 'oversize body', method: 'PATCH', url: `/api/conversations/${id}/title`, payload: { title: 'x'.repeat(1_100_000) }, status: 413 },
      { name: 'limit 0', method: 'GET', url: '/api/conversations?limit=0', status: 400, message: /limit/ },
      { name: 'limit 201', method: 'GET', url: '/api/conversations?limit=201', status: 400, message: /limit/ },
      { name: 'limit not a number', method: 'GET', url: '/api/conversations?limit=ten', status: 400, message: /limit/ },
      { name: 'forged cursor', method: 'GET', url: '/api/conversations?before=bm90LWEtY3Vyc29y', status: 400, message: /before/ },
      ...['2026-02-30T10:00:00.000000Z', '2026-13-01T00:00:00.000000Z', '2026-04-31T23:59:59.999999Z', '2025-02-29T00:00:00.000000Z', '2026-01-01T24:00:00.000000Z'].map((date) => ({
        name: `cursor with the impossible date ${date}`,
        method: 'GET' as const,
        url: `/api/conversations?before=${Buffer.from(`${date}|${id}`).toString('base64url')}`,
        status: 400,
        message: /querystring\/before is not a cursor/
      })),
      { name: 'lone surrogate in a title', method: 'PATCH', url: `/api/conversations/${id}/title`, payload: '{"title":"a\\ud800"}', status: 400, message: /valid Unicode/, headers: { 'content-type': 'application/json' } },
      { name: 'unknown query parameter', method: 'GET', url: '/api/conversations?sort=asc', status: 400 },
      { name: 'starred not a boolean', method: 'GET', url: '/api/conversations?starred=maybe', status: 400 }
    ]
    for (const c of cases) {
      const res = await app.inject({
        method: c.method,
        url: c.url,
        headers: { ...user, ...c.headers },
        ...(c.payload === undefined ? {} : { payload: c.payload as string })
      })
      t.equal(res.statusCode, c.status, c.name)
      t.match(res.json(), { statusCode: c.status, message: c.message ?? String, requestId: String }, `${c.name}: JSON error`)
    }
    const after = (await app.inject({ url: `/api/conversations/${id}`, headers: user })).json()
    t.equal(after.title, 'New Conversation', 'no bad request changed the conversation')
    const list = (await app.inject({ url: '/api/conversations?limit=200', headers: user })).json()
    t.equal(list.length, 1, 'no bad request created a conversation')
  })
})
