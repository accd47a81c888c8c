import t from 'tap'
import { buildTestApp } from '../helpers/app.ts'
import { eachBackend, openTestDatabase } from '../helpers/db.ts'
import { promptOf, startFakeLlm, wellBehaved } from '../helpers/fake-llm.ts'
import { readStream, stageEvents } from '../helpers/sse.ts'

const KEY = 'sk-or-v1-secret-key-for-tests'
const USER = { 'x-forwarded-user': 'asker' }
const OTHER = { 'x-forwarded-user': 'stranger' }

await eachBackend(t, async (t, backend) => {
  const database = await openTestDatabase(t, backend)
  const fake = await startFakeLlm(t, wellBehaved)
  const { app, logs } = await buildTestApp(t, database, {
    AUTH_MODE: 'header',
    LLM_BASE_URL: fake.baseUrl,
    OPENROUTER_API_KEY: KEY,
    COUNCIL_MODELS: 'm/one,m/two,m/three',
    CHAIRMAN_MODEL: 'm/chair',
    TITLE_MODEL: 'm/title',
    USAGE_LIMITS: 'free:1000/1000'
  })
  const base = await app.listen({ port: 0, host: '127.0.0.1' })
  t.beforeEach(() => fake.setHandler(wellBehaved))

  const newConversation = async (headers = USER) =>
    (await app.inject({ method: 'POST', url: '/api/conversations', headers })).json().id as string
  const getConversation = async (id: string, headers = USER) =>
    (await app.inject({ url: `/api/conversations/${id}`, headers })).json()

  t.test('POST /message runs the council, stores both messages and titles the first', async (t) => {
    const id = await newConversation()
    const res = await app.inject({ method: 'POST', url: `/api/conversations/${id}/message`, headers: USER, payload: { content: 'Which database?' } })
    t.equal(res.statusCode, 200)
    const body = res.json()
    t.same(Object.keys(body).sort(), ['metadata', 'stage1', 'stage2', 'stage3'])
    t.equal(body.stage1.length, 3)
    t.same(body.stage3, { model: 'm/chair', response: 'Synthesis by m/chair' })
    t.match(body.metadata, { label_to_model: { 'Response A': 'm/one' }, aggregate_rankings: Array, errors: [] })

    const stored = await getConversation(id)
    t.equal(stored.title, 'Choosing A Database')
    t.equal(stored.message_count, 2)
    t.same(stored.messages[0], { role: 'user', content: 'Which database?', created_at: stored.messages[0].created_at })
    const { created_at: _, role, ...stages } = stored.messages[1]
    t.equal(role, 'assistant')
    t.same(stages, body, 'the stored answer is exactly the one returned')

    fake.requests.length = 0
    await app.inject({ method: 'POST', url: `/api/conversations/${id}/message`, headers: USER, payload: { content: 'And why?' } })
    t.notOk(fake.requests.some((r) => r.model === 'm/title'), 'only the first message asks for a title')
    t.equal((await getConversation(id)).message_count, 4)
  })

  t.test('the stream: exact event order and payloads, one write per event', async (t) => {
    const id = await newConversation()
    const stream = await readStream(`${base}/api/conversations/${id}/message/stream`, { content: 'Streams?' }, { headers: USER })
    t.equal(stream.status, 200)
    t.match(stream.headers['content-type'], /^text\/event-stream/)
    t.match(stream.events[0], { type: 'run_start', run_id: stream.headers['x-run-id'] }, 'the first event names the run')
    t.same(stream.ids, stream.events.map((_, i) => i + 1), 'every event is numbered, from 1')
    t.match(stream.events.at(-1), { type: 'run_end', run_id: stream.headers['x-run-id'], state: 'complete', position: 1 })
    t.same(stageEvents(stream.events).map((e) => e.type), [
      'stage1_start',
      'stage1_complete',
      'stage2_start',
      'stage2_complete',
      'stage3_start',
      'stage3_complete',
      'title_complete',
      'complete'
    ])
    const [, s1, , s2, , s3, title] = stageEvents(stream.events)
    t.same(s1!.data, ['m/one', 'm/two', 'm/three'].map((model) => ({ model, response: `Answer from ${model}` })))
    t.same(Object.keys(s2!).sort(), ['data', 'metadata', 'type'])
    t.same(Object.keys(s2!.metadata as object), ['label_to_model', 'aggregate_rankings', 'aggregate_borda', 'agreement'])
    t.match(s2!.metadata, {
      label_to_model: { 'Response A': 'm/one', 'Response B': 'm/two', 'Response C': 'm/three' },
      // Each reviewer's vote for its own answer left out.
      aggregate_rankings: [
        { model: 'm/two', average_rank: 1, rankings_count: 2 },
        { model: 'm/one', average_rank: 1.5, rankings_count: 2 },
        { model: 'm/three', average_rank: 2, rankings_count: 2 }
      ],
      agreement: { method: 'kendall_w', value: 1, reviewers: 3, answers: 3 }
    })
    t.same(s3!.data, { model: 'm/chair', response: 'Synthesis by m/chair' })
    t.match(s3!.metadata, { ...(s2!.metadata as object), errors: [], question_position: 0, status: 'complete' })
    t.same((await getConversation(id)).messages[1].metadata, s3!.metadata, 'stage3_complete carries the final stored metadata')
    t.same(title, { type: 'title_complete', data: { title: 'Choosing A Database' } })
    for (const chunk of stream.chunks) t.match(chunk, /^id: \d+\ndata: \{.*\}\n\n$/s, 'each piece that arrives is whole events')

    const second = await readStream(`${base}/api/conversations/${id}/message/stream`, { content: 'More?' }, { headers: USER })
    t.notOk(second.events.some((e) => e.type === 'title_complete'), 'title_complete only for the first message')
    const stored = await getConversation(id)
    t.equal(stored.message_count, 4)
    t.same(stored.messages[1].stage3, s3!.data)
  })

  t.test('a client that disconnects mid-stream does not lose the answer', async (t) => {
    fake.setHandler((request) =>
      promptOf(request).startsWith('You are the Chairman') ? { text: 'Late synthesis', status: 200, delayMs: 300 } : wellBehaved(request)
    )
    const id = await newConversation()
    const partial = await readStream(`${base}/api/conversations/${id}/message/stream`, { content: 'Leave early' }, { headers: USER, stopAfter: 'stage1_complete' })
    t.equal(partial.events.at(-1)?.type, 'stage1_complete')
    let stored = await getConversation(id)
    // The answer and the title are stored apart, each when it is ready: wait for both (no fixed bound:
    // tap's timeout is the bound on a busy machine).
    while (stored.message_count < 2 || stored.title === 'New Conversation') {
      await new Promise((resolve) => setTimeout(resolve, 50))
      stored = await getConversation(id)
    }
    t.equal(stored.message_count, 2)
    t.same(stored.messages[1].stage3, { model: 'm/chair', response: 'Late synthesis' })
    t.equal(stored.title, 'Choosing A Database')
  })

  t.test('every stage-1 model failing: 502, the answer stored as failed with its errors, the title kept', async (t) => {
    fake.setHandler((request) =>
      request.model === 'm/title' ? wellBehaved(request) : { status: 402, body: { error: { message: 'Insufficient credits' } } }
    )
    const id = await newConversation()
    const res = await app.inject({ method: 'POST', url: `/api/conversations/${id}/message`, headers: USER, payload: { content: 'Fail?' } })
    t.equal(res.statusCode, 502)
    t.match(res.json(), { statusCode: 502, error: 'Bad Gateway', message: /every council model failed: m\/one \(402: Insufficient credits\)/ })
    t.same(res.json().errors.map((e: { model: string }) => e.model), ['m/one', 'm/two', 'm/three'])
    t.equal(res.json().position, 1, 'the failed answer\'s position, for a retry')
    const stored = await getConversation(id)
    t.same(stored.messages.map((m: { role: string }) => m.role), ['user', 'assistant'], 'never a lone question')
    t.match(stored.messages[1], { stage1: [], stage2: [], stage3: null, metadata: { status: 'failed', missing: ['m/one', 'm/two', 'm/three'] } })
    t.equal(stored.messages[1].metadata.errors.length, 3)
    t.equal(stored.title, 'Choosing A Database', 'a first message still gets its title')

    const stream = await readStream(`${base}/api/conversations/${id}/message/stream`, { content: 'Fail again?' }, { headers: USER })
    t.equal(stream.status, 200)
    t.same(stageEvents(stream.events).map((e) => e.type), ['stage1_start', 'error'])
    t.match(stageEvents(stream.events)[1], { type: 'error', message: /Insufficient credits/ })
    t.match(stream.events.at(-1), { type: 'run_end', state: 'failed', position: 3 })
    t.same((await getConversation(id)).messages.map((m: { role: string }) => m.role), ['user', 'assistant', 'user', 'assistant'])
    const warnings = logs.filter((line) => line.msg === 'model call failed: m/one (stage1)')
    t.ok(warnings.length >= 2, 'each failure is logged')
    t.match(warnings[0], { level: 40, modelError: { model: 'm/one', stage: 'stage1', status: 402, message: 'Insufficient credits' } })
  })

  t.test('refusals come before the council runs', async (t) => {
    const id = await newConversation()
    fake.requests.length = 0
    const cases: [string, { url: string; headers: Record<string, string>; payload: unknown }, number][] = [
      ['no credentials', { url: `/api/conversations/${id}/message`, headers: {}, payload: { content: 'x' } }, 401],
      ['blank content', { url: `/api/conversations/${id}/message`, headers: USER, payload: { content: ' \n\t ' } }, 400],
      ['content over 32,000 characters', { url: `/api/conversations/${id}/message`, headers: USER, payload: { content: 'x'.repeat(32_001) } }, 400],
      ['NUL in content', { url: `/api/conversations/${id}/message`, headers: USER, payload: { content: 'a\u0000' } }, 400],
      ['unknown field', { url: `/api/conversations/${id}/message`, headers: USER, payload: { content: 'x', model: 'y' } }, 400],
      ['no body', { url: `/api/conversations/${id}/message`, headers: USER, payload: undefined }, 400],
      ["someone else's conversation", { url: `/api/conversations/${id}/message`, headers: OTHER, payload: { content: 'x' } }, 404],
      ["someone else's conversation (stream)", { url: `/api/conversations/${id}/message/stream`, headers: OTHER, payload: { content: 'x' } }, 404],
      ['an unknown conversation', { url: '/api/conversations/00000000-0000-4000-8000-000000000000/message/stream', headers: USER, payload: { content: 'x' } }, 404]
    ]
    for (const [name, request, status] of cases) {
      const res = await app.inject({ method: 'POST', ...request, payload: request.payload as string })
      t.equal(res.statusCode, status, name)
      t.match(res.headers['content-type'], /application\/json/, `${name}: a JSON error, not a stream`)
    }
    t.equal(fake.requests.length, 0, 'no model was asked')
    t.equal((await getConversation(id)).message_count, 0, 'nothing was stored')
    t.same(
      (await app.inject({ method: 'POST', url: `/api/conversations/${id}/message`, headers: USER, payload: { content: 'x'.repeat(32_000) } })).statusCode,
      200,
      'exactly 32,000 characters is fine'
    )
  })

  /** Holds every council call (not the title's) until `release`; `arrived` resolves at the first. */
  const holdCouncil = () => {
    let release!: () => void
    let arrive!: () => void
    const released = new Promise<void>((resolve) => (release = resolve))
    const arrived = new Promise<void>((resolve) => (arrive = resolve))
    fake.setHandler(async (request) => {
      if (request.model !== 'm/title') {
        arrive()
        await released
      }
      return wellBehaved(request)
    })
    return { arrived, release }
  }
  const usedToday = async (headers: Record<string, string>) => (await app.inject({ url: '/api/usage', headers })).json().daily_used as number

  t.test('a conversation deleted while its council runs: 404 (or an error event), the unit given back', async (t) => {
    const user = { 'x-forwarded-user': `deleter-${backend}` }
    for (const transport of ['json', 'stream'] as const) {
      const id = await newConversation(user)
      const hold = holdCouncil()
      const asked =
        transport === 'json'
          ? app.inject({ method: 'POST', url: `/api/conversations/${id}/message`, headers: user, payload: { content: 'Gone?' } })
          : readStream(`${base}/api/conversations/${id}/message/stream`, { content: 'Gone?' }, { headers: user })
      await hold.arrived
      t.equal((await app.inject({ method: 'DELETE', url: `/api/conversations/${id}`, headers: user })).statusCode, 204)
      hold.release()
      const message = 'the conversation was deleted while the council answered; the answer was not stored'
      if (transport === 'json') {
        const res = await (asked as ReturnType<typeof app.inject>)
        t.match(res.json(), { statusCode: 404, message, requestId: String })
      } else {
        const stream = await (asked as ReturnType<typeof readStream>)
        t.same(stageEvents(stream.events).at(-1), { type: 'error', message }, 'the stream ends with an error event, not complete')
      }
      t.equal(await usedToday(user), 0, `${transport}: nothing charged`)
    }
  })

  t.test("a rename made during the first run wins over the generated title", async (t) => {
    const id = await newConversation()
    const hold = holdCouncil()
    const asked = readStream(`${base}/api/conversations/${id}/message/stream`, { content: 'Name?' }, { headers: USER })
    await hold.arrived
    t.equal((await app.inject({ method: 'PATCH', url: `/api/conversations/${id}/title`, headers: USER, payload: { title: 'My own name' } })).statusCode, 200)
    hold.release()
    const stream = await asked
    t.equal(stageEvents(stream.events).at(-1)?.type, 'complete')
    t.notOk(stream.events.some((event) => event.type === 'title_complete'), 'no title event: the title did not change')
    t.equal((await getConversation(id)).title, 'My own name')
  })

  t.test('fifty questions at once into one conversation: one run, 409 for the rest, the answer names its question', async (t) => {
    const user = { 'x-forwarded-user': `crowd-${backend}` }
    const id = await newConversation(user)
    const hold = holdCouncil()
    const asks = Array.from({ length: 50 }, (_, i) =>
      app.inject({ method: 'POST', url: `/api/conversations/${id}/message`, headers: user, payload: { content: `question ${i}` } })
    )
    let settled = 0
    for (const ask of asks) void ask.then(() => settled++)
    await hold.arrived
    while (settled < 49) await new Promise((resolve) => setTimeout(resolve, 10))
    t.equal(settled, 49, 'the others are answered while the run is still held, not queued behind it')
    hold.release()
    const results = await Promise.all(asks)
    const statuses = results.map((res) => res.statusCode)
    t.equal(statuses.filter((status) => status === 200).length, 1, 'one question is answered')
    t.equal(statuses.filter((status) => status === 409).length, 49, 'the others are refused')
    const conflict = results.find((res) => res.statusCode === 409)!.json()
    t.match(conflict, { statusCode: 409, error: 'Conflict', message: /still answering the previous question/, requestId: String })
    const stored = await getConversation(id, user)
    t.same(stored.messages.map((m: { role: string }) => m.role), ['user', 'assistant'])
    t.equal(stored.messages[1].metadata.question_position, 0, 'the answer names the question it answers')
    t.equal(await usedToday(user), 1, 'only the answered question is charged')
    const next = await app.inject({ method: 'POST', url: `/api/conversations/${id}/message`, headers: user, payload: { content: 'and now?' } })
    t.equal(next.statusCode, 200, 'the next question, after the answer, runs')
    t.equal(next.json().metadata.question_position, 2)
  })

  t.test('GET /api/council', async (t) => {
    const res = await app.inject({ url: '/api/council', headers: USER })
    t.same(res.json(), {
      council: ['m/one', 'm/two', 'm/three'],
      chairman: 'm/chair',
      demo: false,
      presets: [{ name: 'default', models: ['m/one', 'm/two', 'm/three'], chairman: 'm/chair', stage2: true, system_prompt: null, description: null }],
      allowed_models: ['m/one', 'm/two', 'm/three', 'm/chair'],
      context_chars: 48000,
      min_answers: 1,
      exclude_self_votes: true
    })
  })

  t.test('the API key goes only to LLM_BASE_URL and is never logged', async (t) => {
    t.ok(fake.requests.length > 0)
    for (const request of fake.requests) t.equal(request.headers.authorization, `Bearer ${KEY}`)
    t.notMatch(JSON.stringify(logs), KEY)
  })
})

t.test('the offline demo answers through both routes', async (t) => {
  const database = await openTestDatabase(t, 'pglite')
  const { app } = await buildTestApp(t, database)
  t.equal(app.config.llm.provider, 'demo')
  const id = (await app.inject({ method: 'POST', url: '/api/conversations' })).json().id
  const res = await app.inject({ method: 'POST', url: `/api/conversations/${id}/message`, payload: { content: 'How do tides work?' } })
  t.equal(res.statusCode, 200)
  t.match(res.json().stage3, { model: 'demo/chair', response: /offline demo/ })
  const base = await app.listen({ port: 0, host: '127.0.0.1' })
  const stream = await readStream(`${base}/api/conversations/${id}/message/stream`, { content: 'And waves?' })
  t.equal(stageEvents(stream.events).at(-1)?.type, 'complete')
  const stored = (await app.inject({ url: `/api/conversations/${id}` })).json()
  t.equal(stored.message_count, 4)
  t.equal(stored.title, 'How do tides work')
})
