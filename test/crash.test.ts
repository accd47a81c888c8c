import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { TEST_DATABASE_URL, createPostgresDatabase } from './helpers/db.ts'
import { type FakeRequest, promptOf, startFakeLlm, wellBehaved } from './helpers/fake-llm.ts'
import { runScript, waitForOutput } from './helpers/process.ts'

const isMember = (request: FakeRequest) => !promptOf(request).includes('FINAL RANKING:') && !promptOf(request).startsWith('You are the Chairman') && request.model !== 'm/title'

/**
 * An instance killed mid-run (SIGKILL: no shutdown, no grace) leaves its run `running` with a heartbeat
 * that stops. The next instance to start notices it and stores what it had as an interrupted answer,
 * which can be retried; its unit is given back.
 */
async function killedMidRun(t: Test, storage: Record<string, string>) {
  // m/one answers; m/two and m/three never do while the first server lives.
  let slow = true
  const fake = await startFakeLlm(t, (request) => (isMember(request) && request.model !== 'm/one' && slow ? { hang: true } : wellBehaved(request)))
  const env = {
    ...storage,
    PORT: '0',
    LLM_BASE_URL: fake.baseUrl,
    COUNCIL_MODELS: 'm/one,m/two,m/three',
    CHAIRMAN_MODEL: 'm/chair',
    TITLE_MODEL: 'm/title',
    RUN_HEARTBEAT_MS: '200'
  }
  const start = async () => {
    const server = runScript('src/server.ts', env)
    t.teardown(() => void server.kill('SIGKILL'))
    const line = await waitForOutput(server, /Server listening at (http:\/\/127\.0\.0\.1:\d+)/, 300_000)
    return { server, base: /http:\/\/127\.0\.0\.1:\d+/.exec(line)![0] }
  }
  const first = await start()
  const id = (await (await fetch(`${first.base}/api/conversations`, { method: 'POST' })).json()).id
  void fetch(`${first.base}/api/conversations/${id}/message`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ content: 'Will I survive?' }) }).catch(() => {})
  // m/one's answer is in, and stored with the run's events (they are stored every 250 ms).
  let run: { id: string; progress: { stage1: unknown[] } } | undefined
  while (!run || run.progress.stage1.length === 0) {
    await sleep(50)
    const conversation = await (await fetch(`${first.base}/api/conversations/${id}`)).json()
    if (conversation.run) run = await (await fetch(`${first.base}/api/conversations/${id}/runs/${conversation.run.id}`)).json()
  }
  first.server.kill('SIGKILL')
  await first.server.done
  slow = false

  const second = await start()
  let stored = await (await fetch(`${second.base}/api/conversations/${id}`)).json()
  while (stored.messages.length < 2) {
    await sleep(100)
    stored = await (await fetch(`${second.base}/api/conversations/${id}`)).json()
  }
  t.equal(stored.run, null, 'the run is no longer running')
  t.match(stored.messages[1], { role: 'assistant', stage1: [{ model: 'm/one', response: 'Answer from m/one' }], stage3: null, metadata: { status: 'interrupted', missing: ['m/two', 'm/three'] } })
  t.match(await (await fetch(`${second.base}/api/conversations/${id}/runs/${run.id}`)).json(), { state: 'interrupted', answer_position: 1, ended_at: String })
  const events = (await (await fetch(`${second.base}/api/conversations/${id}/runs/${run.id}/events`)).text())
    .split('\n')
    .filter((line) => line.startsWith('data: '))
    .map((line) => JSON.parse(line.slice(6)))
  t.match(events.at(-1), { type: 'run_end', state: 'interrupted', position: 1 }, 'a client following it is told it ended')
  t.match(events.at(-2), { type: 'error', message: /^the server running it stopped/ })
  t.equal((await (await fetch(`${second.base}/api/usage`)).json()).daily_used, 0, 'its unit was given back')
  const retried = await fetch(`${second.base}/api/conversations/${id}/messages/1/retry`, { method: 'POST' })
  t.equal(retried.status, 200, 'retried like a failed answer')
  t.match(await retried.json(), { stage1: [{ model: 'm/one' }, { model: 'm/two' }, { model: 'm/three' }], metadata: { status: 'complete' } })
}

t.test('an instance killed mid-run: the next one stores the run as interrupted, and it can be retried (PGlite)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'llmc-crash-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  await killedMidRun(t, { PGLITE_DIR: join(dir, 'pglite') })
})

t.test('the same on PostgreSQL', { skip: !TEST_DATABASE_URL && 'TEST_DATABASE_URL is not set' }, async (t) => {
  await killedMidRun(t, { DATABASE_URL: await createPostgresDatabase(t) })
})
