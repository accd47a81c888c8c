import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'drizzle-orm'
import t, { type Test } from 'tap'
import { openPglite } from '../src/db/client.ts'
import { SAME_SIGNAL_MS } from '../src/stop-signals.ts'
import { queryRows } from './helpers/db.ts'
import { promptOf, startFakeLlm, wellBehaved } from './helpers/fake-llm.ts'
import { runCommand, runScript, waitForOutput } from './helpers/process.ts'
import { readStream, stageEvents } from './helpers/sse.ts'

type Signal = 'SIGTERM' | 'SIGINT'

interface Scenario {
  /** `node`: the server's own process; `npm`: `npm start` in a process group of its own, signalled as a group. */
  start: 'node' | 'npm'
  signals: Signal[]
  graceMs: number
  /** Whether the chairman answers once the signals are in (else it never does while the test runs). */
  chairmanAnswers: boolean
}

async function scenario(t: Test, options: Scenario) {
  const dir = mkdtempSync(join(tmpdir(), 'llmc-shutdown-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  // The chairman is held until the test has sent its signals and the server has said it handled each,
  // so the run is in flight when they arrive however slow the machine is.
  let release = () => {}
  const held = new Promise<void>((resolve) => (release = resolve))
  const fake = await startFakeLlm(t, async (request) => {
    if (!promptOf(request).startsWith('You are the Chairman')) return wellBehaved(request)
    await held
    return options.chairmanAnswers ? 'Synthesis after a long think' : { hang: true }
  })
  t.teardown(release)
  const env = {
    PGLITE_DIR: join(dir, 'pglite'),
    PORT: '0',
    LLM_BASE_URL: fake.baseUrl,
    COUNCIL_MODELS: 'm/one,m/two',
    CHAIRMAN_MODEL: 'm/chair',
    TITLE_MODEL: 'm/title',
    SHUTDOWN_GRACE_MS: String(options.graceMs)
  }
  // npm start outside tap's process tracking: coverage of the compiled server in dist/, mapped back onto
  // src/, would be merged with the tests' own and skew it.
  const server = options.start === 'npm' ? runCommand(['npm', 'start'], env, { untracked: true, detached: true }) : runScript('src/server.ts', env)
  // npm start builds first: on a busy machine that alone can take a while.
  const line = await waitForOutput(server, /Server listening at (http:\/\/127\.0\.0\.1:\d+)/, 300_000)
  const base = /http:\/\/127\.0\.0\.1:\d+/.exec(line)![0]
  const id = (await (await fetch(`${base}/api/conversations`, { method: 'POST' })).json()).id

  // Handled from the start: a forced exit resets the connection before anything awaits it.
  const events = readStream(`${base}/api/conversations/${id}/message/stream`, { content: 'Will it finish?' }).then(
    (result) => result.events,
    () => []
  )
  while (!fake.requests.some((r) => r.model === 'm/chair')) await sleep(20)
  const signal = (name: Signal) => (options.start === 'npm' ? process.kill(-server.pid!, name) : server.kill(name))
  const [first, ...later] = options.signals
  const stopping = waitForOutput(server, /shutting down/, 300_000)
  signal(first!)
  await stopping
  for (const name of later) {
    // A moment after the server handled the first: past the window in which copies of one signal count once.
    await sleep(SAME_SIGNAL_MS + 500)
    const handled = waitForOutput(server, new RegExp(`${name} again`), 300_000)
    signal(name)
    await handled
  }
  const refused = await fetch(`${base}/api/conversations`).then((res) => res.status, () => 'refused')
  release()
  const exit = await server.done
  const database = await openPglite(join(dir, 'pglite'))
  t.teardown(() => database.close())
  const stored = await queryRows<{ role: string; status: string | null; answers: number | null }>(
    database.db,
    sql`select role, metadata->>'status' as status, jsonb_array_length(stage1) as answers from messages where conversation_id = ${id} order by position`
  )
  const [usage] = await queryRows<{ daily_used: number }>(database.db, sql`select daily_used from usage where user_id = 'local'`)
  return { events: await events, exit, stored: stored.map((m) => m.role), status: stored[1]?.status, answers: stored[1]?.answers, usage, refused }
}

t.test('SIGTERM during a council run: the run completes, its answer is stored, exit 0', async (t) => {
  const result = await scenario(t, { start: 'node', signals: ['SIGTERM'], graceMs: 60_000, chairmanAnswers: true })
  t.same(stageEvents(result.events).map((e) => e.type).slice(-3), ['stage3_complete', 'title_complete', 'complete'])
  t.same(result.stored, ['user', 'assistant'])
  t.equal(result.exit.code, 0)
  t.not(result.refused, 200, 'no new requests are taken while shutting down')
  t.match(result.exit.stdout, /SIGTERM: shutting down/)
  t.match(result.exit.stdout, /waiting up to 60000 ms for 1 council run/)
})

t.test('the grace period runs out: the run is stored as interrupted with what it had, the stream says so, the unit is given back', async (t) => {
  const result = await scenario(t, { start: 'node', signals: ['SIGTERM'], graceMs: 500, chairmanAnswers: false })
  t.match(stageEvents(result.events).at(-1), { type: 'error', message: /^server shutting down/ })
  t.match(result.events.at(-1), { type: 'run_end', state: 'interrupted', position: 1 })
  t.same(result.stored, ['user', 'assistant'], 'stored as an interrupted answer, to retry: never a lone question')
  t.equal(result.status, 'interrupted')
  t.equal(result.answers, 2, "the members' finished answers are kept")
  t.equal(Number(result.usage?.daily_used), 0, 'refunded')
  t.equal(result.exit.code, 0)
})

t.test('a repeated SIGTERM never cuts the grace period short', async (t) => {
  const result = await scenario(t, {
    start: 'node',
    signals: ['SIGTERM', 'SIGTERM'],
    graceMs: 60_000,
    chairmanAnswers: true
  })
  t.equal(result.exit.code, 0)
  t.same(result.stored, ['user', 'assistant'], 'the run finished and was stored after the second SIGTERM')
  t.match(result.exit.stdout, /SIGTERM again: already shutting down/)
})

t.test('a second Ctrl-C a moment later exits at once', async (t) => {
  const result = await scenario(t, { start: 'node', signals: ['SIGINT', 'SIGINT'], graceMs: 60_000, chairmanAnswers: false })
  t.equal(result.exit.code, 1, 'exit 1 at the second SIGINT (waiting would have ended in exit 0)')
  t.same(result.stored, ['user'], 'the run was cut off, not finished')
  t.match(result.exit.stdout, /SIGINT again: exiting at once/)
})

t.test('npm start signalled as a process group (systemd, Ctrl-C): one request to stop, the answer is stored, exit 0', async (t) => {
  const result = await scenario(t, { start: 'npm', signals: ['SIGTERM'], graceMs: 60_000, chairmanAnswers: true })
  t.same(stageEvents(result.events).map((e) => e.type).slice(-3), ['stage3_complete', 'title_complete', 'complete'])
  t.same(result.stored, ['user', 'assistant'])
  t.equal(result.exit.code, 0, 'npm exits 0 once the server has')
  // npm forwards its copy of the signal to the server; the kernel merges it with the group's when
  // it arrives before that one is handled, so the log shows one or two (test/stop-signals.test.ts).
  t.match(result.exit.stdout, /SIGTERM: shutting down/)
  t.match(result.exit.stdout, /node dist\/server\.js/, 'npm start runs the compiled server on node')
})
