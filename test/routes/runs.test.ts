import { sql } from 'drizzle-orm'
import t from 'tap'
import { openPostgres } from '../../src/db/client.ts'
import { buildTestApp } from '../helpers/app.ts'
import { BACKENDS, POOL, eachBackend, openTestDatabase } from '../helpers/db.ts'
import { type FakeRequest, promptOf, startFakeLlm, wellBehaved } from '../helpers/fake-llm.ts'
import { newRun } from '../helpers/runs.ts'
import { readStream, stageEvents } from '../helpers/sse.ts'

const USER = { 'x-forwarded-user': 'runner' }
const MODELS = ['m/one', 'm/two', 'm/three']
const env = (baseUrl: string) => ({
  AUTH_MODE: 'header',
  LLM_BASE_URL: baseUrl,
  COUNCIL_MODELS: MODELS.join(','),
  CHAIRMAN_MODEL: 'm/chair',
  TITLE_MODEL: 'm/title',
  USAGE_LIMITS: 'free:1000/1000'
})
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const isMember = (request: FakeRequest) => !promptOf(request).includes('FINAL RANKING:') && !promptOf(request).startsWith('You are the Chairman') && request.model !== 'm/title'
const LONG = 'a long answer written slowly, word by word, '.repeat(8)

/** Members write slowly (a word, then a long pause), except those in `quick`, which answer at once. */
const slowMembers = (quick: string[] = []) => (request: FakeRequest) =>
  isMember(request) && !quick.includes(request.model) ? { status: 200, text: LONG, chunkDelayMs: 600_000 } : wellBehaved(request)

