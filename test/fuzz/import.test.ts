import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import fc from 'fast-check'
import t from 'tap'
import { runImport } from '../../src/cli/import/importer.ts'
import { derivedUuid } from '../../src/domain.ts'
import { storableText } from '../../src/db/json.ts'
import { UUID } from '../../src/domain.ts'
import { TransferRepo } from '../../src/repos/transfer.ts'
import { BACKENDS, openTestDatabase, queryRows } from '../helpers/db.ts'
import { FUZZ, fuzzReport } from '../helpers/fuzz.ts'

// Generated conversation files (odd Unicode, wrong types, deep nesting, impossible dates, broken JSON
// and bytes) at the importer: every file is either imported exactly or listed with a reason, and the
// summary always comes back.

const OWNER = 'fuzz-owner'
const anyText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.string({ unit: fc.constantFrom('\u0000', '\ud800', '\udc00', '😀', '\ufffd', 'é', '"', '\\'), maxLength: 12 })
)
// Up to a few hundred levels here (fast-check prints a failing value recursively); the raw files below go to 200,000.
const deepValue = fc.integer({ min: 1, max: 300 }).map((levels) => JSON.parse(`${'['.repeat(levels)}1${']'.repeat(levels)}`) as unknown)
const odd = fc.oneof(fc.jsonValue({ maxDepth: 3 }), deepValue)

/** Mostly well-typed, sometimes anything: so that most files get far enough to be imported. */
const mostly = <T,>(valid: fc.Arbitrary<T>) => fc.oneof({ arbitrary: valid as fc.Arbitrary<unknown>, weight: 20 }, { arbitrary: odd, weight: 1 })

const userMessage = fc.record({ role: fc.constant('user'), content: mostly(anyText) })
const assistantMessage = fc.record(
  {
    role: fc.constant('assistant'),
    stage1: mostly(fc.array(fc.record({ model: anyText, response: anyText }), { maxLength: 3 })),
    stage2: mostly(fc.array(fc.record({ model: anyText, ranking: anyText, parsed_ranking: fc.array(anyText, { maxLength: 3 }) }), { maxLength: 3 })),
    stage3: mostly(fc.record({ model: anyText, response: anyText })),
    metadata: mostly(fc.dictionary(anyText, fc.jsonValue({ maxDepth: 3 }), { maxKeys: 3 })),
    content: anyText
  },
  { requiredKeys: ['role'] }
)
const timestamp = fc.oneof(
  { weight: 8, arbitrary: fc.date({ min: new Date('1990-01-01'), max: new Date('2090-01-01'), noInvalidDate: true }).map((d) => d.toISOString().replace('Z', '')) },
  { weight: 1, arbitrary: fc.constantFrom('2026-02-30T00:00:00', '2025-13-01 00:00:00', 'yesterday', '', '2026-01-01T10:00:00+02:00') },
  { weight: 1, arbitrary: odd }
)

type Generated = { kind: 'json'; value: Record<string, unknown> } | { kind: 'raw'; bytes: Buffer }
const file: fc.Arbitrary<Generated> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc
      .record(
        {
          id: fc.oneof(fc.uuid(), fc.string({ minLength: 1, maxLength: 20 }), anyText),
          title: mostly(fc.oneof(anyText, fc.constant('t😀'.repeat(400)))),
          created_at: timestamp,
          starred: mostly(fc.boolean()),
          user_id: mostly(fc.oneof(fc.constantFrom('alice', 'bob@example.com'), anyText)),
          messages: mostly(fc.array(fc.oneof(userMessage, assistantMessage), { maxLength: 6 })),
          tags: fc.array(anyText, { maxLength: 2 })
        },
        { requiredKeys: ['id', 'messages'] }
      )
      .map((value) => ({ kind: 'json' as const, value }))
  },
  {
    weight: 1,
    arbitrary: fc.oneof(
      fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
      anyText.map((text) => Buffer.from(text)),
      fc.integer({ min: 1, max: 200_000 }).map((levels) => Buffer.from(`{"id":"x","messages":${'['.repeat(levels)}`)),
      fc.constantFrom(Buffer.from('[]'), Buffer.from('null'), Buffer.from('{"id":"a","messages":[]}\u0000'), Buffer.from([0xef, 0xbb, 0xbf, 0x7b, 0x7d]))
    ).map((bytes) => ({ kind: 'raw' as const, bytes }))
  }
)

