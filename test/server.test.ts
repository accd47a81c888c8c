import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { type AddressInfo, connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import postgres from 'postgres'
import t, { type Test } from 'tap'
import { MIGRATION_LOCK_KEY } from '../src/db/migrate.ts'
import { TEST_DATABASE_URL, createPostgresDatabase } from './helpers/db.ts'
import { ROOT, runScript, waitForOutput } from './helpers/process.ts'

const SECRET_URL_PASSWORD = 'pw-should-never-be-logged'
const MIGRATIONS = (JSON.parse(readFileSync(join(ROOT, 'drizzle/meta/_journal.json'), 'utf8')) as { entries: { tag: string }[] }).entries.map((entry) => entry.tag)
const APPLIED = `migrations: applied ${MIGRATIONS.length} (${MIGRATIONS.join(', ')})`
const UP_TO_DATE = `is up to date (latest ${MIGRATIONS.at(-1)})`

async function startServer(env: Record<string, string>) {
  const child = runScript('src/server.ts', { PORT: '0', LOG_LEVEL: 'info', ...env })
  const line = await waitForOutput(child, /Server listening at (http:\/\/127\.0\.0\.1:\d+)/)
  const base = /http:\/\/127\.0\.0\.1:\d+/.exec(line)![0]
  return { child, base }
}

async function stop(child: ReturnType<typeof runScript>) {
  child.kill('SIGTERM')
  return child.done
}

async function restartKeepsData(t: Test, env: Record<string, string>) {
  const first = await startServer(env)
  const createdResponse = await fetch(`${first.base}/api/conversations`, { method: 'POST' })
  const created = await createdResponse.json()
  t.equal(createdResponse.status, 200, JSON.stringify(created))
  const renamed = await fetch(`${first.base}/api/conversations/${created.id}/title`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ title: 'survives restarts' })
  })
  t.equal(renamed.status, 200, 'renamed')
  const firstExit = await stop(first.child)
  t.equal(firstExit.code, 0, 'SIGTERM exits 0')
  t.ok(firstExit.stdout.includes(APPLIED), 'first boot applies the migrations')

  const second = await startServer(env)
  const got = await (await fetch(`${second.base}/api/conversations/${created.id}`)).json()
  t.equal(got.title, 'survives restarts')
  const secondExit = await stop(second.child)
  t.ok(secondExit.stdout.includes(UP_TO_DATE), 'a second boot changes nothing and says so')
  return firstExit.stdout + secondExit.stdout
}

t.test('npm start on the embedded database keeps data across restarts', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'llmc-server-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const logs = await restartKeepsData(t, { PGLITE_DIR: join(dir, 'pglite') })
  t.match(logs, /storage: PGlite in .*pglite/)
})

t.test('npm start on PostgreSQL keeps data across restarts', { skip: !TEST_DATABASE_URL && 'TEST_DATABASE_URL is not set' }, async (t) => {
  const url = new URL(await createPostgresDatabase(t))
  const logs = await restartKeepsData(t, { DATABASE_URL: url.toString() })
  t.match(logs, new RegExp(`storage: PostgreSQL ${url.hostname}:${url.port || 5432}${url.pathname}`))
  t.notMatch(logs, /postgres:\/\//, 'the connection string is never logged')
})

t.test('development falls back to the embedded database when DATABASE_URL is unreachable', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'llmc-fallback-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const { child, base } = await startServer({
    DATABASE_URL: `postgres://user:${SECRET_URL_PASSWORD}@127.0.0.1:1/nowhere`,
    PGLITE_DIR: join(dir, 'pglite')
  })
  t.equal((await fetch(`${base}/readyz`)).status, 200)
  const { stdout, stderr } = await stop(child)
  t.match(stdout, /cannot reach PostgreSQL 127\.0\.0\.1:1\/nowhere; falling back to the embedded database/)
  t.notMatch(stdout + stderr, SECRET_URL_PASSWORD)
})

t.test('a second process on the same PGlite directory is refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'llmc-lock-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const env = { PGLITE_DIR: join(dir, 'pglite') }
  const first = await startServer(env)
  const second = await runScript('src/server.ts', { ...env, PORT: '0' }).done
  t.not(second.code, 0)
  t.match(second.stderr, new RegExp(`PGLITE_DIR .*pglite is in use by pid ${first.child.pid}`))
  // The same directory through a symlink, and through a symlinked parent: the same lock.
  symlinkSync(join(dir, 'pglite'), join(dir, 'alias'))
  symlinkSync(dir, `${dir}-parent-alias`)
  t.teardown(() => rmSync(`${dir}-parent-alias`, { force: true }))
  for (const alias of [join(dir, 'alias'), join(`${dir}-parent-alias`, 'pglite')]) {
    const third = await runScript('src/server.ts', { PGLITE_DIR: alias, PORT: '0' }).done
    t.not(third.code, 0, alias)
    t.match(third.stderr, new RegExp(`^llm-council-server: PGLITE_DIR .* is in use by pid ${first.child.pid}: stop that process or set another PGLITE_DIR\n$`), 'one line')
  }
  t.equal((await fetch(`${first.base}/readyz`)).status, 200, 'the first process is unharmed')
  await stop(first.child)
})