await eachBackend(t, async (t, backend) => {
  const database = await openTestDatabase(t, backend)
  const fake = await startFakeLlm(t, wellBehaved)
  const { app } = await buildTestApp(t, database, env(fake.baseUrl))
  const base = await app.listen({ port: 0, host: '127.0.0.1' })
  t.beforeEach(() => fake.setHandler(wellBehaved))
  const newConversation = async (headers = USER) => (await app.inject({ method: 'POST', url: '/api/conversations', headers })).json().id as string
  const getConversation = async (id: string, headers = USER) => (await app.inject({ url: `/api/conversations/${id}`, headers })).json()
  const usedToday = async (headers: Record<string, string>) => (await app.inject({ url: '/api/usage', headers })).json().daily_used as number
  const until = async (check: () => boolean | Promise<boolean>) => {
    while (!(await check())) await sleep(20)
  }

  t.test('the stream forwards each piece as it comes: the pieces make the stored answers, the first event names the run', async (t) => {
    fake.setHandler((request) => (promptOf(request).includes('FINAL RANKING:') || request.model === 'm/title' ? wellBehaved(request) : { status: 200, text: `${request.model} says ${LONG}`, chunkDelayMs: 1 }))
    const id = await newConversation()
    const stream = await readStream(`${base}/api/conversations/${id}/message/stream`, { content: 'Stream it' }, { headers: USER })
    t.same(stream.events[0], { type: 'run_start', run_id: stream.headers['x-run-id'] })
    const stored = (await getConversation(id)).messages[1]
    for (const { model, response } of stored.stage1) {
      const pieces = stream.events.filter((e) => e.type === 'stage1_delta' && e.model === model).map((e) => e.text)
      t.ok(pieces.length > 10, `${model}: ${pieces.length} pieces`)
      t.equal(pieces.join(''), response, `${model}: the pieces make the stored answer`)
    }
    const synthesis = stream.events.filter((e) => e.type === 'stage3_delta').map((e) => e.text)
    t.equal(synthesis.join(''), stored.stage3.response)
    t.ok(stream.events.findIndex((e) => e.type === 'stage1_delta') < stream.events.findIndex((e) => e.type === 'stage1_complete'), 'pieces come before the stage is done')
  })

  t.test('during a run, the conversation shows it and GET .../runs/{id} what it has so far', async (t) => {
    fake.setHandler(slowMembers(['m/one']))
    const id = await newConversation()
    let runId = ''
    const stream = readStream(`${base}/api/conversations/${id}/message/stream`, { content: 'Progress?' }, {
      headers: USER,
      onEvent: (e) => e.type === 'run_start' && (runId = e.run_id as string)
    })
    await until(() => fake.requests.filter((r) => r.model === 'm/two' && r.stream).length > 0 && runId !== '')
    const shown = await getConversation(id)
    t.match(shown.run, { id: runId, state: 'running', question_position: 0, started_at: String })
    // Stored in batches: within a moment of arriving.
    let run: { state: string; progress: { stage1: unknown[]; stage1_text: Record<string, string> } } | undefined
    await until(async () => {
      run = (await app.inject({ url: `/api/conversations/${id}/runs/${runId}`, headers: USER })).json()
      return run!.progress.stage1.length === 1 && 'm/two' in run!.progress.stage1_text
    })
    t.match(run, { state: 'running', progress: { stage1: [{ model: 'm/one', response: 'Answer from m/one' }], stage1_text: { 'm/two': /^a / } } })
    t.equal((await app.inject({ url: `/api/conversations/${id}/runs/${runId}`, headers: { 'x-forwarded-user': 'someone-else' } })).statusCode, 404, "another user's run is not found")
    t.equal((await app.inject({ method: 'POST', url: `/api/conversations/${id}/runs/${runId}/cancel`, headers: USER })).json().state, 'cancelled')
    await stream
    t.equal((await getConversation(id)).run, null, 'no run once it has ended')
  })

  t.test('cancel mid-stage-1: every upstream request is closed, the finished answer is kept, the unit too', async (t) => {
    const user = { 'x-forwarded-user': `canceller-${backend}` }
    fake.setHandler(slowMembers(['m/one']))
    fake.requests.length = 0
    const id = await newConversation(user)
    let runId = ''
    const stream = readStream(`${base}/api/conversations/${id}/message/stream`, { content: 'Stop me' }, {
      headers: user,
      onEvent: (e) => e.type === 'run_start' && (runId = e.run_id as string)
    })
    await until(() => ['m/two', 'm/three'].every((model) => fake.requests.some((r) => r.model === model)) && runId !== '')
    await sleep(50)
    const cancelled = await app.inject({ method: 'POST', url: `/api/conversations/${id}/runs/${runId}/cancel`, headers: user })
    t.equal(cancelled.statusCode, 200)
    t.match(cancelled.json(), { id: runId, state: 'cancelled', answer_position: 1, ended_at: String })
    const slow = fake.requests.filter((r) => r.model === 'm/two' || r.model === 'm/three')
    await until(() => slow.every((r) => r.closedEarly))
    t.ok(slow.every((r) => r.closedEarly), 'the fake saw both unfinished streams closed')
    t.notOk(fake.requests.some((r) => promptOf(r).includes('FINAL RANKING:') || promptOf(r).startsWith('You are the Chairman')), 'nothing more was asked')
    const events = (await stream).events
    t.match(stageEvents(events).at(-1), { type: 'error', message: /cancelled/ })
    t.match(events.at(-1), { type: 'run_end', run_id: runId, state: 'cancelled', position: 1 })
    const answer = (await getConversation(id, user)).messages[1]
    t.match(answer, { stage1: [{ model: 'm/one', response: 'Answer from m/one' }], stage3: null, metadata: { status: 'cancelled', missing: ['m/two', 'm/three'] } })
    t.equal(await usedToday(user), 1, 'a model had answered: the unit is spent')
    t.equal((await app.inject({ method: 'POST', url: `/api/conversations/${id}/runs/${runId}/cancel`, headers: user })).json().state, 'cancelled', 'cancelling again changes nothing')

    fake.setHandler(wellBehaved)
    const retried = await app.inject({ method: 'POST', url: `/api/conversations/${id}/messages/1/retry`, headers: user })
    t.equal(retried.statusCode, 200, 'a cancelled answer is retried like a failed one')
    t.equal(retried.json().metadata.status, 'complete')
    t.equal(retried.json().stage1.length, 3)
  })

  t.test('a retry stopped part way keeps the answer it was retrying as it was', async (t) => {
    const user = { 'x-forwarded-user': `retry-canceller-${backend}` }
    fake.setHandler((request) => (request.model === 'm/three' && isMember(request) ? { status: 503 } : wellBehaved(request)))
    const id = await newConversation(user)
    const degraded = (await app.inject({ method: 'POST', url: `/api/conversations/${id}/message`, headers: user, payload: { content: 'Partly?' } })).json()
    t.equal(degraded.metadata.status, 'degraded')
    fake.setHandler(slowMembers(['m/one', 'm/two']))
    fake.requests.length = 0
    const retrying = app.inject({ method: 'POST', url: `/api/conversations/${id}/messages/1/retry`, headers: user })
    await until(() => fake.requests.some((r) => r.model === 'm/three'))
    const runId = (await getConversation(id, user)).run.id
    t.equal((await app.inject({ method: 'POST', url: `/api/conversations/${id}/runs/${runId}/cancel`, headers: user })).json().state, 'cancelled')
    t.equal((await retrying).statusCode, 409)
    const stored = (await getConversation(id, user)).messages[1]
    t.same({ stage1: stored.stage1, stage2: stored.stage2, stage3: stored.stage3, metadata: stored.metadata }, degraded, 'unchanged: its synthesis and reviews are still there')
  })

  t.test('cancel before any model answered: the unit is given back; the JSON route answers 409 with the run', async (t) => {
    const user = { 'x-forwarded-user': `early-canceller-${backend}` }
    fake.setHandler(slowMembers())
    fake.requests.length = 0
    const id = await newConversation(user)
    const asked = app.inject({ method: 'POST', url: `/api/conversations/${id}/message`, headers: user, payload: { content: 'Never mind' } })
    await until(() => fake.requests.filter(isMember).length === 3)
    const runId = (await getConversation(id, user)).run.id
    t.equal((await app.inject({ method: 'POST', url: `/api/conversations/${id}/runs/${runId}/cancel`, headers: user })).json().state, 'cancelled')
    const res = await asked
    t.equal(res.statusCode, 409)
    t.equal(res.headers['x-run-id'], runId)
    t.match(res.json(), { code: 'RUN_CANCELLED', position: 1, run_id: runId })
    t.equal(await usedToday(user), 0, 'nothing had answered: refunded')
  })

  t.test('reconnecting with Last-Event-ID gives the rest exactly once, in order', async (t) => {
    fake.setHandler((request) => (isMember(request) ? { status: 200, text: `${request.model}: ${LONG}`, chunkDelayMs: 2 } : wellBehaved(request)))
    const id = await newConversation()
    const first = await readStream(`${base}/api/conversations/${id}/message/stream`, { content: 'Reconnect' }, { headers: USER, stopAfter: 'stage1_model_complete' })
    const runId = first.headers['x-run-id'] as string
    const last = first.ids.at(-1)!
    const rest = await readStream(`${base}/api/conversations/${id}/runs/${runId}/events`, null, { method: 'GET', headers: { ...USER, 'last-event-id': String(last) } })
    t.equal(rest.status, 200)
    t.same(rest.ids, rest.ids.map((_, i) => last + 1 + i), 'numbered on from where it left off, none twice, none missing')
    t.match(rest.events.at(-1), { type: 'run_end', state: 'complete' })
    const whole = await readStream(`${base}/api/conversations/${id}/runs/${runId}/events`, null, { method: 'GET', headers: USER })
    t.same([...first.events, ...rest.events], whole.events, 'the two parts are the whole run')
    t.equal((await app.inject({ url: `/api/conversations/${id}/runs/${runId}/events`, headers: { ...USER, 'last-event-id': 'x' } })).statusCode, 400)
    t.equal((await app.inject({ url: `/api/conversations/${id}/runs/00000000-0000-4000-8000-000000000000/events`, headers: USER })).statusCode, 404)
  })

  t.test("a follower waits for a run's last events, stored a moment after it is marked ended; long after, it is told the end", async (t) => {
    const id = await newConversation()
    const run = newRun()
    await app.repos.messages.startRun('runner', id, 'q', 600_000, run)
    await app.repos.runs.appendEvents([{ runId: run.id, firstId: 1, events: [{ type: 'run_start', run_id: run.id }] }])
    await database.db.execute(sql`update runs set state = 'complete', answer_position = 1, ended_at = now() where id = ${run.id}`)
    const following = readStream(`${base}/api/conversations/${id}/runs/${run.id}/events`, null, { method: 'GET', headers: USER })
    await sleep(300)
    await app.repos.runs.appendEvents([{ runId: run.id, firstId: 2, events: [{ type: 'complete' }, { type: 'run_end', run_id: run.id, state: 'complete', position: 1, last: true }] }])
    const { events, ids } = await following
    t.same(ids, [1, 2, 3])
    t.match(events.at(-1), { type: 'run_end', last: true }, 'the stored end, not one made up before it came')

    await database.db.execute(sql`delete from run_events where run_id = ${run.id}`)
    await database.db.execute(sql`update runs set ended_at = now() - interval '2 hours' where id = ${run.id}`)
    const purged = await readStream(`${base}/api/conversations/${id}/runs/${run.id}/events`, null, { method: 'GET', headers: USER })
    t.same(purged.events, [{ type: 'run_end', run_id: run.id, state: 'complete', position: 1 }], 'events purged long after: the end alone')
  })

  t.test('Idempotency-Key: a repeat joins the same run and charges nothing more; another body is a 422', async (t) => {
    const user = { 'x-forwarded-user': `idempotent-${backend}` }
    const id = await newConversation(user)
    const ask = (content: string, key: string, route = 'message') =>
      app.inject({ method: 'POST', url: `/api/conversations/${id}/${route}`, headers: { ...user, 'idempotency-key': key }, payload: { content } })
    const first = await ask('Once?', 'key-1')
    const again = await ask('Once?', 'key-1')
    t.equal(first.statusCode, 200)
    t.equal(again.statusCode, 200)
    t.equal(again.headers['x-run-id'], first.headers['x-run-id'], 'the same run')
    t.same(again.json(), first.json(), 'its stored answer')
    const replay = await readStream(`${base}/api/conversations/${id}/message/stream`, { content: 'Once?' }, { headers: { ...user, 'idempotency-key': 'key-1' } })
    t.match(replay.events[0], { type: 'run_start', run_id: first.headers['x-run-id'] }, 'the stream route joins it too')
    t.match(replay.events.at(-1), { type: 'run_end', state: 'complete' })
    const other = await ask('Something else', 'key-1')
    t.equal(other.statusCode, 422)
    t.match(other.json().message, /Idempotency-Key was used with another request/)
    t.equal((await ask('x', 'bad key with spaces')).statusCode, 400)
    t.equal(await usedToday(user), 1, 'one unit')
    t.equal((await getConversation(id, user)).message_count, 2, 'one question, one answer')

    fake.setHandler(slowMembers(['m/one', 'm/two', 'm/three']))
    const together = await Promise.all(Array.from({ length: 8 }, () => ask('Together?', 'key-2')))
    t.same(together.map((res) => res.statusCode), Array(8).fill(200))
    t.equal(new Set(together.map((res) => res.headers['x-run-id'])).size, 1, 'eight at once: one run')
    t.equal(await usedToday(user), 2, 'and one unit for it')
    t.equal((await getConversation(id, user)).message_count, 4)
  })
})

