import t from 'tap'
import { buildTestApp } from '../helpers/app.ts'
import { rawRequest } from '../helpers/raw-http.ts'
import { BACKENDS, TEST_DATABASE_URL, openTestDatabase } from '../helpers/db.ts'
import { readStream, stageEvents } from '../helpers/sse.ts'

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

t.test('the rate limit and the API headers go by the routed path, and bad credentials count too', async (t) => {
  const database = await openTestDatabase(t, 'pglite')
  const { app } = await buildTestApp(t, database, { RATE_LIMIT_MAX: '4', AUTH_MODE: 'header' })
  const spellings = [
    ['GET /%61pi/usage HTTP/1.1', 'Host: x'],
    ['GET http://x/api/usage HTTP/1.1', 'Host: x'],
    ['GET /%61%70%69/conversations HTTP/1.1', 'Host: x'],
    ['GET /api/usage HTTP/1.1', 'Host: x', 'X-Forwarded-User: mallory']
  ]
  for (const head of spellings) {
    const res = await rawRequest(app, head)
    t.equal(res.headers['content-security-policy'], "default-src 'none'; frame-ancestors 'none'", `${head[0]}: the API's headers`)
    t.ok(res.headers['x-ratelimit-remaining'] !== undefined, `${head[0]}: counted (${res.statusCode})`)
  }
  const limited = await rawRequest(app, ['GET /%61pi/usage HTTP/1.1', 'Host: x', 'X-Forwarded-User: mallory'])
  t.equal(limited.statusCode, 429, 'the fifth request from the address, however spelled, is limited')
})

t.test('TRUST_PROXY: every documented form tells clients behind the proxy apart, trusting no more hops than configured', async (t) => {
  const database = await openTestDatabase(t, 'pglite')
  // [TRUST_PROXY, X-Forwarded-For of one client, of another, whether the limit tells them apart]
  const cases: [string, string, string, boolean][] = [
    ['1', '198.51.100.7', '198.51.100.8', true],
    ['1', '203.0.113.9, 198.51.100.7', '203.0.113.10, 198.51.100.7', false],
    ['2', '203.0.113.9, 198.51.100.7', '203.0.113.10, 198.51.100.7', true],
    ['2', '192.0.2.1, 203.0.113.9, 198.51.100.7', '192.0.2.2, 203.0.113.9, 198.51.100.7', false],
    ['true', '192.0.2.1, 203.0.113.9', '192.0.2.2, 203.0.113.9', true],
    ['127.0.0.1', '203.0.113.9, 198.51.100.7', '203.0.113.9, 198.51.100.8', true],
    ['127.0.0.1', '203.0.113.9, 198.51.100.7', '203.0.113.10, 198.51.100.7', false],
    ['loopback, 198.51.100.0/24', '203.0.113.9, 198.51.100.7', '203.0.113.10, 198.51.100.7', true],
    ['false', '203.0.113.9', '203.0.113.10', false]
  ]
  for (const [trustProxy, one, another, apart] of cases) {
    const { app } = await buildTestApp(t, database, { RATE_LIMIT_MAX: '2', TRUST_PROXY: trustProxy })
    const send = async (forwardedFor: string) =>
      (await rawRequest(app, ['GET /api/usage HTTP/1.1', 'Host: x', `X-Forwarded-For: ${forwardedFor}`])).statusCode
    t.same([await send(one), await send(one), await send(one)], [200, 200, 429], `TRUST_PROXY=${trustProxy}, X-Forwarded-For: ${one}`)
    t.equal(await send(another), apart ? 200 : 429, `then ${another}: ${apart ? 'another client' : 'the same client'}`)
    await app.close()
  }
})

t.test('what the router refuses gets the error shape, the right name and a request id; admin ids may be 128 characters', async (t) => {
  const database = await openTestDatabase(t, 'pglite')
  const { app } = await buildTestApp(t, database, { ADMIN_TOKEN: 'an-admin-token' })
  const badUrl = await app.inject({ url: '/api/conversations/%E0%A4%A' })
  t.match(badUrl.json(), { statusCode: 400, error: 'Bad Request', code: 'FST_ERR_BAD_URL', requestId: String })
  t.equal(badUrl.headers['x-request-id'], badUrl.json().requestId)
  const tooLong = await app.inject({ url: `/api/admin/users/${'x'.repeat(2000)}/tier`, method: 'PUT', payload: { tier: 'pro' } })
  t.match(tooLong.json(), { statusCode: 414, error: 'URI Too Long', requestId: String })
  const admin = { authorization: 'Bearer an-admin-token' }
  for (const id of ['x'.repeat(101), 'x'.repeat(128), '😀'.repeat(128), 'ü'.repeat(128)]) {
    const res = await app.inject({ url: `/api/admin/users/${encodeURIComponent(id)}/tier`, method: 'PUT', payload: { tier: 'pro' }, headers: admin })
    t.equal(res.statusCode, 200, `an id of ${[...id].length} characters (${encodeURIComponent(id).length} in the path)`)
    t.equal(res.json().tier, 'pro')
    const noToken = await app.inject({ url: `/api/admin/users/${encodeURIComponent(id)}/tier`, method: 'PUT', payload: { tier: 'pro' } })
    t.equal(noToken.statusCode, 401, 'and the token is checked first')
  }
  for (const id of ['x'.repeat(129), 'a%ED%A0%80b', 'tab%09']) {
    const res = await app.inject({ url: `/api/admin/users/${id.length > 100 ? id : id}/tier`, method: 'PUT', payload: { tier: 'pro' }, headers: admin })
    t.equal(res.statusCode, 400, `${id.slice(0, 20)}: not a user id`)
  }
})

t.test('a saturated event loop gets 503s with Retry-After 10, never on /healthz (PostgreSQL; not with the embedded database)', async (t) => {
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
  // Block the loop, let the monitor take its sample, ask again (liveness and the API together).
  let res = await app.inject({ url: '/api/usage' })
  let health = res
  for (let i = 0; i < 10 && res.statusCode !== 503; i++) {
    const until = Date.now() + 400
    while (Date.now() < until) {
      // Busy: the event loop is held, as a saturated server's is.
    }
    await new Promise((resolve) => setTimeout(resolve, 5))
    ;[health, res] = await Promise.all([app.inject({ url: '/healthz' }), app.inject({ url: '/api/usage' })])
  }
  t.equal(res.statusCode, 503)
  t.match(res.json(), { statusCode: 503, message: 'server under pressure, try again shortly', requestId: String })
  t.equal(res.headers['retry-after'], '10')
  t.equal(health.statusCode, 200, 'liveness is never shed: a busy instance is not dead')
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
  t.equal(stageEvents(stream.events).at(-1)?.type, 'complete')
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
