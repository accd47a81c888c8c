import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { TEST_DATABASE_URL, createPostgresDatabase } from './helpers/db.ts'
import { runScript, waitForOutput } from './helpers/process.ts'

const SECRET_URL_PASSWORD = 'pw-should-never-be-logged'

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
  t.match(firstExit.stdout, /migrations: applied 1 \(0000_init\)/, 'first boot applies the migration')

  const second = await startServer(env)
  const got = await (await fetch(`${second.base}/api/conversations/${created.id}`)).json()
  t.equal(got.title, 'survives restarts')
  const secondExit = await stop(second.child)
  t.match(secondExit.stdout, /is up to date \(latest 0000_init\)/, 'a second boot changes nothing and says so')
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
