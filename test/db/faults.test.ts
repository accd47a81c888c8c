import t from 'tap'
import { openPostgres } from '../../src/db/client.ts'
import { migrateDatabase } from '../../src/db/migrate.ts'
import { buildTestApp } from '../helpers/app.ts'
import { hasPostgresBinaries, startCluster } from '../helpers/cluster.ts'
import { TEST_DATABASE_URL, createPostgresDatabase } from '../helpers/db.ts'
import { partitionableProxy } from '../helpers/tcp-proxy.ts'

const POOL = { poolMax: 5, prepare: true, connectTimeoutMs: 1000, statementTimeoutMs: 5000, slowQueryMs: 1000 }

t.test('PostgreSQL goes away and comes back: 503s, no crash, recovery without a restart, nothing acknowledged lost', { skip: !hasPostgresBinaries && 'PostgreSQL 15 binaries are not installed' }, async (t) => {
  const cluster = await startCluster(t)
  const database = openPostgres(cluster.url, POOL)
  await migrateDatabase(database, { migrationUrl: cluster.url, pool: POOL })
  const { app, logs } = await buildTestApp(t, database, { DB_CONNECT_TIMEOUT_MS: '1000' })
  t.teardown(() => database.close())

  const acknowledged: string[] = []
  const create = async () => {
    const res = await app.inject({ method: 'POST', url: '/api/conversations' })
    if (res.statusCode === 200) acknowledged.push(res.json().id)
    return res
  }
  for (let i = 0; i < 5; i++) t.equal((await create()).statusCode, 200)

  cluster.stop()
  const statuses = []
  for (let i = 0; i < 5; i++) {
    const res = await create()
    statuses.push(res.statusCode)
    t.match(res.json(), { statusCode: 503, error: 'Service Unavailable', message: 'database unavailable, try again shortly', requestId: String })
    t.equal(res.headers['retry-after'], '5')
  }
  t.same(statuses, [503, 503, 503, 503, 503], 'every request answered 503, none hung')
  const list = await app.inject({ url: '/api/conversations' })
  t.equal(list.statusCode, 503)
  t.equal((await app.inject({ url: '/readyz' })).statusCode, 503)
  t.equal((await app.inject({ url: '/healthz' })).statusCode, 200, 'the process is alive')

  cluster.start()
  let ready = 0
  for (let i = 0; i < 100 && ready !== 200; i++) {
    ready = (await app.inject({ url: '/readyz' })).statusCode
    if (ready !== 200) await new Promise((resolve) => setTimeout(resolve, 200))
  }
  t.equal(ready, 200, 'ready again, without a restart')
  for (let i = 0; i < 5; i++) t.equal((await create()).statusCode, 200)

  const stored = (await app.inject({ url: '/api/conversations?limit=200' })).json().map((c: { id: string }) => c.id)
  for (const id of acknowledged) t.ok(stored.includes(id), `acknowledged ${id} is stored`)
  t.equal(acknowledged.length, 10)
  t.ok(logs.some((line) => line.level === 50 && line.msg === 'request failed'), 'the failures are logged')
})

t.test('a network partition (connection open, nothing answering): 503s, not a hang, and the pool recovers', { skip: !TEST_DATABASE_URL && 'TEST_DATABASE_URL is not set' }, async (t) => {
  const url = new URL(await createPostgresDatabase(t))
  const proxy = await partitionableProxy(t, { host: url.hostname, port: Number(url.port || 5432) })
  const viaProxy = new URL(url)
  viaProxy.port = String(proxy.port)
  const pool = { ...POOL, connectTimeoutMs: 2000, statementTimeoutMs: 4000 }
  const database = openPostgres(viaProxy.toString(), pool)
  await migrateDatabase(database, { migrationUrl: url.toString(), pool })
  t.teardown(() => database.close())
  const { app } = await buildTestApp(t, database, { DB_CONNECT_TIMEOUT_MS: '2000', DB_STATEMENT_TIMEOUT_MS: '4000' })
  const create = () => app.inject({ method: 'POST', url: '/api/conversations' })
  for (let i = 0; i < 3; i++) t.equal((await create()).statusCode, 200, 'connected')

  proxy.partition()
  // Without a client-side deadline these hang until TCP gives up (many minutes): the test would time out.
  const during = await Promise.all(Array.from({ length: 8 }, () => Promise.all([create(), app.inject({ url: '/api/conversations' })])))
  for (const res of during.flat()) {
    t.match(res.json(), { statusCode: 503, message: 'database unavailable, try again shortly', requestId: String })
  }

  proxy.heal()
  let status = 0
  for (let i = 0; i < 50 && status !== 200; i++) {
    status = (await create()).statusCode
    if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 100))
  }
  t.equal(status, 200, 'the pool recovers without a restart')
  const statuses = await Promise.all(Array.from({ length: 20 }, async () => (await create()).statusCode))
  t.same(new Set(statuses), new Set([200]), 'every connection of the pool works again')
})