for (const backend of BACKENDS.filter((name) => name !== 'pgbouncer')) {
  t.test(`${backend}: every generated file is imported exactly or listed with a reason; the summary always comes back`, async (t) => {
    const database = await openTestDatabase(t, backend)
    const repo = new TransferRepo(database.db)
    const root = mkdtempSync(join(tmpdir(), 'llmc-fuzz-import-'))
    t.teardown(() => rmSync(root, { recursive: true, force: true }))
    let run = 0
    let cases = 0
    const outcomes = new Map<string, number>()
    await fc.assert(
      fc.asyncProperty(fc.array(file, { minLength: 1, maxLength: 5 }), async (files) => {
        const dir = join(root, String(++run))
        mkdirSync(dir)
        // Ids made unique per run, so that every importable file creates a conversation of its own.
        const written = files.map((generated, n) => {
          const path = join(dir, `${n}.json`)
          if (generated.kind === 'raw') {
            writeFileSync(path, generated.bytes)
            return { path, value: null }
          }
          const value = { ...generated.value }
          if (typeof value.id === 'string') value.id = UUID.test(value.id) ? `${value.id.slice(0, 24)}${String(run * 10 + n).padStart(12, '0')}` : `r${run}-${n}-${value.id}`
          writeFileSync(path, JSON.stringify(value))
          return { path, value }
        })
        cases += written.length
        const summary = await runImport(repo, { paths: [dir], defaultUser: OWNER, concurrency: 3 })
        if (summary.files !== written.length) throw new Error(`${summary.files} files read of ${written.length}`)
        const failed = new Map(summary.failures.map((f) => [f.path.split('/').at(-1)!, f.reason]))
        for (const reason of failed.values()) if (!reason) throw new Error('a failure without a reason')
        if (summary.stopped) throw new Error(`the run stopped: ${summary.stopped}`)
        for (const { path, value } of written) {
          const name = path.split('/').at(-1)!
          if (failed.has(name)) {
            outcomes.set('refused with a reason', (outcomes.get('refused with a reason') ?? 0) + 1)
            continue
          }
          if (value === null || typeof value.id !== 'string' || !Array.isArray(value.messages)) {
            // A usage-shaped or otherwise importable raw file is fine; a conversation must be checked.
            outcomes.set('imported (not a conversation file)', (outcomes.get('imported (not a conversation file)') ?? 0) + 1)
            continue
          }
          const owner = typeof value.user_id === 'string' && value.user_id !== '' ? value.user_id : OWNER
          const id = UUID.test(value.id) ? value.id.toLowerCase() : derivedUuid(owner, value.id)
          const stored = await queryRows<{ role: string; content: string | null; stage3: { response?: unknown } | null }>(
            database.db,
            sql`select m.role, m.content, m.stage3 from messages m join conversations c on c.id = m.conversation_id where c.id = ${id} and c.user_id = ${owner} order by m.position`
          )
          const messages = value.messages as { role: string; content?: unknown; stage3?: { response?: unknown } }[]
          if (stored.length !== messages.length) throw new Error(`${name}: ${stored.length} messages stored of ${messages.length} (${JSON.stringify({ ...summary, idMappings: undefined })})`)
          messages.forEach((message, i) => {
            const row = stored[i]!
            if (row.role !== message.role) throw new Error(`${name}: message ${i} is ${row.role}, not ${message.role}`)
            if (message.role === 'user' && row.content !== storableText(message.content as string)) throw new Error(`${name}: message ${i} content differs`)
            const response = message.stage3?.response
            if (message.role === 'assistant' && typeof response === 'string' && row.stage3?.response !== storableText(response)) throw new Error(`${name}: message ${i} answer differs`)
          })
          outcomes.set('imported exactly', (outcomes.get('imported exactly') ?? 0) + 1)
        }
      }),
      { seed: FUZZ.seed, numRuns: FUZZ.runs(300), endOnFailure: true }
    )
    fuzzReport(t, `${backend} import`, cases, outcomes)
  })
}
