import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import { DrizzleQueryError } from 'drizzle-orm/errors'
import t from 'tap'
import { runExport } from '../../src/cli/export/exporter.ts'
import { userFolder, folderUser } from '../../src/cli/folder-names.ts'
import { failureReason } from '../../src/cli/import/failure.ts'
import { runImport } from '../../src/cli/import/importer.ts'
import { MAX_FILE_DEPTH, decodeFile } from '../../src/cli/import/parse.ts'
import { TransferRepo } from '../../src/repos/transfer.ts'
import { BACKENDS, openTestDatabase, queryRows } from '../helpers/db.ts'
import { runScript } from '../helpers/process.ts'

function tmp(t: { teardown(fn: () => void): void }, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

const answer = (response: unknown) => ({ role: 'assistant', stage1: [{ model: 'm', response }], stage2: [], stage3: { model: 'm', response: 'final' } })
const conversation = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  created_at: '2025-03-01T10:00:00',
  title: `t ${id}`,
  messages: [{ role: 'user', content: 'q' }, answer('a')],
  ...extra
})
const write = (path: string, value: unknown) => writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value))
const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`

for (const backend of BACKENDS.filter((b) => b !== 'pgbouncer')) {
  t.test(`${backend}: hostile files are each refused with a reason before the database; the rest go in`, async (t) => {
    const database = await openTestDatabase(t, backend)
    const dir = tmp(t, 'llmc-hostile-')
    const deep = (levels: number) => `${'['.repeat(levels)}"x"${']'.repeat(levels)}`
    write(join(dir, 'good.json'), conversation(id(1)))
    write(join(dir, 'deep-stage.json'), `{"id":"${id(2)}","messages":[{"role":"assistant","stage1":[{"model":"m","response":${deep(2000)}}]}]}`)
    write(join(dir, 'deep-top.json'), deep(100_000))
    write(join(dir, 'surrogate.json'), `{"id":"${id(3)}","title":"half \\ud83d pair","messages":[{"role":"user","content":"lone \\udc00"},${JSON.stringify(answer('x'))}]}`)
    write(join(dir, 'feb-30.json'), conversation(id(4), { created_at: '2026-02-30T10:00:00' }))
    write(join(dir, 'hour-25.json'), conversation(id(5), { created_at: '2026-01-10 25:00:00' }))
    write(join(dir, 'after.json'), conversation(id(6)))
    writeFileSync(join(dir, 'latin1.json'), Buffer.concat([Buffer.from(`{"id":"${id(7)}","title":"caf`), Buffer.from([0xe9, 0xff]), Buffer.from('","messages":[]}')]))

    const summary = await runImport(new TransferRepo(database.db), { paths: [dir], defaultUser: 'me' })
    const reasons = Object.fromEntries(summary.failures.map((f) => [f.path.split('/').at(-1), f.reason]))
    t.same(reasons, {
      'deep-stage.json': `nested more than ${MAX_FILE_DEPTH} levels deep: not an llm-council file`,
      'deep-top.json': `nested more than ${MAX_FILE_DEPTH} levels deep: not an llm-council file`,
      'feb-30.json': 'created_at "2026-02-30T10:00:00" is not a real date and time',
      'hour-25.json': 'created_at "2026-01-10 25:00:00" is not a real date and time'
    })
    t.equal(summary.conversationsCreated, 4, 'good, surrogate, after and latin1 went in')
    t.equal(summary.replacedCharacters, 2, 'the two half surrogate pairs were replaced and counted')
    t.equal(summary.invalidUtf8, 2, 'the two invalid UTF-8 bytes were counted')
    const rows = await queryRows<{ title: string; content: string | null }>(database.db, sql`select c.title, m.content from conversations c left join messages m on m.conversation_id = c.id and m.position = 0 where c.id in (${id(3)}, ${id(7)}) order by c.id`)
    t.same(rows, [{ title: 'half \ufffd pair', content: 'lone \ufffd' }, { title: 'caf\ufffd\ufffd', content: null }])
  })
}

