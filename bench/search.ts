// npm run bench, find and share: search at 1,000 and 100,000 stored conversations (a fifth of them the
// searching user's), the size of its indexes, and exporting a 40-message conversation.
import { performance } from 'node:perf_hooks'
import { sql } from 'drizzle-orm'
import { type Database, openPostgres } from '../src/db/client.ts'
import { migrateDatabase } from '../src/db/migrate.ts'
import { SearchRepo } from '../src/repos/search.ts'
import { TransferRepo } from '../src/repos/transfer.ts'
import { conversationFile } from '../test/helpers/generate.ts'
import { loadConfig } from '../src/config.ts'
import { buildApp } from '../src/app.ts'
import { inProcess } from './measure.ts'

export const USER = 'bench-searcher'
const SECONDS = Number(process.env.BENCH_SEARCH_SECONDS ?? 5)
const SCALES = (process.env.BENCH_SEARCH_SCALES ?? '1000,100000').split(',').map(Number)
const POOL = { poolMax: 10, prepare: true, connectTimeoutMs: 5000, statementTimeoutMs: 120000, slowQueryMs: 100000, startupTimeoutMs: 120000 }
const f = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '–')

// 2,000 made-up words, drawn with a skew (the first ones in most answers, as "the" or "data" would be).
const VOCABULARY = Array.from({ length: 2000 }, (_, i) => {
  const syllables = ['ka', 'lo', 'mi', 'ne', 'ru', 'sa', 'ti', 'vo', 'ze', 'pa', 'qui', 'dor']
  let word = ''
  for (let n = i + 12; n > 0; n = Math.floor(n / 12)) word += syllables[n % 12]
  return word
})
export const COMMON = VOCABULARY[0]!
// Planted in three of the user's conversations at every scale.
export const RARE = 'quantum marmalade'

/** Conversations `from`..`to`: one in five the user's, each a question and an answer (three members, a synthesis). */
export async function seed(database: Database, from: number, to: number): Promise<void> {
  const words = (count: number, skew: number, offset = 0) =>
    sql.raw(`(select string_agg(w[${offset + 1} + i * 0 + floor(${2000 - offset} * power(random(), ${skew}))::int], ' ') from generate_series(1, ${count} + 0 * g) i)`)
  await database.db.execute(sql`with v as (select ${`{${VOCABULARY.join(',')}}`}::text[] as w)
    insert into conversations (user_id, title, message_count, created_at, updated_at)
    select case when g % 5 = 0 then ${USER} else 'user-' || (g % 900) end, ${words(4, 1, 100)}, 2,
           now() - make_interval(secs => g), now() - make_interval(secs => g)
      from v, generate_series(${from}::int, ${to}::int) g`)
  await database.db.execute(sql`with v as (select ${`{${VOCABULARY.join(',')}}`}::text[] as w)
    insert into messages (conversation_id, position, role, content, stage1, stage3)
    select c.id, p, case when p = 0 then 'user' else 'assistant' end,
           case when p = 0 then ${words(20, 3)} end,
           case when p = 1 then jsonb_build_array(
             jsonb_build_object('model', 'm/one', 'response', ${words(60, 3)}),
             jsonb_build_object('model', 'm/two', 'response', ${words(60, 3)}),
             jsonb_build_object('model', 'm/three', 'response', ${words(60, 3)})) end,
           case when p = 1 then jsonb_build_object('model', 'm/chair', 'response', ${words(80, 3)}) end
      from v, (select id, row_number() over () as g from conversations where message_count = 2 and not exists (select 1 from messages m where m.conversation_id = conversations.id)) c,
           generate_series(0, 1) p`)
  if (from === 1) {
    await database.db.execute(sql`update messages set stage3 = jsonb_build_object('model', 'm/chair', 'response', 'It tastes like ' || ${RARE} || ' on toast.')
      where role = 'assistant' and conversation_id in (select id from conversations where user_id = ${USER} order by updated_at desc offset 10 limit 3)`)
  }
}

async function indexSizes(database: Database): Promise<string> {
  const [row] = await database.db
    .select({
      gin: sql<number>`(pg_relation_size('conversations_search_idx') + pg_relation_size('messages_search_idx') + pg_relation_size('messages_search_council_idx'))::float8`,
      vectors: sql<number>`(select sum(pg_column_size(search) + pg_column_size(search_council))::float8 from messages)`,
      table: sql<number>`pg_total_relation_size('messages')::float8`
    })
    .from(sql`(select 1) one`)
  return `GIN indexes ${f(row!.gin / 2 ** 20)} MB, stored word vectors ${f(row!.vectors / 2 ** 20)} MB (messages table in all ${f(row!.table / 2 ** 20)} MB)`
}

