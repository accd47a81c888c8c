// npm run bench: the server against the ceilings of its own stack, measured side by side in one run.
import { execFileSync, spawn } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import { runDbImport } from '../src/cli/import-db/importer.ts'
import { runImport } from '../src/cli/import/importer.ts'
import { type Database, openPglite, openPostgres, postgresClient } from '../src/db/client.ts'
import { migrateDatabase } from '../src/db/migrate.ts'
import * as schema from '../src/db/schema.ts'
import type { Db } from '../src/db/types.ts'
import { ConversationsRepo } from '../src/repos/conversations.ts'
import { TransferRepo } from '../src/repos/transfer.ts'
import { hashPassword } from '../src/services/passwords.ts'
import { UsageRepo } from '../src/repos/usage.ts'
import { parseUsageLimits } from '../src/config.ts'
import { conversationFile, generateDataDir } from '../test/helpers/generate.ts'
import { runScript, waitForOutput } from '../test/helpers/process.ts'
import { liveRuns } from './live-runs.ts'
import { searchAndExport } from './search.ts'
import { type Measurement, http, inProcess, peakRss, withCpu } from './measure.ts'

const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
// Each scenario's time is split into ROUNDS rounds. Rounds of 3 s each hold a full garbage collection
// or two (one every few seconds under load); with 1 s rounds some held one and some none, and the
// medians moved by ±0.1 from run to run.
const SECONDS = Number(process.env.BENCH_SECONDS ?? 15)
const USER = 'bench-user'
const HEADERS = { 'x-forwarded-user': USER }
const POOL = { poolMax: 15, prepare: true, connectTimeoutMs: 5000, statementTimeoutMs: 30000, slowQueryMs: 100000, startupTimeoutMs: 120000 }
const CONCURRENCY = [1, 32]
const ROUNDS = 5
// A council message at 32 connections takes up to a second or more on PGlite: a shorter run (a quick
// BENCH_SECONDS=1) could end before any of them had answered.
const COUNCIL_SECONDS = Math.max(SECONDS, 3)
const HEAP_MB = 32
const work = mkdtempSync(join(tmpdir(), 'llmc-bench-'))
const rows: string[] = []
const notes: string[] = []
const log = (line: string) => process.stderr.write(`bench: ${line}\n`)
const f = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '–')

async function freshPostgres(name: string): Promise<string> {
  const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} })
  await admin.unsafe(`drop database if exists "${name}" with (force)`)
  await admin.unsafe(`create database "${name}"`)
  await admin.end()
  const url = new URL(ADMIN_URL)
  url.pathname = `/${name}`
  return url.toString()
}

async function dropPostgres(name: string): Promise<void> {
  const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} })
  await admin.unsafe(`drop database if exists "${name}" with (force)`)
  await admin.end()
}

/** Conversations `from`..`to`: one in ten is the bench user's (10,000 of 100,000), newest first by number. */
async function seed(database: Database, from: number, to: number): Promise<void> {
  await database.db.execute(sql`insert into conversations (user_id, title, message_count, starred, created_at, updated_at)
    select case when g % 10 = 0 then ${USER} else 'user-' || (g % 900) end, 'Conversation ' || g, 0, g % 7 = 0,
           now() - make_interval(secs => g), now() - make_interval(secs => g)
      from generate_series(${from}::int, ${to}::int) g`)
}

/** The 40-message conversation `get` reads: 20 questions, 20 answers of four answers, four rankings, a synthesis (~10 KB each). */
async function fortyMessages(database: Database): Promise<string> {
  const file = conversationFile(7, 20, 10_000)
  await new TransferRepo(database.db).createConversation({
    kind: 'conversation', id: file.id, sourceId: null, userId: USER, title: file.title, starred: null,
    createdAt: new Date().toISOString(), messages: file.messages as never, replacedCharacters: 0
  })
  return file.id
}

/** The statements (text and parameters) a repository call sends, recorded at the driver. */
async function captureQueries(url: string, action: (db: Db) => Promise<unknown>): Promise<{ text: string; params: unknown[] }[]> {
  const recorder = postgres(url, { max: 2, onnotice: () => {} })
  const unsafe = recorder.unsafe.bind(recorder)
  const captured: { text: string; params: unknown[] }[] = []
  recorder.unsafe = ((text: string, params: unknown[] = [], options?: object) => {
    captured.push({ text, params })
    return unsafe(text, params as never, options as never)
  }) as typeof recorder.unsafe
  await action(drizzle(recorder, { schema }) as unknown as Db)
  await recorder.end()
  return captured
}