t.test('only regular files are read: FIFOs, links and loops are skipped and listed, the run goes on', async (t) => {
  const database = await openTestDatabase(t, 'pglite')
  const dir = tmp(t, 'llmc-special-')
  const data = join(dir, 'data')
  mkdirSync(data)
  write(join(data, 'a.json'), conversation(id(11)))
  execFileSync('mkfifo', [join(data, 'pipe.json')])
  execFileSync('mkfifo', [join(dir, 'arg-pipe.json')])
  write(join(dir, 'outside.json'), conversation(id(12)))
  symlinkSync(join(dir, 'outside.json'), join(data, 'link.json'))
  symlinkSync(join(dir, 'loop-b.json'), join(dir, 'loop-a.json'))
  symlinkSync(join(dir, 'loop-a.json'), join(dir, 'loop-b.json'))
  const summary = await runImport(new TransferRepo(database.db), { paths: [data, join(dir, 'arg-pipe.json'), join(dir, 'loop-a.json'), join(dir, 'outside.json')], defaultUser: 'me' })
  const skipped = Object.fromEntries(summary.skipped.map((s) => [s.path.split('/').at(-1), s.reason]))
  t.same(skipped, {
    'pipe.json': 'a FIFO',
    'link.json': 'a symbolic link (not followed inside a directory)',
    'arg-pipe.json': 'a FIFO',
    'loop-a.json': 'a symbolic link that loops'
  })
  t.equal(summary.conversationsCreated, 2, 'the regular files went in')
  t.same(summary.failures, [])
})

t.test('why a file was refused: the real reason, never the statement or the data', async (t) => {
  const secret = 'a question nobody else may read'
  const driver = Object.assign(new Error('value too long for type character varying(500)'), { code: '22001', detail: secret })
  const refused = new DrizzleQueryError('insert into "conversations" values ($1, $2)', [secret, 1])
  Object.defineProperty(refused, 'cause', { value: driver })
  t.equal(failureReason(refused), 'the database refused it: value too long for type character varying(500) (SQLSTATE 22001)')
  t.equal(failureReason(driver), 'the database refused it: value too long for type character varying(500) (SQLSTATE 22001)')
  t.equal(failureReason(new RangeError('Invalid string length')), 'could not be imported (RangeError: Invalid string length)')

  const database = await openTestDatabase(t, 'pglite')
  const dir = tmp(t, 'llmc-refusal-')
  for (let n = 20; n < 26; n++) write(join(dir, `${n}.json`), conversation(id(n)))
  const repo = new TransferRepo(database.db)
  const poisoned = (batch: { id: string }[]) => batch.some((c) => c.id === id(22))
  const createMany = repo.createConversations.bind(repo)
  const createOne = repo.createConversation.bind(repo)
  repo.createConversations = async (batch) => (poisoned(batch) ? Promise.reject(refused) : createMany(batch))
  repo.createConversation = async (c) => (poisoned([c]) ? Promise.reject(refused) : createOne(c))
  const summary = await runImport(repo, { paths: [dir], defaultUser: 'me' })
  t.same(summary.failures.map((f) => f.reason), ['the database refused it: value too long for type character varying(500) (SQLSTATE 22001)'])
  t.notMatch(JSON.stringify(summary), secret)
  t.equal(summary.conversationsCreated, 5, 'one refused file does not sink the batch')
})

