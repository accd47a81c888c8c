import t from 'tap'
import { buildTestApp } from '../helpers/app.ts'
import { BACKENDS, TEST_DATABASE_URL, openTestDatabase } from '../helpers/db.ts'
import { readStream } from '../helpers/sse.ts'

for (const backend of BACKENDS) {
  t.test(`${backend}: slow queries are logged with the operation and duration, never values`, async (t) => {
    const database = await openTestDatabase(t, backend)
    const { app, logs } = await buildTestApp(t, database, { SLOW_QUERY_MS: '0' })
    const secret = 'my very private question about my health'
    const created = await app.inject({ method: 'POST', url: '/api/conversations' })
    const id = created.json().id
    await app.inject({ method: 'PATCH', url: `/api/conversations/${id}/title`, payload: { title: secret } })
    const slow = logs.filter((line) => String(line.msg).startsWith('slow query'))
    const rename = slow.find((line) => line.operation === 'conversations.rename')
    t.match(rename, { level: 40, durationMs: Number, msg: /^slow query: conversations\.rename took [\d.]+ ms$/ })
    t.ok(slow.some((line) => line.operation === 'conversations.create'))
    t.notMatch(JSON.stringify(logs), secret, 'no parameter value in any log line')
  })
}

t.test('the per-IP rate limit: 429 on the API without usage, never on health checks', async (t) => {
  const database = await openTestDatabase(t, 'pglite')
  const { app } = await buildTestApp(t, database, { RATE_LIMIT_MAX: '3' })
  for (let i = 0; i < 3; i++) t.equal((await app.inject({ url: '/api/conversations' })).statusCode, 200)
  const limited = await app.inject({ url: '/api/conversations' })
  t.equal(limited.statusCode, 429)
  t.match(limited.json(), { statusCode: 429, error: 'Too Many Requests', message: /rate limit exceeded: at most 3 API requests a minute/, requestId: String })
  t.notOk('usage' in limited.json(), 'no usage key: not the allowance')
  t.ok(Number(limited.headers['retry-after']) > 0)
  for (let i = 0; i < 10; i++) {
    t.equal((await app.inject({ url: '/healthz' })).statusCode, 200)
    t.equal((await app.inject({ url: '/readyz' })).statusCode, 200)
  }
  t.equal((await app.inject({ url: '/' })).statusCode, 200, 'the app page is not limited')
  const other = await app.inject({ url: '/api/conversations', remoteAddress: '10.1.2.3' })
  t.equal(other.statusCode, 200, 'per IP')
})

t.test('a saturated event loop gets 503s (PostgreSQL; not with the embedded database)', async (t) => {
  const embedded = await openTestDatabase(t, 'pglite')
  const { app: embeddedApp } = await buildTestApp(t, embedded, { MAX_EVENT_LOOP_DELAY_MS: '100' })
  t.notOk(embeddedApp.hasDecorator('memoryUsage'), 'no load shedding on PGlite, whose queries run on the event loop')
  if (!TEST_DATABASE_URL) return
  const database = await openTestDatabase(t, 'postgres')
  const { app } = await buildTestApp(t, database, { MAX_EVENT_LOOP_DELAY_MS: '100' })
  // Opening the database blocked the loop too; wait until a calm sample has been taken.
  let status = 0
  for (let i = 0; i < 50 && status !== 200; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    status = (await app.inject({ url: '/api/usage' })).statusCode
  }
  t.equal(status, 200, 'a calm loop serves')
  // Block the loop, let the monitor take its sample, ask again.
  let res = await app.inject({ url: '/api/usage' })
  for (let i = 0; i < 10 && res.statusCode !== 503; i++) {
    const until = Date.now() + 400
    while (Date.now() < until) {
      // Busy: the event loop is held, as a saturated server's is.
    }
    await new Promise((resolve) => setTimeout(resolve, 5))
    res = await app.inject({ url: '/api/usage' })
  }
  t.equal(res.statusCode, 503)
  t.match(res.json(), { statusCode: 503, message: 'server under pressure, try again shortly', requestId: String })
})

t.test('CORS for the configured origins, exposing the cursor header, streams included', async (t) => {
  const database = await openTestDatabase(t, 'pglite')
  const { app } = await buildTestApp(t, database, { CORS_ORIGINS: 'https://app.example.com', LLM_PROVIDER: 'demo' })
  const preflight = await app.inject({ method: 'OPTIONS', url: '/api/conversations', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' } })
  t.equal(preflight.headers['access-control-allow-origin'], 'https://app.example.com')
  const list = await app.inject({ url: '/api/conversations', headers: { origin: 'https://app.example.com' } })
  t.match(list.headers['access-control-expose-headers'], /x-next-cursor/)
  const stranger = await app.inject({ url: '/api/conversations', headers: { origin: 'https://evil.example' } })
  t.notOk(stranger.headers['access-control-allow-origin'])
  const id = (await app.inject({ method: 'POST', url: '/api/conversations' })).json().id
  const base = await app.listen({ port: 0, host: '127.0.0.1' })
  const stream = await readStream(`${base}/api/conversations/${id}/message/stream`, { content: 'hi' }, { headers: { origin: 'https://app.example.com' } })
  t.equal(stream.headers['access-control-allow-origin'], 'https://app.example.com', 'the stream carries CORS headers too')
  t.ok(stream.headers['x-request-id'])
  t.equal(stream.events.at(-1)?.type, 'complete')
})

t.test('OpenAPI document and Swagger UI', async (t) => {
  const database = await openTestDatabase(t, 'pglite')
  const { app } = await buildTestApp(t, database)
  const doc = (await app.inject({ url: '/docs/json' })).json()
  t.equal(doc.openapi.slice(0, 1), '3')
  for (const path of ['/api/conversations', '/api/conversations/{id}', '/api/conversations/{id}/message/stream', '/api/usage', '/api/admin/users/{userId}/tier', '/healthz', '/readyz']) {
    t.ok(doc.paths[path], path)
  }
  t.notOk(doc.paths['/vendor/marked.js'], 'file routes are not part of the API')
  t.ok(doc.paths['/api/conversations'].get.responses['200'])
  const ui = await app.inject({ url: '/docs/' })
  t.equal(ui.statusCode, 200)
  t.match(ui.body, /Swagger UI/)
})