t.test('production rules: a clear line, a non-zero exit, no secret', async (t) => {
  const secret = 'sk-or-this-is-secret'
  const cases: [string, Record<string, string>, RegExp][] = [
    ['no DATABASE_URL', { AUTH_MODE: 'header', OPENROUTER_API_KEY: secret }, /DATABASE_URL is required in production/],
    [
      'malformed DATABASE_URL',
      { DATABASE_URL: `mysql://u:${SECRET_URL_PASSWORD}@h/db`, AUTH_MODE: 'header', OPENROUTER_API_KEY: secret },
      /DATABASE_URL is malformed/
    ],
    [
      'AUTH_MODE=none',
      { DATABASE_URL: `postgres://u:${SECRET_URL_PASSWORD}@127.0.0.1/db`, OPENROUTER_API_KEY: secret },
      /AUTH_MODE=none is not allowed in production/
    ],
    [
      'no API key for the hosted LLM API',
      { DATABASE_URL: `postgres://u:${SECRET_URL_PASSWORD}@127.0.0.1/db`, AUTH_MODE: 'header' },
      /OPENROUTER_API_KEY is required in production/
    ],
    [
      'the demo provider',
      {
        DATABASE_URL: `postgres://u:${SECRET_URL_PASSWORD}@127.0.0.1/db`,
        AUTH_MODE: 'header',
        OPENROUTER_API_KEY: secret,
        LLM_PROVIDER: 'demo'
      },
      /LLM_PROVIDER=demo is not allowed in production/
    ]
  ]
  for (const [name, env, expected] of cases) {
    const result = await runScript('src/server.ts', { NODE_ENV: 'production', ...env }).done
    t.equal(result.code, 1, `${name}: exits 1`)
    t.match(result.stderr, expected, name)
    t.equal(result.stderr.trim().split('\n').length, 1, `${name}: one line`)
    t.notMatch(result.stdout + result.stderr, SECRET_URL_PASSWORD, `${name}: no password`)
    t.notMatch(result.stdout + result.stderr, secret, `${name}: no API key`)
  }
})