export async function searchAndExport(
  freshPostgres: (name: string) => Promise<string>,
  dropPostgres: (name: string) => Promise<void>,
  log: (line: string) => void
): Promise<string[]> {
  const name = `llmc_bench_search_${process.pid}`
  const url = await freshPostgres(name)
  const database = openPostgres(url, POOL)
  const lines: string[] = []
  try {
    await migrateDatabase(database, { migrationUrl: url, pool: POOL })
    const search = new SearchRepo(database.db, 'english')
    const queries = { 'a common word': COMMON, 'a rare phrase': `"${RARE}"` }
    const results: Record<string, Record<number, { p50: number; p99: number; found: number }>> = {}
    let stored = 0
    let sizes = ''
    for (const scale of SCALES) {
      log(`search: storing conversations up to ${scale}`)
      const started = performance.now()
      await seed(database, stored + 1, scale)
      await database.db.execute(sql`analyze`)
      log(`search: stored ${scale} in ${f((performance.now() - started) / 1000)} s`)
      stored = scale
      for (const [label, q] of Object.entries(queries)) {
        const found = (await search.search(USER, q, { limit: 20 })).results.length
        const m = await inProcess(() => search.search(USER, q, { limit: 20 }), 1, SECONDS)
        ;(results[label] ??= {})[scale] = { p50: m.p50, p99: m.p99, found }
      }
      // Both queries in turn: a plan cached for one must not slow the other.
      let turn = 0
      const mixed = await inProcess(() => search.search(USER, Object.values(queries)[turn++ % 2]!, { limit: 20 }), 1, SECONDS)
      ;(results['both in turn'] ??= {})[scale] = { p50: mixed.p50, p99: mixed.p99, found: Number.NaN }
      sizes = await indexSizes(database)
    }
    const [small, large] = [SCALES[0]!, SCALES.at(-1)!]
    lines.push(
      `Search (one user's full-text search, 20 results; ${small.toLocaleString('en')} and ${large.toLocaleString('en')} conversations stored, a fifth of them the user's, each a question and an answer of three members and a synthesis):`,
      '',
      `| query | p50 ms at ${small.toLocaleString('en')} | p99 ms | p50 ms at ${large.toLocaleString('en')} | p99 ms | p50 ratio | p99 ratio |`,
      '|---|---|---|---|---|---|---|'
    )
    for (const [label, byScale] of Object.entries(results)) {
      const a = byScale[small]!
      const b = byScale[large]!
      lines.push(`| ${label}${Number.isNaN(a.found) ? '' : ` (${b.found} found)`} | ${f(a.p50, 2)} | ${f(a.p99, 2)} | ${f(b.p50, 2)} | ${f(b.p99, 2)} | ${f(b.p50 / a.p50, 2)} | ${f(b.p99 / a.p99, 2)} |`)
    }
    lines.push('', `At ${large.toLocaleString('en')}: ${sizes}.`)
    lines.push('', await exportFortyMessages(database, log))
  } finally {
    await database.close()
    await dropPostgres(name)
  }
  return lines
}

/** GET .../export of a 40-message conversation (~200 KB of stages) through the app, in process. */
async function exportFortyMessages(database: Database, log: (line: string) => void): Promise<string> {
  log('search: export of a 40-message conversation')
  const file = conversationFile(7, 20, 10_000)
  await new TransferRepo(database.db).createConversation({
    kind: 'conversation', id: file.id, sourceId: null, userId: USER, title: file.title, starred: null,
    createdAt: new Date().toISOString(), messages: file.messages as never, replacedCharacters: 0
  })
  const app = await buildApp({ config: loadConfig({ AUTH_MODE: 'header', LOG_LEVEL: 'silent', RATE_LIMIT_MAX: '0', MAX_EVENT_LOOP_DELAY_MS: '0' }), database })
  await app.ready()
  const parts: string[] = []
  try {
    for (const format of ['md', 'json']) {
      const exportOnce = async () => {
        const res = await app.inject({ url: `/api/conversations/${file.id}/export?format=${format}`, headers: { 'x-forwarded-user': USER } })
        if (res.statusCode !== 200) throw new Error(`export answered ${res.statusCode}`)
        return res.body.length
      }
      const size = await exportOnce()
      globalThis.gc?.()
      const before = process.memoryUsage()
      let peak = before.heapUsed
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed)), 5)
      const m = await inProcess(async () => {
        await exportOnce()
        peak = Math.max(peak, process.memoryUsage().heapUsed)
      }, 1, SECONDS)
      clearInterval(sampler)
      parts.push(`${format === 'md' ? 'Markdown' : 'JSON'} (${f(size / 1024, 0)} KB) p50 ${f(m.p50, 1)} ms, p99 ${f(m.p99, 1)} ms, heap peak ${f((peak - before.heapUsed) / 2 ** 20, 1)} MB above idle`)
    }
  } finally {
    await app.close()
  }
  return `Export of a 40-message conversation (in process, one at a time): ${parts.join('; ')}.`
}
