import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import t from 'tap'
import { TEST_DATABASE_IS_LOCAL, TEST_DATABASE_URL } from '../helpers/db.ts'
import { runScript } from '../helpers/process.ts'

// A short run of the whole benchmark: every scenario reports, nothing fails, nothing is left behind.
// It checks that the bench works, not how fast anything is. Its scenarios take a few minutes, more on
// a machine that other work shares: past the suite's 300 s per file.
t.setTimeout(15 * 60_000)
t.test('npm run bench: a short run reports every figure and drops its databases', { skip: !TEST_DATABASE_URL && 'TEST_DATABASE_URL is not set' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'llmc-bench-test-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const results = join(dir, 'results.md')
  // Outside tap's process tracking: the loader and coverage it adds to NODE_OPTIONS would count against
  // the 32 MB heap the bench gives its import.
  const run = await runScript('bench/run.ts', { BENCH_DATABASE_URL: TEST_DATABASE_URL!, BENCH_SECONDS: '1', BENCH_RESULTS: results, BENCH_LIVE_RUNS: '20,50', BENCH_SEARCH_SCALES: '200,1000', BENCH_SEARCH_SECONDS: '1' }, [], {
    untracked: true
  }).done
  t.equal(run.code, 0, 'the bench exits 0', { stderr: run.stderr.slice(-2000) })
  const report = readFileSync(results, 'utf8')
  t.equal(run.stdout.trim(), report.trim(), 'the report printed is the report written')

  const rows = report.split('\n').filter((line) => /^\| (PostgreSQL|PGlite) \| /.test(line))
  const scenarios = ['list 50 conversations', 'list 50 conversations, signed in with an API key', 'get a 40-message conversation', 'create a conversation', 'full council message (zero-delay models)']
  for (const backend of ['PostgreSQL', 'PGlite']) {
    for (const conns of ['1', '32']) {
      for (const scenario of scenarios) {
        const row = rows.find((line) => line.startsWith(`| ${backend} | ${scenario} | ${conns} |`))
        t.ok(row && Number(row.split('|')[4]) > 0, `${backend} ${scenario} at ${conns}: requests per second`)
      }
    }
  }
  for (const conns of ['1', '32']) {
    const row = rows.find((line) => line.startsWith(`| PostgreSQL | list 50 conversations | ${conns} |`))!
    const ratios = row.split('|').slice(9, 13).map(Number)
    t.ok(ratios.length === 4 && ratios.every((ratio) => ratio > 0), `list at ${conns}: the ratios against the ceilings and the least server`)
  }
  // Where the CPU went: the server, least server, database client and bare server always; PostgreSQL's
  // processes where they run on this machine.
  for (const scenario of ['list 50 conversations', 'get a 40-message conversation']) {
    for (const conns of ['1', '32']) {
      const line = report.split('\n').find((text) => text.startsWith(`| ${scenario} | ${conns} |`))?.split('|')
      const cells = line?.slice(3, 13).map((cell) => cell.trim())
      const [appServer, appPostgres, , leastServer, , , rawPostgres, rawClient, bareServer] = (cells ?? []).map(Number)
      t.ok(cells?.length === 10 && [appServer, leastServer, rawClient, bareServer].every((us) => us! > 0), `${scenario} at ${conns}: CPU per request of each process`, { cells })
      if (TEST_DATABASE_IS_LOCAL) t.ok(appPostgres! > 0 && rawPostgres! > 0, `${scenario} at ${conns}: PostgreSQL's CPU per request`)
      const idle = line?.[13]?.split('/').map(Number)
      t.ok(idle?.length === 4 && idle.every((share) => share >= 0 && share <= 100), `${scenario} at ${conns}: the idle share of each run`, { idle })
    }
  }
  t.equal(rows.filter((line) => / \| (list|get) \| [\d.]+ ms \| [\d.]+ ms \| [\d.]+ \|$/.test(line)).length, 4, 'scale rows for both reads on both backends')
  t.match(report, /\| ratio \(import ÷ plain, throughput\) \| [\d.]+ \|/)
  t.match(report, /with a 32 MB heap \(`--max-old-space-size=32`\): exit 0, peak RSS \d+ MB/)
  t.match(report, /Listing 10,000 conversations the file-based way .* \(\d+ × faster\)/)
  t.match(report, /Signing in: listing with an API key ÷ with the proxy header \(mean time\): PostgreSQL [\d.]+ at 1 connection, [\d.]+ at 32;\nPGlite [\d.]+ and [\d.]+\. Hashing a password \(scrypt, N=2\^15\): p50 \d+ ms\./)
  t.match(report, /\| the server's share \(difference, target ≤ 20 ms\) \| -?[\d.]+ \| -?[\d.]+ \|/, 'time to first token, through the server and straight from the provider')
  for (const count of ['20', '50']) t.match(report, new RegExp(`^\\| ${count} \\| ${count} / ${count} \\| [\\d.]+ \\|.* \\| -?\\d+ KB \\| \\d+ \\|$`, 'm'), `${count} streaming runs at once: all complete and stored`)
  t.match(report, /Reconnecting on a second instance .*: 20 of 20 delivered every event once, in order/)
  for (const query of ['a common word \\(20 found\\)', 'a rare phrase \\(3 found\\)', 'both in turn']) {
    t.match(report, new RegExp(`^\\| ${query} \\|( [\\d.]+ \\|){6}$`, 'm'), `search: ${query} at both scales, with ratios`)
  }
  t.match(report, /At 1,000: GIN indexes [\d.]+ MB, stored word vectors [\d.]+ MB/)
  t.match(report, /Export of a 40-message conversation .*: Markdown \(\d+ KB\) p50 [\d.]+ ms, p99 [\d.]+ ms, heap growth over one export [\d.]+ MB; JSON/)
  t.notMatch(report, /Notes:/, 'no scenario had errors')

  const admin = postgres(TEST_DATABASE_URL!, { max: 1, onnotice: () => {} })
  t.teardown(() => admin.end())
  const left = await admin`select datname from pg_database where datname like 'llmc_bench%'`
  t.same(left, [], 'every database the bench made is dropped')
})
