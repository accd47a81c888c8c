import t from 'tap'
import { findNul } from '../../src/validation.ts'
import { buildTestApp } from '../helpers/app.ts'
import { openTestDatabase } from '../helpers/db.ts'

t.test('findNul names the first string holding NUL by its JSON pointer', async (t) => {
  t.equal(findNul({ messages: [{ content: 'ok' }, { content: 'a\u0000' }] }), '/messages/1/content')
  t.equal(findNul('a\u0000'), '')
  t.equal(findNul({ title: 'fine', n: 5, list: [null, true] }), null)
  t.equal(findNul(null), null)
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
