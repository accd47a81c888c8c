import { DrizzleQueryError } from 'drizzle-orm/errors'
import t from 'tap'
import { serializeError } from '../src/logger.ts'
import { buildTestApp } from './helpers/app.ts'
import { interceptStatements, openTestDatabase } from './helpers/db.ts'
import { startFakeLlm, wellBehaved } from './helpers/fake-llm.ts'

const USER = { 'x-forwarded-user': 'alice' }

t.test("each request's line says who asked what: method, path without the query, status, time, user", async (t) => {
  const database = await openTestDatabase(t, 'pglite')
  const { app, logs } = await buildTestApp(t, database, { AUTH_MODE: 'header' })
  await app.inject({ url: '/api/conversations?limit=5&before=private-words', headers: USER })
  await app.inject({ url: '/healthz' })
  const lines = logs.filter((line) => line.msg === 'request completed')
  t.equal(lines.length, 2, 'one line per request, no "incoming request" line')
  t.match(lines[0], { level: 30, reqId: String, method: 'GET', path: '/api/conversations', statusCode: 400, responseTime: Number, userId: 'alice' })
  t.notMatch(JSON.stringify(logs), 'private-words', 'no query string values')
  t.match(lines[1], { method: 'GET', path: '/healthz', statusCode: 200 })
  t.notOk('userId' in lines[1]!, 'no user on an unauthenticated route')
})

t.test('an error line names the user and the conversation, and never the statement\'s values', async (t) => {
  const database = await openTestDatabase(t, 'pglite')
  const secret = 'my very private title'
  const db = interceptStatements(database.db, (statement) =>
    statement.startsWith('update "conversations" set "title"') ? Promise.reject(new Error('disk on fire')) : undefined
  )
  const { app, logs } = await buildTestApp(t, { ...database, db }, { AUTH_MODE: 'header' })
  const id = (await app.inject({ method: 'POST', url: '/api/conversations', headers: USER })).json().id
  const res = await app.inject({ method: 'PATCH', url: `/api/conversations/${id}/title`, headers: USER, payload: { title: secret } })
  t.equal(res.statusCode, 500)
  const failed = logs.find((line) => line.msg === 'request failed')
  t.match(failed, { level: 50, userId: 'alice', conversationId: id, err: { message: /^Failed query: update "conversations" set "title" = .*: disk on fire$/ } })
  t.notMatch(JSON.stringify(logs), secret, "the statement's parameters are in no line")
  t.match(logs.find((line) => line.msg === 'request completed' && line.statusCode === 500), { method: 'PATCH', userId: 'alice' })
})

t.test('no error line carries data, however the error is wrapped or whatever fields the driver set', async (t) => {
  const secret = 'my very private question'
  const failed = new DrizzleQueryError('insert into "messages" ("content") values ($1)', [secret, 42])
  const driver = Object.assign(new Error('new row violates check constraint "messages_role_check"'), {
    code: '23514',
    severity: 'ERROR',
    constraint_name: 'messages_role_check',
    detail: `Failing row contains (1, ${secret}).`,
    parameters: [secret],
    args: [secret],
    query: `insert ... '${secret}'`
  })
  Object.defineProperty(failed, 'cause', { value: driver })
  const wrapped = new Error(`transaction failed: ${failed.message}`, { cause: failed })
  for (const error of [failed, wrapped, new Error('outer', { cause: wrapped }), driver]) {
    const line = JSON.stringify(serializeError(error))
    t.notOk(line.includes(secret), `${error.message.slice(0, 30)}: no value in ${line.slice(0, 80)}`)
    t.match(line, /messages/, 'what failed is still said')
  }
  t.match(serializeError(driver), { code: '23514', constraint_name: 'messages_role_check', severity: 'ERROR' })
  t.match(serializeError(wrapped), { message: /^transaction failed: Failed query: insert into "messages"/, cause: { message: /^Failed query: insert into "messages" \("content"\) values \(\$1\): new row violates/, code: '23514' } })
})

t.test("a council run's lines (a model that failed) name the user and the conversation", async (t) => {
  const database = await openTestDatabase(t, 'pglite')
  const fake = await startFakeLlm(t, (request) => (request.model === 'm/broken' ? { status: 500, body: { error: { message: 'overloaded' } } } : wellBehaved(request)))
  const { app, logs } = await buildTestApp(t, database, {
    AUTH_MODE: 'header',
    LLM_BASE_URL: fake.baseUrl,
    COUNCIL_MODELS: 'm/one,m/broken',
    CHAIRMAN_MODEL: 'm/chair',
    TITLE_MODEL: 'm/title'
  })
  const id = (await app.inject({ method: 'POST', url: '/api/conversations', headers: USER })).json().id
  const res = await app.inject({ method: 'POST', url: `/api/conversations/${id}/message`, headers: USER, payload: { content: 'Q?' } })
  t.equal(res.statusCode, 200)
  t.match(logs.find((line) => String(line.msg).startsWith('model call failed: m/broken')), { level: 40, userId: 'alice', conversationId: id })
})