/**
 * Runs captured statements again, prepared, with `swap` values replaced (another user id, say); `raw`
 * takes the rows as bytes, as the server takes JSON it sends on.
 */
function replay(client: postgres.Sql, statements: { text: string; params: unknown[] }[], options: { swap?: Record<string, unknown>; raw?: boolean } = {}) {
  const { swap = {}, raw = false } = options
  return Promise.all(
    statements.map(({ text, params }) => {
      const query = client.unsafe(text, params.map((p) => (typeof p === 'string' && p in swap ? swap[p] : p)) as never, { prepare: true })
      return raw ? query.raw() : query
    })
  )
}

interface Round {
  app: Measurement
  db?: Measurement
  http?: Measurement
  least?: Measurement
}

type Run = (seconds: number) => Promise<Measurement>

/**
 * The app and its ceilings in turn, ROUNDS times over SECONDS in all, so that a change in the shared
 * machine's load falls on all of them alike; the report takes medians over the rounds.
 */
async function sideBySide(runs: { app: Run; db?: Run; http?: Run; least?: Run }): Promise<Round[]> {
  const rounds: Round[] = []
  const seconds = SECONDS / ROUNDS
  for (let i = 0; i < ROUNDS; i++) {
    rounds.push({ app: await runs.app(seconds), db: await runs.db?.(seconds), http: await runs.http?.(seconds), least: await runs.least?.(seconds) })
  }
  return rounds
}

/** The median over the rounds of what `pick` finds in each (rounds where it finds nothing left out). */
const medianOf = (rounds: Round[], pick: (r: Round) => number | undefined) =>
  median(rounds.map(pick).filter((value): value is number => value !== undefined))

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted.length === 0 ? Number.NaN : sorted[Math.floor(sorted.length / 2)]!
}

/** A helper HTTP server (bare-server.ts, least-server.ts) in its own process, given `setup` as a JSON file. */
async function helperServer(script: string, setup: unknown): Promise<{ child: ReturnType<typeof spawn>; base: string }> {
  const file = join(work, `${script}.json`)
  writeFileSync(file, JSON.stringify(setup))
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, script), file], { stdio: ['ignore', 'pipe', 'inherit'] })
  const line = await waitForOutput(child, /listening (http:\/\/127\.0\.0\.1:\d+)/)
  return { child, base: /http:\/\/127\.0\.0\.1:\d+/.exec(line)![0] }
}

/**
 * The server under test, with its log written to a file: through a pipe, every line (thousands a second)
 * would be read by this process, which is also the load generator. Resolves once it listens.
 */
async function startServer(env: Record<string, string>): Promise<{ server: ReturnType<typeof runScript>; base: string }> {
  const logFile = join(work, `server-${Date.now()}.log`)
  const fd = openSync(logFile, 'w')
  const server = runScript('dist/server.js', env, [], { stdout: fd })
  closeSync(fd)
  const deadline = Date.now() + 120_000
  for (;;) {
    const log = readFileSync(logFile, 'utf8')
    const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(log)
    if (match) return { server, base: match[1]! }
    if (server.exitCode !== null || Date.now() > deadline) throw new Error(`the server did not start:\n${log.slice(-2000)}`)
    await sleep(100)
  }
}

function row(cells: (string | number)[]): void {
  rows.push(`| ${cells.join(' | ')} |`)
}

