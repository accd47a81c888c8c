import t from 'tap'
import { openPostgres } from '../../src/db/client.ts'
import { buildTestApp } from '../helpers/app.ts'
import { POOL, TEST_DATABASE_URL, eachBackend, interceptStatements, openTestDatabase } from '../helpers/db.ts'
import { startFakeLlm, wellBehaved } from '../helpers/fake-llm.ts'

const ADMIN = 'admin-token-for-tests-0123456789'
const env = (baseUrl: string) => ({
  AUTH_MODE: 'header',
  LLM_BASE_URL: baseUrl,
  COUNCIL_MODELS: 'm/one,m/two',
  CHAIRMAN_MODEL: 'm/chair',
  TITLE_MODEL: 'm/title',
  USAGE_LIMITS: 'free:2/3,pro:100/3000,enterprise:unlimited',
  ADMIN_TOKEN: ADMIN
})

await eachBackend(t, async (t, backend) => {
  const database = await openTestDatabase(t, backend)
  const fake = await startFakeLlm(t, wellBehaved)
  const { app } = await buildTestApp(t, database, env(fake.baseUrl))
  t.beforeEach(() => fake.setHandler(wellBehaved))

  const as = (user: string) => ({ 'x-forwarded-user': user })
  const newConversation = async (user: string) =>
    (await app.inject({ method: 'POST', url: '/api/conversations', headers: as(user) })).json().id as string
  const ask = (user: string, id: string, path = 'message') =>
    app.inject({ method: 'POST', url: `/api/conversations/${id}/${path}`, headers: as(user), payload: { content: 'Q?' } })
  const usageOf = async (user: string) => (await app.inject({ url: '/api/usage', headers: as(user) })).json()

  t.test('GET /api/usage', async (t) => {
    const fresh = await usageOf('viewer')
    t.same(Object.keys(fresh).sort(), [
      'daily_limit',
      'daily_resets_at',
      'daily_used',
      'monthly_cost_limit',
      'monthly_limit',
      'monthly_resets_at',
      'monthly_used',
      'tier',
      'tokens',
      'total_queries'
    ])
    const none = { prompt_tokens: 0, completion_tokens: 0, cost: 0, calls: 0, unknown_calls: 0 }
    t.same(fresh.tokens, { today: none, month: none })
    t.equal(fresh.monthly_cost_limit, null)
    t.match(fresh, { tier: 'free', daily_used: 0, daily_limit: 2, monthly_used: 0, monthly_limit: 3, total_queries: 0 })
    t.equal((await app.inject({ url: '/api/usage' })).statusCode, 401)
    await ask('viewer', await newConversation('viewer'))
    t.match(await usageOf('viewer'), { daily_used: 1, monthly_used: 1, total_queries: 1 })
  })

  t.test('over the limit: 429 with the figures and Retry-After to the next UTC midnight', async (t) => {
    const id = await newConversation('heavy')
    t.equal((await ask('heavy', id)).statusCode, 200)
    t.equal((await ask('heavy', id, 'message/stream')).statusCode, 200)
    fake.requests.length = 0
    for (const path of ['message', 'message/stream']) {
      const res = await ask('heavy', id, path)
      t.equal(res.statusCode, 429, path)
      t.match(res.headers['content-type'], /application\/json/)
      const body = res.json()
      t.match(body, {
        statusCode: 429,
        error: 'Too Many Requests',
        message: /daily limit of 2 queries reached \(free tier\); it resets at \d{4}-\d{2}-\d{2}T00:00:00Z/,
        requestId: String,
        usage: { tier: 'free', daily_used: 2, daily_limit: 2, monthly_used: 2, monthly_limit: 3 }
      })
      const untilMidnight = (Date.parse(body.usage.daily_resets_at) - Date.now()) / 1000
      const retryAfter = Number(res.headers['retry-after'])
      t.ok(Math.abs(retryAfter - untilMidnight) <= 5, `Retry-After ${retryAfter}s ≈ ${Math.round(untilMidnight)}s to midnight UTC`)
    }
    t.equal(fake.requests.length, 0, 'no model was asked')
    t.equal((await app.inject({ url: `/api/conversations/${id}`, headers: as('heavy') })).json().message_count, 4, 'no message stored')
    const missing = await ask('heavy', '00000000-0000-4000-8000-000000000000')
    t.equal(missing.statusCode, 404, '404 comes before 429')
  })

  t.test('the monthly limit: Retry-After to the first of next month', async (t) => {
    const id = await newConversation('monthly')
    await ask('monthly', id)
    await ask('monthly', id)
    await database.db.execute(
      (await import('drizzle-orm')).sql`update usage set last_reset_daily = last_reset_daily - 1 where user_id = 'monthly'`
    )
    t.equal((await ask('monthly', id)).statusCode, 200, 'a new day frees the daily count')
    const res = await ask('monthly', id)
    t.equal(res.statusCode, 429)
    t.match(res.json().message, /monthly limit of 3 queries reached/)
    const untilMonth = (Date.parse(res.json().usage.monthly_resets_at) - Date.now()) / 1000
    t.ok(Math.abs(Number(res.headers['retry-after']) - untilMonth) <= 5)
  })

  t.test('a run that produced no answer gives its unit back', async (t) => {
    const id = await newConversation('unlucky')
    await ask('unlucky', id)
    const { tokens: _, ...before } = await usageOf('unlucky')
    fake.setHandler(() => ({ status: 500, body: { error: { message: 'down' } } }))
    t.equal((await ask('unlucky', id)).statusCode, 502)
    t.equal((await ask('unlucky', id, 'message/stream')).statusCode, 200, 'the stream fails with an error event')
    const { tokens, ...after } = await usageOf('unlucky')
    t.same(after, before, 'daily_used, monthly_used and total_queries all went back')
    t.ok(tokens.today.calls > 0, 'the failed calls are still counted as calls')
  })

  t.test('admin: tier changes take effect on the next request', async (t) => {
    const id = await newConversation('upgrader')
    await ask('upgrader', id)
    await ask('upgrader', id)
    t.equal((await ask('upgrader', id)).statusCode, 429)

    const put = (user: string, payload: unknown, token: string | null = ADMIN) =>
      app.inject({
        method: 'PUT',
        url: `/api/admin/users/${encodeURIComponent(user)}/tier`,
        headers: token ? { authorization: `Bearer ${token}` } : {},
        payload: payload as object
      })
    t.equal((await put('upgrader', { tier: 'pro' }, null)).statusCode, 401, 'no token')
    t.equal((await put('upgrader', { tier: 'pro' }, `${ADMIN}x`)).statusCode, 401, 'wrong token')
    const bad = await put('upgrader', { tier: 'platinum' })
    t.equal(bad.statusCode, 400)
    t.match(bad.json().message, /body\/tier must be one of: free, pro, enterprise/)
    t.equal((await put('upgrader', { tier: 'pro', extra: 1 })).statusCode, 400, 'unknown field')

    const res = await put('upgrader', { tier: 'PRO' })
    t.equal(res.statusCode, 200)
    t.match(res.json(), { tier: 'pro', daily_used: 2, daily_limit: 100, monthly_limit: 3000 })
    t.equal((await ask('upgrader', id)).statusCode, 200, 'the next request is allowed')

    const created = await put('firebase-uid-new', { tier: 'enterprise' })
    t.match(created.json(), { tier: 'enterprise', daily_used: 0, daily_limit: null, monthly_limit: null }, 'creates the row')
    t.equal((await app.inject({ method: 'PUT', url: '/api/admin/users/x/tier', headers: as('upgrader'), payload: { tier: 'pro' } })).statusCode, 401, 'user credentials are not admin credentials')
  })
})