t.test('two instances on one database: a client reconnects to the other with Last-Event-ID and gets the rest exactly once', { skip: !BACKENDS.includes('postgres') && 'TEST_DATABASE_URL is not set' }, async (t) => {
  const first = await openTestDatabase(t, 'postgres')
  const second = openPostgres(first.url!, POOL)
  t.teardown(() => second.close())
  const fake = await startFakeLlm(t, (request) => (isMember(request) ? { status: 200, text: `${request.model}: ${LONG}`, chunkDelayMs: 5 } : wellBehaved(request)))
  const a = await buildTestApp(t, first, env(fake.baseUrl))
  const b = await buildTestApp(t, second, env(fake.baseUrl))
  const [baseA, baseB] = [await a.app.listen({ port: 0, host: '127.0.0.1' }), await b.app.listen({ port: 0, host: '127.0.0.1' })]
  const id = (await a.app.inject({ method: 'POST', url: '/api/conversations', headers: USER })).json().id
  const part = await readStream(`${baseA}/api/conversations/${id}/message/stream`, { content: 'Across instances' }, { headers: USER, stopAfter: 'stage1_delta' })
  const runId = part.headers['x-run-id'] as string
  const last = part.ids.at(-1)!
  const rest = await readStream(`${baseB}/api/conversations/${id}/runs/${runId}/events`, null, { method: 'GET', headers: { ...USER, 'last-event-id': String(last) } })
  t.same(rest.ids, rest.ids.map((_, i) => last + 1 + i), 'from the next event on, once each, in order')
  t.match(rest.events.at(-1), { type: 'run_end', state: 'complete', position: 1 })
  const all = [...part.events, ...rest.events]
  const stored = (await b.app.inject({ url: `/api/conversations/${id}`, headers: USER })).json().messages[1]
  for (const { model, response } of stored.stage1) {
    t.equal(all.filter((e) => e.type === 'stage1_delta' && e.model === model).map((e) => e.text).join(''), response, `${model}: nothing lost across the move`)
  }
  // A cancel sent to the other instance stops a run here.
  fake.setHandler(slowMembers())
  const id2 = (await a.app.inject({ method: 'POST', url: '/api/conversations', headers: USER })).json().id
  const asked = a.app.inject({ method: 'POST', url: `/api/conversations/${id2}/message`, headers: USER, payload: { content: 'Stop from afar' } })
  while (fake.requests.filter((r) => isMember(r) && r.messages.at(-1)?.content === 'Stop from afar').length < 3) await sleep(20)
  const run2 = (await b.app.inject({ url: `/api/conversations/${id2}`, headers: USER })).json().run.id
  const cancelled = await b.app.inject({ method: 'POST', url: `/api/conversations/${id2}/runs/${run2}/cancel`, headers: USER })
  t.equal(cancelled.json().state, 'cancelled')
  t.equal((await asked).statusCode, 409)
})
