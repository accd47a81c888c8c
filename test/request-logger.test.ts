import { setFlagsFromString } from 'node:v8'
import type { FastifyBaseLogger } from 'fastify'
import pino from 'pino'
import t from 'tap'
import { RequestLogger, requestLoggerFactory } from '../src/request-logger.ts'
import { buildTestApp, logCapture } from './helpers/app.ts'
import { openTestDatabase } from './helpers/db.ts'

function rootLogger(level = 'info') {
  const { stream, lines } = logCapture()
  return { root: pino({ level }, stream) as unknown as FastifyBaseLogger, lines }
}

const withoutTime = ({ time: _time, ...line }: Record<string, unknown>) => line

t.test("a request that logs nothing else gets the same completion line as pino's child would write", async (t) => {
  const { root, lines } = rootLogger()
  new RequestLogger(root, { reqId: 'r-1' }).completed({ statusCode: 200 }, 1.5, null)
  root.child({ reqId: 'r-1' }).info({ res: { statusCode: 200 }, responseTime: 1.5 }, 'request completed')
  t.equal(lines.length, 2)
  t.same(withoutTime(lines[0]!), withoutTime(lines[1]!))
  t.match(lines[0], { level: 30, reqId: 'r-1', res: { statusCode: 200 }, responseTime: 1.5, msg: 'request completed' })
  const error = new Error('boom')
  new RequestLogger(root, { reqId: 'r-1' }).completed({ statusCode: 500 }, 2, error)
  root.child({ reqId: 'r-1' }).error({ res: { statusCode: 500 }, err: error, responseTime: 2 }, 'request errored')
  t.same(withoutTime(lines[2]!), withoutTime(lines[3]!), 'and the same line for a request that failed')
})

t.test('lines logged through it carry the request id, and so does the completion line, once', async (t) => {
  const { root, lines } = rootLogger()
  const log = new RequestLogger(root, { reqId: 'r-2' })
  log.warn({ detail: 1 }, 'something')
  log.completed({ statusCode: 500 }, 2, new Error('boom'))
  t.match(lines[0], { level: 40, reqId: 'r-2', detail: 1, msg: 'something' })
  t.match(lines[1], { level: 50, reqId: 'r-2', res: { statusCode: 500 }, err: { message: 'boom' }, msg: 'request errored' })
  t.equal(JSON.stringify(lines[1]).match(/"reqId"/g)?.length, 1, 'the id is not written twice')
  log.child({ part: 'x' }).info('from a child')
  t.match(lines[2], { reqId: 'r-2', part: 'x', msg: 'from a child' })
})

t.test('below the level nothing is written; the level reads through', async (t) => {
  const { root, lines } = rootLogger('warn')
  const log = new RequestLogger(root, { reqId: 'r-3' })
  log.info('quiet')
  log.debug('quieter')
  t.equal(lines.length, 0)
  t.equal(log.level, 'warn')
  log.level = 'debug'
  log.debug('now heard')
  t.match(lines, [{ reqId: 'r-3', msg: 'now heard' }])
})

t.test("every request's completion line is an object of one shape (no new V8 maps per request)", async (t) => {
  setFlagsFromString('--allow-natives-syntax')
  const sameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean
  const written: object[] = []
  const parent = { info: (fields: object) => written.push(fields), isLevelEnabled: () => true } as unknown as FastifyBaseLogger
  // As Fastify makes them: the label is a variable, so the key is computed.
  const label = 'reqId'
  for (let i = 0; i < 3; i++) new RequestLogger(parent, { [label]: `r-${i}` }).completed({ statusCode: 200 }, i + 0.5, null)
  t.same(written[2], { reqId: 'r-2', res: { statusCode: 200 }, responseTime: 2.5 })
  t.ok(sameMap(written[1]!, written[2]!), 'one hidden class for all of them')
})

t.test('a route with its own level or serializers gets a pino child at once', async (t) => {
  const { root } = rootLogger()
  t.type(requestLoggerFactory.call(null as never, root, { reqId: 'a' }, {}, null as never), RequestLogger)
  const child = requestLoggerFactory.call(null as never, root, { reqId: 'b' }, { level: 'debug' }, null as never)
  t.notOk(child instanceof RequestLogger)
  t.equal(child.level, 'debug')
})

t.test('the server writes one line per request, with its id, status and time', async (t) => {
  const database = await openTestDatabase(t, 'pglite')
  const { app, logs } = await buildTestApp(t, database)
  await app.inject({ url: '/api/conversations', headers: { 'x-request-id': 'req-line-1' } })
  await app.inject({ url: '/api/conversations/not-a-uuid', headers: { 'x-request-id': 'req-line-2' } })
  const mine = logs.filter((line) => String(line.reqId).startsWith('req-line-'))
  t.match(mine, [
    { reqId: 'req-line-1', res: { statusCode: 200 }, responseTime: Number, msg: 'request completed' },
    { reqId: 'req-line-2', res: { statusCode: 400 }, responseTime: Number, msg: 'request completed' }
  ])
  t.equal(mine.length, 2)
})