async function fakeLlm(): Promise<{ url: string; close: () => void }> {
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (chunk) => (body += chunk))
    req.on('end', () => {
      const request = JSON.parse(body) as { stream?: boolean; messages?: { content: string }[] }
      const prompt = request.messages?.at(-1)?.content ?? ''
      const content = prompt.includes('FINAL RANKING:') ? 'Fine.\n\nFINAL RANKING:\n1. Response A\n2. Response B' : 'An answer.'
      if (request.stream) {
        res.setHeader('content-type', 'text/event-stream')
        res.end(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content } }] })}\n\ndata: [DONE]\n\n`)
        return
      }
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ choices: [{ message: { role: 'assistant', content } }] }))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, close: () => server.close() }
}

async function benchBackend(kind: 'postgres' | 'pglite', llmUrl: string) {
  log(`${kind}: seeding`)
  const name = `llmc_bench_${process.pid}`
  const url = kind === 'postgres' ? await freshPostgres(name) : ''
  const dir = join(work, 'pglite')
  const database = kind === 'postgres' ? openPostgres(url, POOL) : await openPglite(dir)
  await migrateDatabase(database, { migrationUrl: url, pool: POOL })
  const getId = await fortyMessages(database)
  const repo = new ConversationsRepo(database.db)

  // Scale: the same reads at 1,000 and at 100,000 stored conversations, each after the vacuum and
  // analyze autovacuum would run, and a second of warm-up.
  const reads = async () => {
    await database.db.execute(sql`vacuum analyze`)
    await inProcess(() => Promise.all([repo.list(USER, { limit: 50 }), repo.getJson(USER, getId)]), 1, 1)
    return {
      list: await inProcess(() => repo.list(USER, { limit: 50 }), 1, SECONDS),
      get: await inProcess(() => repo.getJson(USER, getId), 1, SECONDS)
    }
  }
  await seed(database, 1, 1_000)
  const scaleSmall = await reads()
  await seed(database, 1_001, 100_000)
  const scaleLarge = await reads()

  // The database ceiling: postgres.js running the repositories' own statements (PostgreSQL only).
  const limits = parseUsageLimits('free:unlimited')
  const listSql = kind === 'postgres' ? await captureQueries(url, (db) => new ConversationsRepo(db).list(USER, { limit: 50 })) : []
  const getSql = kind === 'postgres' ? await captureQueries(url, (db) => new ConversationsRepo(db).getJson(USER, getId)) : []
  const consumeSql = kind === 'postgres' ? await captureQueries(url, (db) => new UsageRepo(db, limits).consume('capture-user')) : []
  const listPage = await repo.list(USER, { limit: 50 })
  const conversation = await repo.getJson(USER, getId)
  await database.close()

  // The same connection settings as the server's pool (time zone, generic plans), without its wrappers.
  const raw = kind === 'postgres' ? postgresClient(url, POOL) : null
  // The consume path in-process, through the server's own client settings.
  const usageDatabase = kind === 'postgres' ? openPostgres(url, POOL) : null
  const rawRead = (statements: typeof listSql, c: number) => (seconds: number) =>
    withCpu(undefined, () => inProcess(() => replay(raw!, statements, { raw: true }), c, seconds))

  // The HTTP ceiling: a bare Fastify route serving the same bytes from memory, in its own process.
  const bare = await helperServer('bare-server.ts', { '/list': JSON.stringify(listPage.conversations), '/get': String(conversation) })
  // The least server: bare Fastify and postgres.js running the same statements (PostgreSQL only).
  const fields = Object.keys(listPage.conversations[0]!)
  const least = kind === 'postgres'
    ? await helperServer('least-server.ts', { url, pool: POOL, list: { ...listSql[0], fields }, get: { conversation: { ...getSql[0], fields }, messages: getSql[1] } })
    : null

  log(`${kind}: starting the server`)
  const { server, base } = await startServer({
    PORT: '0', AUTH_MODE: 'header', RATE_LIMIT_MAX: '0', MAX_EVENT_LOOP_DELAY_MS: '0', LOG_LEVEL: 'info',
    USAGE_LIMITS: 'free:unlimited', LLM_BASE_URL: llmUrl, COUNCIL_MODELS: 'b/one,b/two,b/three,b/four', CHAIRMAN_MODEL: 'b/chair', TITLE_MODEL: 'b/title',
    ...(kind === 'postgres' ? { DATABASE_URL: url } : { PGLITE_DIR: dir })
  })
  // A personal API key of the same user (keys work in every mode but none): the cost of looking one up.
  const keyHeaders = { authorization: `Bearer ${(await (await fetch(`${base}/api/keys`, { method: 'POST', headers: { ...HEADERS, 'content-type': 'application/json' }, body: '{"name":"bench"}' })).json()).key}` }
  const councilIds: string[] = []
  for (let i = 0; i < 200; i++) {
    const res = await fetch(`${base}/api/conversations`, { method: 'POST', headers: HEADERS })
    councilIds.push((await res.json()).id)
  }

  // Warm up: compiled code paths, and each pooled connection's prepared statements.
  for (const path of ['/api/conversations?limit=50', `/api/conversations/${getId}`]) {
    await http({ url: `${base}${path}`, connections: 32, seconds: 1, headers: HEADERS })
  }
  if (raw) await inProcess(() => Promise.all([replay(raw, listSql, { raw: true }), replay(raw, getSql, { raw: true })]), 32, 1)
  for (const helper of least ? [bare, least] : [bare]) {
    for (const path of ['/list', '/get']) await http({ url: `${helper.base}${path}`, connections: 32, seconds: 1 })
  }

  const results: Record<string, Round[]> = {}
  for (const c of CONCURRENCY) {
    log(`${kind}: ${c} connection(s)`)
    // One read at c connections: the app, the raw statements, and the bare and least servers' `helperPath`.
    const read = (appPath: string, statements: typeof listSql, helperPath: string) =>
      sideBySide({
        app: (seconds) => withCpu(server.pid, () => http({ url: `${base}${appPath}`, connections: c, seconds, headers: HEADERS })),
        db: raw ? rawRead(statements, c) : undefined,
        http: (seconds) => withCpu(bare.child.pid, () => http({ url: `${bare.base}${helperPath}`, connections: c, seconds })),
        least: least ? (seconds) => withCpu(least.child.pid, () => http({ url: `${least.base}${helperPath}`, connections: c, seconds })) : undefined
      })
    results[`list 50 conversations@${c}`] = await read('/api/conversations?limit=50', listSql, '/list')
    results[`list 50 conversations, signed in with an API key@${c}`] = [{
      app: await http({ url: `${base}/api/conversations?limit=50`, connections: c, seconds: SECONDS, headers: keyHeaders })
    }]
    results[`get a 40-message conversation@${c}`] = await read(`/api/conversations/${getId}`, getSql, '/get')
    results[`create a conversation@${c}`] = [{
      app: await http({ url: `${base}/api/conversations`, method: 'POST', connections: c, seconds: SECONDS, headers: HEADERS })
    }]
    results[`full council message (zero-delay models)@${c}`] = [{
      app: await http({
        url: `${base}/api/conversations/${councilIds[0]}/message`, method: 'POST', connections: c, seconds: COUNCIL_SECONDS,
        headers: { ...HEADERS, 'content-type': 'application/json' }, body: JSON.stringify({ content: 'Which one?' }),
        paths: councilIds.map((id) => `/api/conversations/${id}/message`)
      })
    }]
    if (raw) {
      const usage = new UsageRepo(usageDatabase!.db, limits)
      results[`usage consume (repository, in-process)@${c}`] = await sideBySide({
        app: (seconds) => inProcess((i) => usage.consume(`consumer-${i % 500}`), c, seconds),
        db: (seconds) => inProcess((i) => replay(raw, consumeSql, { swap: { 'capture-user': `consumer-${i % 500}` } }), c, seconds)
      })
    }
  }
  const serverRss = await peakRss(server.pid!)
  server.kill('SIGTERM')
  await server.done
  bare.child.kill()
  least?.child.kill()
  await raw?.end()
  await usageDatabase?.close()
  if (kind === 'postgres') await dropPostgres(name)
  return { results, scaleSmall, scaleLarge, serverRss }
}

async function main() {
  // The server and the import tool as users run them: compiled, on plain node (npm start builds first too).
  execFileSync('npm', ['run', '-s', 'build'], { cwd: join(import.meta.dirname, '..'), stdio: 'inherit' })
  const llm = await fakeLlm()
  const started = performance.now()
  const pg = await benchBackend('postgres', llm.url)
  const lite = await benchBackend('pglite', llm.url)
  llm.close()

  rows.push('| backend | scenario | conns | req/s | p50 ms | p99 ms | raw DB p50 ms | bare HTTP p50 ms | app ÷ (DB + HTTP) time | app ÷ lower ceiling req/s | least server ÷ (DB + HTTP) time | app ÷ least server time |')
  rows.push('|---|---|---|---|---|---|---|---|---|---|---|---|')
  for (const [kind, bench] of [['PostgreSQL', pg], ['PGlite', lite]] as const) {
    for (const [key, rounds] of Object.entries(bench.results)) {
      const [scenario, conns] = key.split('@')
      const of = (pick: (r: Round) => number | undefined) => medianOf(rounds, pick)
      // No time ratio without the database ceiling (PGlite runs in the server's own process).
      const overCeilings = (m: Measurement | undefined, r: Round) => (m && r.db ? m.mean / (r.db.mean + (r.http?.mean ?? 0)) : undefined)
      const time = of((r) => overCeilings(r.app, r))
      const leastTime = of((r) => overCeilings(r.least, r))
      const overLeast = of((r) => (r.least ? r.app.mean / r.least.mean : undefined))
      const ceiling = of((r) => (r.db || r.http ? r.app.rps / Math.min(r.db?.rps ?? Infinity, r.http?.rps ?? Infinity) : undefined))
      const dbP50 = of((r) => r.db?.p50)
      const httpP50 = of((r) => r.http?.p50)
      row([kind, scenario!, conns!, f(of((r) => r.app.rps), 0), f(of((r) => r.app.p50)), f(of((r) => r.app.p99)),
        f(dbP50, 2), f(httpP50, 2), f(time, 2), f(ceiling, 2), f(leastTime, 2), f(overLeast, 2)])
      const errors = rounds.reduce((sum, r) => sum + r.app.errors, 0)
      if (errors > 0) notes.push(`${kind} ${key}: ${errors} errors`)
    }
  }

  const cpu = cpuTable(pg.results)
  const scale = ['', '| backend | read | p50 at 1,000 stored | p50 at 100,000 stored | ratio |', '|---|---|---|---|---|']
  for (const [kind, bench] of [['PostgreSQL', pg], ['PGlite', lite]] as const) {
    for (const read of ['list', 'get'] as const) {
      scale.push(`| ${kind} | ${read} | ${f(bench.scaleSmall[read].p50, 2)} ms | ${f(bench.scaleLarge[read].p50, 2)} ms | ${f(bench.scaleLarge[read].p50 / bench.scaleSmall[read].p50, 2)} |`)
    }
  }

  log('import and file-based listing')
  const listP50 = (bench: typeof pg) => median(bench.results['list 50 conversations@1']!.map((r) => r.app.p50))
  // What signing in costs: an API key looked up on every request, against the proxy header (no lookup);
  // and hashing a password (scrypt), which every sign-up, sign-in and password change does once.
  const keyCost = (bench: typeof pg, c: number) =>
    f(bench.results[`list 50 conversations, signed in with an API key@${c}`]![0]!.app.mean / medianOf(bench.results[`list 50 conversations@${c}`]!, (r) => r.app.mean), 2)
  const hashing = await inProcess(() => hashPassword('a long enough password'), 1, SECONDS)
  const authLines = [
    `Signing in: listing with an API key ÷ with the proxy header (mean time): PostgreSQL ${keyCost(pg, 1)} at 1 connection, ${keyCost(pg, 32)} at 32;`,
    `PGlite ${keyCost(lite, 1)} and ${keyCost(lite, 32)}. Hashing a password (scrypt, N=2^15): p50 ${f(hashing.p50, 0)} ms.`
  ]
  const other = await importAndFiles(listP50(pg), listP50(lite))
  const live = await liveRuns(freshPostgres, dropPostgres, work, log)
  const findAndShare = await searchAndExport(freshPostgres, dropPostgres, log)
  const report = [
    `# Benchmark (${new Date().toISOString().slice(0, 10)}, ${SECONDS} s per run, Node ${process.version})`,
    '',
    'Every ratio compares figures measured in this same run. Latencies are exact per-request times (p50, p99;',
    'the time ratio uses means); "raw DB" runs the repositories\' own statements through postgres.js at the same',
    'concurrency, prepared as the server prepares them; "bare HTTP" is a bare Fastify route serving the same',
    'response bytes from memory; "least server" is bare Fastify with postgres.js running the same statements and',
    'making the same JSON from their rows with the least code (no auth, validation, hooks, logging or ORM): the',
    `floor of this stack on this machine. A scenario with ceilings runs in ${ROUNDS} rounds, the app and its ceilings`,
    'in turn, and shows medians over the rounds. Every HTTP server was warmed up for a second first. The server',
    'runs with its rate limit and load shedding off (one client IP sends everything). Targets: app ÷ least server',
    '≤ 1.3 for list and get; list/get time ≤ 1.25 ×',
    '(DB + HTTP); throughput at 32 connections ≥ 0.6 × the lower ceiling; 100,000 stored within 1.2 × of',
    '1,000; import ≥ 0.5 × a plain multi-row INSERT; ≥ 100 × faster than listing by reading every file; search',
    'at 100,000 within 1.2 × of 1,000.',
    '',
    ...rows,
    ...cpu,
    ...scale,
    '',
    ...other,
    '',
    ...live,
    '',
    ...findAndShare,
    '',
    ...authLines,
    '',
    `Peak RSS of the server: PostgreSQL ${f(pg.serverRss, 0)} MB, PGlite ${f(lite.serverRss, 0)} MB.`,
    ...(notes.length ? ['', 'Notes:', ...notes.map((n) => `- ${n}`)] : []),
    '',
    `Total bench time: ${f((performance.now() - started) / 1000, 0)} s.`
  ].join('\n')
  writeFileSync(process.env.BENCH_RESULTS ?? join(import.meta.dirname, 'results.md'), `${report}\n`)
  process.stdout.write(`${report}\n`)
}

