import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import t from 'tap'
import { openPglite, openPostgres } from '../../src/db/client.ts'
import { queryRows } from '../helpers/db.ts'
import { POOL, TEST_DATABASE_URL, createPostgresDatabase } from '../helpers/db.ts'
import { generateDataDir } from '../helpers/generate.ts'
import { ROOT, runScript, waitForOutput } from '../helpers/process.ts'

const SAMPLES = join(ROOT, 'test/fixtures/llm-council-data')

function tmp(t: { teardown(fn: () => void): void }, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

t.test('exit codes, plain progress lines and the summary', async (t) => {
  const dir = tmp(t, 'llmc-cli-')
  const env = { PGLITE_DIR: join(dir, 'pglite') }

  const withBad = await runScript('src/cli/import-json.ts', env, ['--user', 'me', SAMPLES]).done
  t.equal(withBad.code, 1, 'some files failed: 1')
  t.match(withBad.stdout, /21 files read\nconversations: 17 created, 0 updated, 0 unchanged\nmessages: 72 added/)
  t.match(withBad.stdout, /files that could not be imported \(2\):\n {2}.*3fb02620-447b-4277-ba12-a494b6ee647d\.json: invalid JSON/)
  t.match(withBad.stdout, /legacy-1 -> [0-9a-f-]{36}/)
  t.match(withBad.stderr, /^import-json: into PGlite in .*pglite\n/)
  t.match(withBad.stderr, /progress: 21\/21 files, 17 conversations, 72 messages, \d+ files\/s, ETA 0s/, 'plain progress lines when not a terminal')

  const good = join(dir, 'good')
  cpSync(join(SAMPLES, 'conversations', 'firebase-uid-alice'), good, { recursive: true })
  const allGood = await runScript('src/cli/import-json.ts', env, [good]).done
  t.equal(allGood.code, 0, 'everything went in: 0')
  t.match(allGood.stdout, /conversations: 0 created, 0 updated, 2 unchanged/)

  const dry = await runScript('src/cli/import-json.ts', { PGLITE_DIR: join(dir, 'other') }, ['--dry-run', good]).done
  t.equal(dry.code, 0)
  t.match(dry.stdout, /^dry run: nothing was written\. 2 files read\nconversations: 2 would be created/)

  const cases: [string, string[], Record<string, string>, RegExp][] = [
    ['no paths', [], env, /name at least one file or directory to import\nusage: npm run import-json/],
    ['an unknown option', ['--frobnicate', good], env, /Unknown option '--frobnicate'/],
    ['a path that does not exist', [join(dir, 'missing')], env, /no such file or directory: .*missing/],
    ['a bad concurrency', ['--concurrency', '0', good], env, /--concurrency must be 1 to 64/],
    ['a malformed DATABASE_URL', [good], { DATABASE_URL: 'mysql://x' }, /DATABASE_URL is malformed/],
    ['an unreachable DATABASE_URL', [good], { DATABASE_URL: 'postgres://u:sekrit@127.0.0.1:1/db', PGLITE_DIR: join(dir, 'never') }, /cannot open the database: ECONNREFUSED/]
  ]
  for (const [name, args, caseEnv, expected] of cases) {
    const run = await runScript('src/cli/import-json.ts', caseEnv, args).done
    t.equal(run.code, 2, `${name}: 2`)
    t.match(run.stderr, expected, name)
    t.notMatch(run.stderr, 'sekrit')
  }
  t.throws(() => readdirSync(join(dir, 'never')), 'never falls back to the embedded database')

  const help = await runScript('src/cli/import-json.ts', env, ['--help']).done
  t.equal(help.code, 0)
  t.match(help.stdout, /--backup <dir>/)

  const out = join(dir, 'export')
  const exported = await runScript('src/cli/export-json.ts', env, [out]).done
  t.equal(exported.code, 0)
  t.match(exported.stdout, /exported 17 conversations \(72 messages\) and 2 usage files/)
  t.same(readdirSync(join(out, 'conversations')).sort(), ['firebase-uid-alice', 'firebase-uid-bob', 'me'])
  const badExport = await runScript('src/cli/export-json.ts', env, []).done
  t.equal(badExport.code, 2)
  t.match(badExport.stderr, /name exactly one directory/)
})

t.test('refused while a server holds the embedded database', async (t) => {
  const dir = tmp(t, 'llmc-held-')
  const server = runScript('src/server.ts', { PGLITE_DIR: join(dir, 'pglite'), PORT: '0' })
  await waitForOutput(server, /Server listening/)
  const run = await runScript('src/cli/import-json.ts', { PGLITE_DIR: join(dir, 'pglite') }, [SAMPLES]).done
  t.equal(run.code, 2)
  t.match(run.stderr, /PGLITE_DIR .* is in use by pid \d+: .* \(stop the server first\)/)
  server.kill('SIGTERM')
  await server.done
})

for (const backend of TEST_DATABASE_URL ? ['pglite', 'postgres'] : ['pglite']) {
  t.test(`${backend}: an import killed midway, run again, ends complete with no duplicates`, async (t) => {
    const dir = tmp(t, 'llmc-kill-')
    const messages = generateDataDir(join(dir, 'data'), 3000, { size: 1500 })
    const env: Record<string, string> =
      backend === 'postgres' ? { DATABASE_URL: await createPostgresDatabase(t) } : { PGLITE_DIR: join(dir, 'pglite') }

    const first = runScript('src/cli/import-json.ts', env, [join(dir, 'data')])
    // Kill it a moment after it has started writing.
    await new Promise<void>((resolve) => {
      const onData = (chunk: Buffer) => {
        const done = /progress: (\d+)\//.exec(String(chunk))
        if (done && Number(done[1]) > 0) {
          first.stderr!.off('data', onData)
          setTimeout(resolve, 200)
        }
      }
      first.stderr!.on('data', onData)
      first.on('close', () => resolve())
    })
    first.kill('SIGKILL')
    const killed = await first.done
    t.equal(killed.signal, 'SIGKILL')

    const second = await runScript('src/cli/import-json.ts', env, [join(dir, 'data')]).done
    t.equal(second.code, 0, second.stderr)
    const [created, unchanged] = /conversations: (\d+) created, \d+ updated, (\d+) unchanged/.exec(second.stdout)!.slice(1).map(Number)
    t.ok(unchanged! > 0, `the first run had imported ${unchanged} before it was killed`)
    t.equal(created! + unchanged!, 3000)

    const database = backend === 'postgres' ? openPostgres(env.DATABASE_URL!, POOL) : await openPglite(join(dir, 'pglite'))
    t.teardown(() => database.close())
    const [row] = await queryRows<{ c: number; m: number; bad: number }>(
      database.db,
      sql`select (select count(*) from conversations)::int as c, (select count(*) from messages)::int as m,
                 (select count(*) from conversations c where message_count <> (select count(*) from messages where conversation_id = c.id))::int as bad`
    )
    t.same([Number(row!.c), Number(row!.m), Number(row!.bad)], [3000, messages, 0], 'every conversation complete, once')
  })
}