t.test('files over --max-file-mb are refused each with a line, bounded memory, the summary always printed', async (t) => {
  const dir = tmp(t, 'llmc-large-')
  const data = join(dir, 'data')
  mkdirSync(data)
  write(join(data, 'small.json'), conversation(id(31)))
  // Sparse: 300 MB on paper, nothing on disk; refused on its size, never read.
  write(join(data, 'huge.json'), '')
  truncateSync(join(data, 'huge.json'), 300 * 1024 * 1024)
  write(join(data, 'two-mb.json'), conversation(id(32), { title: 'x'.repeat(400), messages: [{ role: 'user', content: 'y'.repeat(2 * 1024 * 1024) }] }))
  const run = await runScript('src/cli/import-json.ts', { PGLITE_DIR: join(dir, 'pglite'), NODE_OPTIONS: '--max-old-space-size=128' }, ['--max-file-mb', '1', data]).done
  t.equal(run.code, 1, 'some files not imported: 1')
  t.match(run.stdout, /3 files read\nconversations: 1 created/)
  t.match(run.stdout, /huge\.json: 300 MB, over the 1 MB a file may be \(--max-file-mb\)/)
  t.match(run.stdout, /two-mb\.json: 2 MB, over the 1 MB a file may be/)
  const defaults = await runScript('src/cli/import-json.ts', { PGLITE_DIR: join(dir, 'pglite'), NODE_OPTIONS: '--max-old-space-size=128' }, [data]).done
  t.match(defaults.stdout, /huge\.json: 300 MB, over the 32 MB a file may be/, 'the default limit')
  t.match(defaults.stdout, /conversations: 1 created, 0 updated, 1 unchanged/, 'a 2 MB file is fine by default')
  const bad = await runScript('src/cli/import-json.ts', { PGLITE_DIR: join(dir, 'pglite') }, ['--max-file-mb', 'lots', data]).done
  t.equal(bad.code, 2)
  t.match(bad.stderr, /--max-file-mb must be a number of MB/)
})

t.test('decodeFile counts invalid UTF-8, not the replacement characters a file already held', async (t) => {
  t.same(decodeFile(Buffer.from('{"a":"\ufffd ok"}')), { text: '{"a":"\ufffd ok"}', invalidUtf8: 0 })
  t.same(decodeFile(Buffer.concat([Buffer.from('\ufffd'), Buffer.from([0xc3]), Buffer.from(' ')])), { text: '\ufffd\ufffd ', invalidUtf8: 1 })
  t.same(decodeFile(Buffer.from('\ufeff{"a":1}')), { text: '{"a":1}', invalidUtf8: 0 }, 'a byte-order mark is dropped')
})

t.test('export-json names folders safely for any user id, and import reads them back to the same users', async (t) => {
  const ids = ['a/b', '..', '.hidden', 'x'.repeat(128), '😀'.repeat(128), 'ü'.repeat(100), 'tab\\back', 'alice@example.com', '%41', 'CON']
  for (const userId of ids) {
    const name = userFolder(userId)
    t.ok(Buffer.byteLength(name) <= 200, `${userId.slice(0, 12)}: at most 200 bytes`)
    t.match(name, /^[A-Za-z0-9@+_.%~-]+$/, 'only safe characters')
    t.notOk(name.startsWith('.'), 'never hidden, . or ..')
    if (!/~[0-9a-f]{16}$/.test(name)) t.equal(folderUser(name), userId, 'decodes back')
  }
  const database = await openTestDatabase(t, 'pglite')
  const dir = tmp(t, 'llmc-names-')
  const source = join(dir, 'source')
  mkdirSync(source)
  ids.forEach((userId, n) => write(join(source, `${n}.json`), { ...conversation(id(40 + n)), user_id: userId }))
  const repo = new TransferRepo(database.db)
  const imported = await runImport(repo, { paths: [source], defaultUser: 'me' })
  t.equal(imported.conversationsCreated, ids.length)
  for (const userId of ids) await repo.createUsage({ kind: 'usage', userId, tier: 'pro', dailyUsed: 1, monthlyUsed: 2, totalQueries: 3, lastResetDaily: null, lastResetMonthly: null })
  const out = join(dir, 'out')
  const exported = await runExport(repo, { dir: out })
  t.match(exported, { conversations: ids.length, usage: ids.length })
  t.equal(readdirSync(join(out, 'conversations')).length, ids.length, 'a folder per user, none clashing')

  const again = await openTestDatabase(t, 'pglite')
  const back = await runImport(new TransferRepo(again.db), { paths: [out], defaultUser: 'nobody' })
  t.match(back, { failures: [], skipped: [], conversationsCreated: ids.length, usageCreated: ids.length })
  const owners = async (db: typeof database.db) => (await queryRows<{ user_id: string }>(db, sql`select user_id from conversations union all select user_id from usage order by 1`)).map((r) => r.user_id)
  t.same(await owners(again.db), await owners(database.db), 'the same users own the same data')
})
