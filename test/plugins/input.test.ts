import t from 'tap'
import { MAX_BODY_DEPTH } from '../../src/plugins/input.ts'
import { findUnstorable, jsonDepth } from '../../src/validation.ts'
import { buildTestApp } from '../helpers/app.ts'
import { openTestDatabase } from '../helpers/db.ts'

t.test('findUnstorable names the first string (or key) PostgreSQL cannot store, by its JSON pointer', async (t) => {
  t.same(findUnstorable({ messages: [{ content: 'ok' }, { content: 'a\u0000' }] }), { path: '/messages/1/content', reason: 'must not contain NUL characters' })
  t.same(findUnstorable('a\u0000'), { path: '', reason: 'must not contain NUL characters' })
  t.match(findUnstorable({ title: 'x\ud800' }), { path: '/title', reason: /valid Unicode/ })
  t.match(findUnstorable({ ['\udc00']: 1 }), { path: '/\udc00', reason: /valid Unicode/ }, 'keys too')
  t.equal(findUnstorable({ title: 'fine 😀', n: 5, list: [null, true] }), null, 'a whole surrogate pair is fine')
  t.equal(findUnstorable(null), null)
})

t.test('jsonDepth reads nesting without parsing; brackets in strings do not count', async (t) => {
  t.equal(jsonDepth('{}'), 1)
  t.equal(jsonDepth('{"a":[1,{"b":[]}]}'), 4)
  t.equal(jsonDepth('{"a":"[[[[\\"[[["}'), 1, 'escaped quotes do not end a string')
  t.equal(jsonDepth('"plain"'), 0)
  t.equal(jsonDepth('{"a":"x\\\\","b":[[1]]}'), 3, 'an escaped backslash before a quote ends the string')
  t.equal(jsonDepth('{"a":"unterminated [[['), 1, 'an unterminated string ends the scan')
  t.equal(jsonDepth('['.repeat(10_000)), 10_000)
})

t.test('bodies the database cannot store or nested too deep are 400s, before any walk or write', async (t) => {
  const database = await openTestDatabase(t, 'pglite')
  const { app } = await buildTestApp(t, database, { AUTH_MODE: 'header' })
  const headers = { 'x-forwarded-user': 'input-depth', 'content-type': 'application/json' }
  const { id } = (await app.inject({ method: 'POST', url: '/api/conversations', headers })).json()
  const deep = `{"content":${'['.repeat(10_000)}${']'.repeat(10_000)}}`
  for (const [name, url, payload, message] of [
    ['10,000 levels in 20 KB', `/api/conversations/${id}/message`, deep, `body is nested more than ${MAX_BODY_DEPTH} levels deep`],
    ['a lone surrogate in a question', `/api/conversations/${id}/message`, '{"content":"why \\ud800?"}', 'body/content must be valid Unicode (it holds half of a surrogate pair)'],
    ['a lone surrogate in a title', `/api/conversations/${id}/title`, '{"title":"\\udfff"}', 'body/title must be valid Unicode (it holds half of a surrogate pair)']
  ] as const) {
    const res = await app.inject({ method: url.endsWith('title') ? 'PATCH' : 'POST', url, headers, payload })
    t.match(res.json(), { statusCode: 400, error: 'Bad Request', message, requestId: String }, name)
  }
  const stored = (await app.inject({ url: `/api/conversations/${id}`, headers })).json()
  t.same([stored.title, stored.messages], ['New Conversation', []], 'nothing was written')
  const usage = (await app.inject({ url: '/api/usage', headers })).json()
  t.equal(usage.daily_used, 0, 'and nothing charged')
})

t.test('only routes that take a body run a hook before validation (a GET runs none)', async (t) => {
  const database = await openTestDatabase(t, 'pglite')
  const { app } = await buildTestApp(t, database, { AUTH_MODE: 'header' })
  // printRoutes lists each route (a path segment and its methods) with its hooks on the lines below it.
  const preValidation = new Map<string, string>()
  let route = ''
  for (const line of app.printRoutes({ includeHooks: true, commonPrefix: false }).split('\n')) {
    const named = /(\S+) \(([A-Z, ]+)\)\s*$/.exec(line)
    if (named) route = `${named[2]} /${named[1]!.replace(/^\//, '')}`
    else if (line.includes('(preValidation)')) preValidation.set(route, line.slice(line.indexOf('[')))
  }
  t.notOk(preValidation.has('GET /api/conversations'), 'GET /api/conversations runs none')
  t.equal(preValidation.get('POST /api/conversations'), '["emptyBodyAsObject()"]')
  t.equal(preValidation.get('PATCH /title'), '["emptyBodyAsObject()"]')
  t.same([...new Set(preValidation.values())], ['["emptyBodyAsObject()"]'], 'nothing else runs before validation')
  const empty = await app.inject({ method: 'POST', url: '/api/conversations', headers: { 'x-forwarded-user': 'input-user', 'content-type': 'application/json' }, payload: '' })
  t.equal(empty.statusCode, 200, 'an empty JSON body is {}')
})