t.test("startup waits for another instance's migration past Fastify's 10 s plugin timeout, and says so", { skip: !TEST_DATABASE_URL && 'TEST_DATABASE_URL is not set' }, async (t) => {
  const url = await createPostgresDatabase(t)
  const holder = postgres(url, { max: 1, onnotice: () => {} })
  t.teardown(() => holder.end())
  await holder`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`
  const child = runScript('src/server.ts', { PORT: '0', DATABASE_URL: url })
  t.teardown(() => child.kill('SIGKILL'))
  await waitForOutput(child, /waiting for another instance's migration/)
  // Longer than Fastify's default plugin timeout (10 s), after which the server used to exit.
  await sleep(12_000)
  t.equal(child.exitCode, null, 'still waiting, not exited')
  await holder`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`
  const line = await waitForOutput(child, /Server listening at (http:\/\/127\.0\.0\.1:\d+)/)
  const base = /http:\/\/127\.0\.0\.1:\d+/.exec(line)![0]
  t.equal((await fetch(`${base}/readyz`)).status, 200)
  const exit = await stop(child)
  t.equal(exit.code, 0)
  t.ok(exit.stdout.includes(APPLIED), 'it migrated once the lock was free')
})

t.test('startup gives up at DB_STARTUP_TIMEOUT_MS with one line saying why', { skip: !TEST_DATABASE_URL && 'TEST_DATABASE_URL is not set' }, async (t) => {
  const url = await createPostgresDatabase(t)
  const holder = postgres(url, { max: 1, onnotice: () => {} })
  t.teardown(() => holder.end())
  await holder`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`
  const exit = await runScript('src/server.ts', { PORT: '0', DATABASE_URL: url, DB_STARTUP_TIMEOUT_MS: '3000' }).done
  t.equal(exit.code, 1)
  t.match(exit.stderr, /^llm-council-server: gave up after \d+ s waiting for another instance's migration .*DB_STARTUP_TIMEOUT_MS/)
  t.equal(exit.stderr.trim().split('\n').length, 1, 'one line, no stack trace')
})

t.test("a database holding another system's tables: one line pointing to import-db, nothing changed", { skip: !TEST_DATABASE_URL && 'TEST_DATABASE_URL is not set' }, async (t) => {
  const url = await createPostgresDatabase(t)
  const sql = postgres(url, { max: 1, onnotice: () => {} })
  t.teardown(() => sql.end())
  await sql.unsafe(readFileSync(join(ROOT, 'test/fixtures/old-schema/json.sql'), 'utf8'))
  const tablesBefore = await sql`select table_schema, table_name from information_schema.tables where table_schema not in ('pg_catalog', 'information_schema') order by 1, 2`
  for (const env of [{}, { NODE_ENV: 'production', AUTH_MODE: 'header', OPENROUTER_API_KEY: 'k' }] as Record<string, string>[]) {
    const exit = await runScript('src/server.ts', { PORT: '0', DATABASE_URL: url, ...env }).done
    t.equal(exit.code, 1)
    t.match(exit.stderr, /^llm-council-server: PostgreSQL .* already holds tables named like this server's \(conversations, messages, usage\) that its migrations did not create .*npm run import-db -- --from <this database URL>\n$/)
    t.equal(exit.stderr.trim().split('\n').length, 1, 'one line, no stack trace')
    t.notMatch(exit.stdout, /falling back/, 'no fallback to the embedded database')
  }
  const tablesAfter = await sql`select table_schema, table_name from information_schema.tables where table_schema not in ('pg_catalog', 'information_schema') order by 1, 2`
  t.same(tablesAfter, tablesBefore, 'no table created, none changed')
})

t.test('production: an unreachable database is retried with backoff, then one line, no stack, no password', async (t) => {
  const exit = await runScript('src/server.ts', {
    NODE_ENV: 'production',
    PORT: '0',
    DATABASE_URL: `postgres://u:${SECRET_URL_PASSWORD}@127.0.0.1:1/council`,
    AUTH_MODE: 'header',
    OPENROUTER_API_KEY: 'sk-test',
    DB_STARTUP_TIMEOUT_MS: '8000'
  }).done
  t.equal(exit.code, 1)
  t.match(exit.stdout, /cannot reach PostgreSQL 127\.0\.0\.1:1\/council \(ECONNREFUSED\); retrying in 1 s/)
  t.match(exit.stdout, /retrying in 2 s/, 'backing off')
  t.match(exit.stderr, /^llm-council-server: cannot reach PostgreSQL 127\.0\.0\.1:1\/council \(ECONNREFUSED\) after 8 s/)
  t.equal(exit.stderr.trim().split('\n').length, 1, 'one line, no stack trace')
  t.notMatch(exit.stdout + exit.stderr, SECRET_URL_PASSWORD)
})

t.test('production: a database that comes up after the server starts is waited for', { skip: !TEST_DATABASE_URL && 'TEST_DATABASE_URL is not set' }, async (t) => {
  const url = new URL(await createPostgresDatabase(t))
  // A port with nothing on it yet; the "database" appears there (a forwarder to the real one) a moment later.
  const probe = createServer().listen(0, '127.0.0.1')
  await once(probe, 'listening')
  const port = (probe.address() as AddressInfo).port
  probe.close()
  const late = new URL(url)
  late.hostname = '127.0.0.1'
  late.port = String(port)
  const child = runScript('src/server.ts', {
    NODE_ENV: 'production',
    PORT: '0',
    DATABASE_URL: late.toString(),
    AUTH_MODE: 'header',
    OPENROUTER_API_KEY: 'sk-test'
  })
  t.teardown(() => child.kill('SIGKILL'))
  await waitForOutput(child, /retrying in/)
  // A connection reset when the server stops (its LISTEN connection among them) ends that pair, nothing more.
  const forwarder = createServer((socket) => {
    const upstream = connect(Number(url.port || 5432), url.hostname)
    for (const end of [socket, upstream]) end.on('error', () => [socket, upstream].forEach((s) => s.destroy()))
    socket.pipe(upstream).pipe(socket)
  }).listen(port, '127.0.0.1')
  t.teardown(() => forwarder.close())
  await waitForOutput(child, /Server listening at/)
  const exit = await stop(child)
  t.equal(exit.code, 0)
})

t.test('SEARCH_LANGUAGE: an unknown one stops startup with one line; a new one re-indexes what is stored', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'llmc-server-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const env = { PGLITE_DIR: join(dir, 'pglite') }
  const unknown = await runScript('src/server.ts', { ...env, PORT: '0', SEARCH_LANGUAGE: 'klingon' }).done
  t.not(unknown.code, 0)
  t.match(unknown.stderr + unknown.stdout, /SEARCH_LANGUAGE=klingon is not a text search configuration of this database; it has .*english.*simple/)

  const first = await startServer(env)
  const created = await (await fetch(`${first.base}/api/conversations`, { method: 'POST' })).json()
  await fetch(`${first.base}/api/conversations/${created.id}/title`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: 'Running notes' }) })
  const english = await (await fetch(`${first.base}/api/search?q=run`)).json()
  t.same(english.map((r: { id: string }) => r.id), [created.id], 'english: "run" finds "Running"')
  await stop(first.child)

  const second = await startServer({ ...env, SEARCH_LANGUAGE: 'simple' })
  // Re-indexing runs in the background: the title is found under the new language once it is done.
  let found = []
  while (found.length === 0) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    found = await (await fetch(`${second.base}/api/search?q=running`)).json()
  }
  t.same(found.map((r: { id: string }) => r.id), [created.id])
  t.same(await (await fetch(`${second.base}/api/search?q=run`)).json(), [], 'simple: no stemming')
  t.match((await stop(second.child)).stdout, /search: re-indexing done \(1 rows\)/)
})