const CPU_CELLS = [['app', 'server'], ['app', 'postgres'], ['app', 'bench'], ['least', 'server'], ['least', 'postgres'], ['least', 'bench'],
  ['db', 'postgres'], ['db', 'bench'], ['http', 'server'], ['http', 'bench']] as const
const RUNS = ['app', 'least', 'db', 'http'] as const

/**
 * Where the CPU went, per request (PostgreSQL backend): with every process on the same few cores, a
 * time under load follows the sum of these, so the time ratios above follow them too.
 */
function cpuTable(results: Record<string, Round[]>): string[] {
  const lines = [
    '',
    'CPU time per request, µs (user + system, medians over the rounds; "bench" is the load generator, or the database client for raw DB), and the share of the machine\'s CPU time (all cores) that no process used during each run:',
    '',
    '| scenario | conns | app: server | app: PostgreSQL | app: bench | least: server | least: PostgreSQL | least: bench | raw DB: PostgreSQL | raw DB: client | bare HTTP: server | bare HTTP: bench | idle %: app / least / raw DB / bare HTTP |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|'
  ]
  for (const [key, rounds] of Object.entries(results)) {
    if (!rounds.some((r) => r.app.cpu)) continue
    const [scenario, conns] = key.split('@')
    const cells = CPU_CELLS.map(([run, field]) => f(medianOf(rounds, (r) => r[run]?.cpu?.[field]), 0))
    const idle = RUNS.map((run) => f(100 * medianOf(rounds, (r) => r[run]?.cpu?.idle), 0))
    lines.push(`| ${scenario} | ${conns} | ${cells.join(' | ')} | ${idle.join(' / ')} |`)
  }
  return lines
}

