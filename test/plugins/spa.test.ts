import t from 'tap'
import { buildTestApp } from '../helpers/app.ts'
import { openTestDatabase } from '../helpers/db.ts'

const database = await openTestDatabase(t, 'pglite')
const { app } = await buildTestApp(t, database)

t.test('app routes get index.html, uncached', async (t) => {
  for (const url of ['/', '/c/5d230000-9576-4234-a4d5-19b2bb826f4d', '/some/deep/route?x=1']) {
    const res = await app.inject({ url })
    t.equal(res.statusCode, 200, url)
    t.match(res.headers['content-type'], /text\/html/)
    t.equal(res.headers['cache-control'], 'no-cache', `${url}: not cached`)
    t.match(res.body, /<title>LLM Council<\/title>/)
  }
  const head = await app.inject({ method: 'HEAD', url: '/c/abc' })
  t.equal(head.statusCode, 200, 'HEAD on an app route')
  t.equal(head.body, '')
})

t.test('missing assets and unknown API paths are JSON 404s', async (t) => {
  for (const [method, url] of [
    ['GET', '/missing.js'],
    ['HEAD', '/assets/app.css'],
    ['GET', '/api/unknown'],
    ['GET', '/api'],
    ['POST', '/api/conversations/x/y/z'],
    ['POST', '/c/abc']
  ] as const) {
    const res = await app.inject({ method, url })
    t.equal(res.statusCode, 404, `${method} ${url}`)
    if (method !== 'HEAD') t.match(res.json(), { statusCode: 404, error: 'Not Found', requestId: String })
  }
})

t.test('health and readiness', async (t) => {
  t.same((await app.inject({ url: '/healthz' })).json(), { status: 'ok' })
  t.same((await app.inject({ url: '/readyz' })).json(), { status: 'ok', database: 'pglite' })
})

t.test('readiness fails with 503 when the database is gone', async (t) => {
  const broken = await openTestDatabase(t, 'pglite')
  const { app } = await buildTestApp(t, broken)
  await broken.close()
  const res = await app.inject({ url: '/readyz' })
  t.equal(res.statusCode, 503)
  t.match(res.json(), { statusCode: 503, message: 'database unreachable' })
})

t.test('assets are cacheable, the app page is not; security headers everywhere, the API only those that act on JSON', async (t) => {
  const css = await app.inject({ url: '/app.css' })
  t.equal(css.statusCode, 200)
  t.equal(css.headers['cache-control'], 'public, max-age=3600')
  for (const url of ['/vendor/marked.js', '/vendor/purify.js', '/js/app.js']) {
    const res = await app.inject({ url })
    t.equal(res.statusCode, 200, url)
    t.match(res.headers['content-type'], /javascript/)
  }
  const page = await app.inject({ url: '/' })
  t.match(page.headers['content-security-policy'], /default-src 'self';script-src 'self';style-src 'self'/)
  t.notMatch(page.body, /<script>|\son[a-z]+=/i, 'the page has no inline script or handler')
  t.equal(page.headers['x-content-type-options'], 'nosniff')
  t.equal(page.headers['x-frame-options'], 'SAMEORIGIN')
  t.match(page.headers['strict-transport-security'], /max-age=/)
  for (const url of ['/api/conversations', '/api/conversations?limit=1', '/api/nowhere', '/api?x=1']) {
    const api = await app.inject({ url })
    t.equal(api.headers['x-content-type-options'], 'nosniff', url)
    t.equal(api.headers['content-security-policy'], "default-src 'none'; frame-ancestors 'none'", url)
    t.equal(api.headers['cross-origin-resource-policy'], 'same-origin', url)
    t.notOk(api.headers['x-frame-options'], `${url}: no document-only headers`)
  }
  const notApi = await app.inject({ url: '/apix' })
  t.match(notApi.headers['content-security-policy'], /default-src 'self'/, '/apix is the page')
})
