import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import t, { type Test } from 'tap'
import { openPglite } from '../src/db/client.ts'
import { queryRows } from '../src/db/sql.ts'
import { promptOf, startFakeLlm, wellBehaved } from './helpers/fake-llm.ts'
import { runScript, waitForOutput } from './helpers/process.ts'
import { readStream } from './helpers/sse.ts'

async function scenario(t: Test, options: { chairmanDelayMs: number; graceMs: number; signals: number }) {
  const dir = mkdtempSync(join(tmpdir(), 'llmc-shutdown-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const fake = await startFakeLlm(t, (request) =>
    promptOf(request).startsWith('You are the Chairman')
      ? { text: 'Synthesis after a long think', status: 200, delayMs: options.chairmanDelayMs }
      : wellBehaved(request)
  )
  const env = {
    PGLITE_DIR: join(dir, 'pglite'),
    PORT: '0',
    LLM_BASE_URL: fake.baseUrl,
    COUNCIL_MODELS: 'm/one,m/two',
    CHAIRMAN_MODEL: 'm/chair',
    TITLE_MODEL: 'm/title',
    SHUTDOWN_GRACE_MS: String(options.graceMs)
  }
  const server = runScript('src/server.ts', env)
  const line = await waitForOutput(server, /Server listening at (http:\/\/127\.0\.0\.1:\d+)/)
  const base = /http:\/\/127\.0\.0\.1:\d+/.exec(line)![0]
  const id = (await (await fetch(`${base}/api/conversations`, { method: 'POST' })).json()).id

  // Handled from the start: a second signal can reset the connection before anything awaits it.
  const events = readStream(`${base}/api/conversations/${id}/message/stream`, { content: 'Will it finish?' }).then(
    (result) => result.events,
    () => []
  )
  // Signal once the chairman has been asked.
  while (!fake.requests.some((r) => r.model === 'm/chair')) await new Promise((resolve) => setTimeout(resolve, 20))
  for (let i = 0; i < options.signals; i++) {
    server.kill('SIGTERM')
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  const refused = await fetch(`${base}/api/conversations`).then((res) => res.status, () => 'refused')
  const exit = await server.done
  const database = await openPglite(join(dir, 'pglite'))
  t.teardown(() => database.close())
  const stored = await queryRows<{ role: string }>(database.db, sql`select role from messages where conversation_id = ${id} order by position`)
  const [usage] = await queryRows<{ daily_used: number }>(database.db, sql`select daily_used from usage where user_id = 'local'`)
  return { events: await events, exit, stored: stored.map((m) => m.role), usage, refused }
}

t.test('SIGTERM during a council run: the run completes, its answer is stored, exit 0', async (t) => {
  const result = await scenario(t, { chairmanDelayMs: 1500, graceMs: 30_000, signals: 1 })
  t.same(result.events.map((e) => e.type).slice(-3), ['stage3_complete', 'title_complete', 'complete'])
  t.same(result.stored, ['user', 'assistant'])
  t.equal(result.exit.code, 0)
  t.not(result.refused, 200, 'no new requests are taken while shutting down')
  t.match(result.exit.stdout, /SIGTERM: shutting down/)
  t.match(result.exit.stdout, /waiting up to 30000 ms for 1 council run/)
})

t.test('the grace period runs out: the stream ends with "server shutting down", the unit is given back', async (t) => {
  const result = await scenario(t, { chairmanDelayMs: 20_000, graceMs: 500, signals: 1 })
  t.same(result.events.at(-1), { type: 'error', message: 'server shutting down' })
  t.same(result.stored, ['user'], 'no assistant message')
  t.equal(Number(result.usage?.daily_used), 0, 'refunded')
  t.equal(result.exit.code, 0)
})

t.test('a second signal exits at once', async (t) => {
  const result = await scenario(t, { chairmanDelayMs: 20_000, graceMs: 30_000, signals: 2 })
  t.equal(result.exit.code, 1, 'exit 1 at the second signal (waiting would have ended in exit 0)')
  t.same(result.stored, ['user'], 'the run was cut off, not finished')
})
