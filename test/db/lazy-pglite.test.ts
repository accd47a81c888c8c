import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { ROOT } from '../helpers/process.ts'

t.test('the server loads PGlite only when it opens PGlite (a PostgreSQL server never holds its code)', async (t) => {
  const program = `
    await import(${JSON.stringify(join(ROOT, 'src/app.ts'))})
    const { migrateDatabase } = await import(${JSON.stringify(join(ROOT, 'src/db/migrate.ts'))})
    const { openPglite } = await import(${JSON.stringify(join(ROOT, 'src/db/client.ts'))})
    console.error('OPENING')
    const database = await openPglite('memory://')
    await migrateDatabase(database, {})
    await database.close()`
  const { stderr } = await promisify(execFile)(
    process.execPath,
    ['--import', join(ROOT, 'test/fixtures/report-pglite-imports.mjs'), '--import', 'tsx', '--input-type=module', '-e', program],
    { cwd: ROOT }
  )
  const [before, after = ''] = stderr.split('OPENING')
  t.notMatch(before!, /LOADED .*node_modules/, 'nothing of PGlite is loaded by the app and the database modules')
  t.match(after, /LOADED .*@electric-sql\/pglite/, 'PGlite itself, when opened')
  t.match(after, /LOADED .*drizzle-orm\/pglite\/migrator/, 'and its migrator, when migrating')
})