/**
 * The same conversations brought in the two other ways: import-db from the old system's schema (timed
 * in process, like import-json), and move-to-postgres of an embedded database holding them (the
 * command, timed end to end: its directory copy, both migrations, the copy and the checksums).
 */
async function movingIn(dataDir: string): Promise<{ importDb: number; move: number }> {
  const { readdirSync, readFileSync } = await import('node:fs')
  const oldName = `llmc_bench_old_${process.pid}`
  const old = postgres(await freshPostgres(oldName), { max: 1, onnotice: () => {} })
  await old.unsafe(readFileSync(join(import.meta.dirname, '../test/fixtures/old-schema/jsonb.sql'), 'utf8'))
  const files = readdirSync(join(dataDir, 'conversations'))
  for (let i = 0; i < files.length; i += 100) {
    const batch = files.slice(i, i + 100).map((name) => JSON.parse(readFileSync(join(dataDir, 'conversations', name), 'utf8')))
    await old`insert into conversations ${old(batch.map((c) => ({ id: c.id, user_id: USER, title: c.title, created_at: `${c.created_at}Z`, updated_at: `${c.created_at}Z` })))}`
    await old`insert into messages ${old(batch.flatMap((c) => c.messages.map((m: Record<string, unknown>) => ({
      conversation_id: c.id, role: m.role, content: (m.content as string) ?? null,
      stage1_data: m.stage1 ? old.json(m.stage1 as never) : null, stage2_data: m.stage2 ? old.json(m.stage2 as never) : null,
      stage3_data: m.stage3 ? old.json(m.stage3 as never) : null, message_metadata: m.metadata ? old.json(m.metadata as never) : null
    }))))}`
  }
  const targetName = `llmc_bench_import_db_${process.pid}`
  const targetUrl = await freshPostgres(targetName)
  const target = openPostgres(targetUrl, POOL)
  await migrateDatabase(target, { migrationUrl: targetUrl, pool: POOL })
  let t0 = performance.now()
  await runDbImport(old, new TransferRepo(target.db), { defaultUser: USER })
  const importDb = (performance.now() - t0) / 1000
  await target.close()
  await old.end()
  await dropPostgres(oldName)
  await dropPostgres(targetName)

  const pgliteDir = join(work, 'move-pglite')
  const embedded = await openPglite(pgliteDir)
  await migrateDatabase(embedded, {})
  await runImport(new TransferRepo(embedded.db), { paths: [dataDir], defaultUser: USER })
  await embedded.close()
  const moveName = `llmc_bench_move_${process.pid}`
  const moveUrl = await freshPostgres(moveName)
  t0 = performance.now()
  const moved = await runScript('dist/cli/move-to-postgres.js', { PGLITE_DIR: pgliteDir }, [moveUrl], { untracked: true }).done
  const move = (performance.now() - t0) / 1000
  if (moved.code !== 0) notes.push(`move-to-postgres: exit ${moved.code}: ${moved.stderr.slice(-500)}`)
  await dropPostgres(moveName)
  return { importDb, move }
}