t.test('admin routes do not exist without ADMIN_TOKEN', async (t) => {
  const database = await openTestDatabase(t, 'pglite')
  const { app } = await buildTestApp(t, database)
  const res = await app.inject({ method: 'PUT', url: '/api/admin/users/u/tier', headers: { authorization: 'Bearer ' }, payload: { tier: 'pro' } })
  t.equal(res.statusCode, 404)
  t.match(res.json(), { statusCode: 404, error: 'Not Found' })
})

t.test('two server instances on one PostgreSQL database never give more than the limit', { skip: !TEST_DATABASE_URL && 'TEST_DATABASE_URL is not set' }, async (t) => {
  const shared = await openTestDatabase(t, 'postgres')
  const second = openPostgres(shared.url!, POOL)
  t.teardown(() => second.close())
  const fake = await startFakeLlm(t, wellBehaved)
  const settings = { ...env(fake.baseUrl), USAGE_LIMITS: 'free:10/100' }
  const instances = await Promise.all([buildTestApp(t, shared, settings), buildTestApp(t, second, settings)])
  const bases = await Promise.all(instances.map(({ app }) => app.listen({ port: 0, host: '127.0.0.1' })))
  const headers = { 'x-forwarded-user': 'swarm', 'content-type': 'application/json' }
  // A conversation per question: one conversation takes one question at a time.
  const ids = await Promise.all(
    Array.from({ length: 200 }, async () => (await (await fetch(`${bases[0]}/api/conversations`, { method: 'POST', headers: { 'x-forwarded-user': 'swarm' } })).json()).id as string)
  )
  const statuses = await Promise.all(
    ids.map((id, i) =>
      fetch(`${bases[i % 2]}/api/conversations/${id}/message`, { method: 'POST', headers, body: JSON.stringify({ content: `q${i}` }) }).then(
        async (res) => (await res.arrayBuffer(), res.status)
      )
    )
  )
  t.equal(statuses.filter((s) => s === 200).length, 10, 'exactly 10 answered')
  t.equal(statuses.filter((s) => s === 429).length, 190, 'the rest were refused')
  const usage = await (await fetch(`${bases[1]}/api/usage`, { headers })).json()
  t.match(usage, { daily_used: 10, monthly_used: 10, total_queries: 10 })
  const list = await (await fetch(`${bases[0]}/api/conversations?limit=200`, { headers })).json()
  const counts = list.map((c: { message_count: number }) => c.message_count).sort()
  t.same(counts, [...Array(190).fill(0), ...Array(10).fill(2)], 'ten questions and their answers stored, nothing for the refused')
})

