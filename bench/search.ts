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
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { inProcess } from './measure.ts'

// A full collection on demand without restarting the bench under --expose-gc.
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

export const USER = 'bench-searcher'
const SECONDS = Number(process.env.BENCH_SEARCH_SECONDS ?? 5)
const SEED_STEP = 10_000
const SCALES = (process.env.BENCH_SEARCH_SCALES ?? '1000,100000').split(',').map(Number)
const POOL = { poolMax: 10, prepare: true, connectTimeoutMs: 5000, statementTimeoutMs: 600000, slowQueryMs: 100000, startupTimeoutMs: 120000 }
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

const ROUNDS = 5
const median = (values: number[]) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)]!

/** A database of its own holding `scale` conversations; closed and dropped by the caller. */
async function storeScale(freshPostgres: (name: string) => Promise<string>, scale: number, log: (line: string) => void) {
  const name = `llmc_bench_search_${scale}_${process.pid}`
  const url = await freshPostgres(name)
  const database = openPostgres(url, POOL)
  await migrateDatabase(database, { migrationUrl: url, pool: POOL })
  const started = performance.now()
  // In steps of 10,000: one statement for 100,000 would take minutes.
  for (let from = 1; from <= scale; from += SEED_STEP) await seed(database, from, Math.min(scale, from + SEED_STEP - 1))
  await database.db.execute(sql`vacuum analyze`)
  log(`search: stored ${scale} conversations in ${f((performance.now() - started) / 1000)} s`)
  return { name, database, search: new SearchRepo(database.db, 'english') }
}

export async function searchAndExport(
  freshPostgres: (name: string) => Promise<string>,
  dropPostgres: (name: string) => Promise<void>,
  log: (line: string) => void
): Promise<string[]> {
  const [small, large] = [SCALES[0]!, SCALES.at(-1)!]
  const stores: Array<Awaited<ReturnType<typeof storeScale>>> = []
  const lines: string[] = []
  try {
    for (const scale of [small, large]) stores.push(await storeScale(freshPostgres, scale, log))
    const queries: Record<string, () => string> = { 'a common word': () => COMMON, 'a rare phrase': () => `"${RARE}"` }
    // Both queries in turn: a plan cached for one must not slow the other.
    let turn = 0
    queries['both in turn'] = () => (turn++ % 2 ? COMMON : `"${RARE}"`)
    lines.push(
      `Search (one user's full-text search, 20 results, one at a time; ${small.toLocaleString('en')} and ${large.toLocaleString('en')} conversations stored, each in its own database, a fifth of them the user's, each a question and an answer of three members and a synthesis; the two measured in turn in ${ROUNDS} rounds, medians):`,
      '',
      `| query | p50 ms at ${small.toLocaleString('en')} | p99 ms | p50 ms at ${large.toLocaleString('en')} | p99 ms | p50 ratio | p99 ratio |`,
      '|---|---|---|---|---|---|---|'
    )
    for (const [label, query] of Object.entries(queries)) {
      const found = label === 'both in turn' ? '' : ` (${(await stores[1]!.search.search(USER, query(), { limit: 20 })).results.length} found)`
      const rounds = stores.map(() => ({ p50: [] as number[], p99: [] as number[] }))
      for (let round = 0; round < ROUNDS; round++) {
        for (const [i, store] of stores.entries()) {
          const m = await inProcess(() => store.search.search(USER, query(), { limit: 20 }), 1, SECONDS / ROUNDS)
          rounds[i]!.p50.push(m.p50)
          rounds[i]!.p99.push(m.p99)
        }
      }
      const [a, b] = rounds.map((r) => ({ p50: median(r.p50), p99: median(r.p99) }))
      lines.push(`| ${label}${found} | ${f(a!.p50, 2)} | ${f(a!.p99, 2)} | ${f(b!.p50, 2)} | ${f(b!.p99, 2)} | ${f(b!.p50 / a!.p50, 2)} | ${f(b!.p99 / a!.p99, 2)} |`)
    }
    lines.push('', `At ${large.toLocaleString('en')}: ${await indexSizes(stores[1]!.database)}.`)
    lines.push('', await exportFortyMessages(stores[0]!.database, log))
  } finally {
    for (const store of stores) {
      await store.database.close()
      await dropPostgres(store.name)
    }
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
      const m = await inProcess(exportOnce, 1, SECONDS)
      // Memory: the heap's growth over one export after a full collection (an export allocates less
      // than the young generation holds, so nothing of it is collected meanwhile): its peak, at most.
      const growth: number[] = []
      for (let i = 0; i < 20; i++) {
        gc()
        const before = process.memoryUsage().heapUsed
        await exportOnce()
        growth.push(process.memoryUsage().heapUsed - before)
      }
      const peak = growth.sort((a, b) => a - b)[10]!
      parts.push(`${format === 'md' ? 'Markdown' : 'JSON'} (${f(size / 1024, 0)} KB) p50 ${f(m.p50, 1)} ms, p99 ${f(m.p99, 1)} ms, heap growth over one export ${f(peak / 2 ** 20, 1)} MB`)
    }
  } finally {
    await app.close()
  }
  return `Export of a 40-message conversation (in process, one at a time): ${parts.join('; ')}.`
}