async function importAndFiles(appListP50Pg: number, appListP50Lite: number): Promise<string[]> {
  // Import throughput against a plain multi-row INSERT of the same rows.
  const dataDir = join(work, 'import-data')
  const messages = generateDataDir(dataDir, 2_000, { size: 10_000 })
  const importName = `llmc_bench_import_${process.pid}`
  const importUrl = await freshPostgres(importName)
  const target = openPostgres(importUrl, POOL)
  await migrateDatabase(target, { migrationUrl: importUrl, pool: POOL })
  let t0 = performance.now()
  const summary = await runImport(new TransferRepo(target.db), { paths: [dataDir], defaultUser: USER })
  const importSeconds = (performance.now() - t0) / 1000
  await target.close()
  const plainName = `llmc_bench_plain_${process.pid}`
  const plainUrl = await freshPostgres(plainName)
  const plainDb = openPostgres(plainUrl, POOL)
  await migrateDatabase(plainDb, { migrationUrl: plainUrl, pool: POOL })
  await plainDb.close()
  const plain = postgres(plainUrl, { max: POOL.poolMax, onnotice: () => {} })
  const { readdirSync, readFileSync } = await import('node:fs')
  t0 = performance.now()
  const files = readdirSync(join(dataDir, 'conversations'))
  for (let i = 0; i < files.length; i += 100) {
    const batch = files.slice(i, i + 100).map((name) => JSON.parse(readFileSync(join(dataDir, 'conversations', name), 'utf8')))
    await plain`insert into conversations ${plain(batch.map((c) => ({ id: c.id, user_id: USER, title: c.title, message_count: c.messages.length, created_at: `${c.created_at}Z`, updated_at: `${c.created_at}Z` })))}`
    const messageRows = batch.flatMap((c) => c.messages.map((m: Record<string, unknown>, position: number) => ({
      conversation_id: c.id, position, role: m.role, content: (m.content as string) ?? null,
      stage1: m.stage1 ? plain.json(m.stage1 as never) : null, stage2: m.stage2 ? plain.json(m.stage2 as never) : null,
      stage3: m.stage3 ? plain.json(m.stage3 as never) : null, metadata: m.metadata ? plain.json(m.metadata as never) : null
    })))
    await plain`insert into messages ${plain(messageRows)}`
  }
  const plainSeconds = (performance.now() - t0) / 1000
  await plain.end()
  await dropPostgres(importName)
  await dropPostgres(plainName)
  const moving = await movingIn(dataDir)

  // Import memory: the CLI with a heap limit well below the data's size.
  const { statSync } = await import('node:fs')
  const bigDir = join(work, 'import-big')
  generateDataDir(bigDir, 4_000, { size: 10_000, exchanges: 2 })
  const dataBytes = readdirSync(join(bigDir, 'conversations')).reduce((sum, name) => sum + statSync(join(bigDir, 'conversations', name)).size, 0)
  const memName = `llmc_bench_mem_${process.pid}`
  const memUrl = await freshPostgres(memName)
  const cli = spawn(process.execPath, [`--max-old-space-size=${HEAP_MB}`, 'dist/cli/import-json.js', bigDir], {
    cwd: join(import.meta.dirname, '..'), env: { ...process.env, DATABASE_URL: memUrl }, stdio: ['ignore', 'ignore', 'pipe']
  })
  let cliErrors = ''
  cli.stderr!.on('data', (chunk) => (cliErrors = (cliErrors + chunk).slice(-4000)))
  let peak = 0
  const sampler = setInterval(async () => (peak = Math.max(peak, await peakRss(cli.pid!))), 100)
  const exit = await new Promise<string>((resolve) => cli.on('close', (code, signal) => resolve(code === null ? `killed by ${signal}` : `exit ${code}`)))
  if (exit !== 'exit 0') notes.push(`import with a ${HEAP_MB} MB heap: ${exit}: ${cliErrors.split('\n').filter((line) => /error/i.test(line)).slice(0, 3).join(' / ')}`)
  clearInterval(sampler)
  await dropPostgres(memName)

  // The old backend's listing: read and parse every conversation file, sort by date.
  const filesDir = join(work, 'file-backend')
  generateDataDir(filesDir, 10_000, { size: 2_000 })
  const { readdir, readFile } = await import('node:fs/promises')
  const listByFiles = async () => {
    const names = await readdir(join(filesDir, 'conversations'))
    const metas = []
    for (const name of names) {
      const data = JSON.parse(await readFile(join(filesDir, 'conversations', name), 'utf8'))
      metas.push({ id: data.id, created_at: data.created_at, title: data.title, message_count: data.messages.length })
    }
    return metas.sort((a, b) => b.created_at.localeCompare(a.created_at))
  }
  const fileList = await inProcess(listByFiles, 1, Math.max(SECONDS, 3))

  return [
    '| import (2,000 conversations, ' + messages + ' messages, 10 KB answers) | seconds | conversations/s | messages/s |',
    '|---|---|---|---|',
    `| import-json (per-file statements, ${summary.files} files) | ${f(importSeconds, 2)} | ${f(2000 / importSeconds, 0)} | ${f(messages / importSeconds, 0)} |`,
    `| plain multi-row INSERT (postgres.js, 100 conversations a batch) | ${f(plainSeconds, 2)} | ${f(2000 / plainSeconds, 0)} | ${f(messages / plainSeconds, 0)} |`,
    `| ratio (import ÷ plain, throughput) | ${f(plainSeconds / importSeconds, 2)} | | |`,
    `| import-db (the same rows in the old system's JSONB schema) | ${f(moving.importDb, 2)} | ${f(2000 / moving.importDb, 0)} | ${f(messages / moving.importDb, 0)} |`,
    `| ratio (import-db ÷ plain, throughput) | ${f(plainSeconds / moving.importDb, 2)} | | |`,
    `| move-to-postgres (the same rows from PGlite, the command end to end, verified) | ${f(moving.move, 2)} | ${f(2000 / moving.move, 0)} | ${f(messages / moving.move, 0)} |`,
    `| ratio (move ÷ plain, throughput) | ${f(plainSeconds / moving.move, 2)} | | |`,
    '',
    `Import of ${f(dataBytes / 1024 / 1024, 0)} MB of JSON (4,000 conversations) with a ${HEAP_MB} MB heap (\`--max-old-space-size=${HEAP_MB}\`): ${exit}, peak RSS ${f(peak, 0)} MB (the rest of RSS is Node itself and the code).`,
    '',
    `Listing 10,000 conversations the file-based way (read and parse every file): p50 ${f(fileList.p50, 0)} ms; ` +
      `the server's list: ${f(appListP50Pg, 2)} ms on PostgreSQL (${f(fileList.p50 / appListP50Pg, 0)} × faster), ` +
      `${f(appListP50Lite, 2)} ms on PGlite (${f(fileList.p50 / appListP50Lite, 0)} × faster).`
  ]
}

try {
  await main()
} finally {
  rmSync(work, { recursive: true, force: true })
}