t.test('a usage write that fails for another reason: 503, nothing charged, retried only when unsent', async (t) => {
  const database = await openTestDatabase(t, 'pglite')
  const fake = await startFakeLlm(t, wellBehaved)
  let failures = 0
  let code = 'ECONNREFUSED'
  // The consume statement fails at the driver, where the repository runs it.
  const db = interceptStatements(database.db, (statement) => {
    if (failures === 0 || !statement.startsWith('insert into "usage"')) return undefined
    failures--
    return Promise.reject(Object.assign(new Error('connection lost'), { code }))
  })
  const { app, logs } = await buildTestApp(t, { ...database, db }, env(fake.baseUrl))
  const headers = { 'x-forwarded-user': 'flaky' }
  const id = (await app.inject({ method: 'POST', url: '/api/conversations', headers })).json().id
  const ask = () => app.inject({ method: 'POST', url: `/api/conversations/${id}/message`, headers, payload: { content: 'Q?' } })

  failures = 1
  t.equal((await ask()).statusCode, 200, 'a connection that was never made is retried once')

  failures = 2
  const twice = await ask()
  t.equal(twice.statusCode, 503)
  t.match(twice.json(), { statusCode: 503, error: 'Service Unavailable', message: /database unavailable/ })
  t.equal(twice.headers['retry-after'], '5')

  code = 'CONNECTION_CLOSED'
  failures = 1
  t.equal((await ask()).statusCode, 503, 'a statement that may have run is not retried')
  t.equal(fake.requests.filter((r) => r.model === 'm/chair').length, 1, 'the council ran only for the answered request')
  const usage = (await app.inject({ url: '/api/usage', headers })).json()
  t.match(usage, { daily_used: 1, total_queries: 1 }, 'the failed requests charged nothing')
  t.notMatch(JSON.stringify(twice.json()), 'connection lost', 'the 503 body says nothing internal')
  t.ok(logs.some((line) => line.level === 50 && JSON.stringify(line).includes('connection lost')), 'the cause is logged')
})

t.test("a single person's own server (AUTH_MODE=none): counted and shown, never capped unless USAGE_LIMITS is set", async (t) => {
  const database = await openTestDatabase(t, 'pglite')
  const fake = await startFakeLlm(t, wellBehaved)
  const models = { LLM_BASE_URL: fake.baseUrl, COUNCIL_MODELS: 'm/one', CHAIRMAN_MODEL: 'm/chair', TITLE_MODEL: 'm/title' }
  const own = await buildTestApp(t, database, models)
  const id = (await own.app.inject({ method: 'POST', url: '/api/conversations' })).json().id
  // The default free tier allows 10 a day: the local user gets past it.
  for (let i = 0; i < 12; i++) {
    const res = await own.app.inject({ method: 'POST', url: `/api/conversations/${id}/message`, payload: { content: `Q${i}?` } })
    t.equal(res.statusCode, 200, `question ${i + 1}`)
  }
  t.match((await own.app.inject({ url: '/api/usage' })).json(), { tier: 'free', daily_used: 12, daily_limit: null, monthly_limit: null, total_queries: 12 })

  const capped = await buildTestApp(t, database, { ...models, USAGE_LIMITS: 'free:12/100' })
  const refused = await capped.app.inject({ method: 'POST', url: `/api/conversations/${id}/message`, payload: { content: 'Q?' } })
  t.equal(refused.statusCode, 429, 'USAGE_LIMITS set explicitly caps the local user too')
  t.match(refused.json().usage, { daily_used: 12, daily_limit: 12 })
})
