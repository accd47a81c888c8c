import t from 'tap'
import { chairmanPrompt } from '../../src/council/prompts.ts'
import { buildTestApp } from '../helpers/app.ts'
import { eachBackend, openTestDatabase } from '../helpers/db.ts'
import { promptOf, startFakeLlm, wellBehaved } from '../helpers/fake-llm.ts'

const USER = { 'x-forwarded-user': 'asker' }
const OTHER = { 'x-forwarded-user': 'stranger' }
const MODELS = ['m/one', 'm/two', 'm/three']
const PRESETS = JSON.stringify({
  fast: { models: ['m/fast1', 'm/fast2'], chairman: 'm/fast1', stage2: false, system_prompt: 'Answer in one line.', description: 'Two quick models' }
})

const isReview = (prompt: string) => prompt.startsWith('You are evaluating')
const isSynthesis = (prompt: string) => prompt.startsWith('You are the Chairman')
const isTitle = (prompt: string) => prompt.startsWith('Generate a very short title')

await eachBackend(t, async (t, backend) => {
  const database = await openTestDatabase(t, backend)
  const fake = await startFakeLlm(t, wellBehaved)
  const env = {
    AUTH_MODE: 'header',
    LLM_BASE_URL: fake.baseUrl,
    OPENROUTER_API_KEY: 'sk-test-council',
    COUNCIL_MODELS: MODELS.join(),
    CHAIRMAN_MODEL: 'm/chair',
    TITLE_MODEL: 'm/title',
    COUNCIL_PRESETS: PRESETS,
    ALLOWED_MODELS: 'm/extra',
    USAGE_LIMITS: 'free:1000/1000,capped:1000/1000/$0.00005'
  }
  const { app } = await buildTestApp(t, database, env)
  t.beforeEach(() => {
    fake.setHandler(wellBehaved)
    fake.requests.length = 0
  })

  const newConversation = async (headers = USER, payload?: object) =>
    (await app.inject({ method: 'POST', url: '/api/conversations', headers, ...(payload ? { payload } : {}) })).json().id as string
  const getConversation = async (id: string, headers = USER) => (await app.inject({ url: `/api/conversations/${id}`, headers })).json()
  const ask = (id: string, content: string, headers = USER) =>
    app.inject({ method: 'POST', url: `/api/conversations/${id}/message`, headers, payload: { content } })
  const followUp = (id: string, content: string, headers = USER) =>
    app.inject({ method: 'POST', url: `/api/conversations/${id}/follow-up`, headers, payload: { content } })
  const retry = (id: string, position: number, headers = USER) =>
    app.inject({ method: 'POST', url: `/api/conversations/${id}/messages/${position}/retry`, headers })
  const requestsFor = (model: string, kind: (prompt: string) => boolean) => fake.requests.filter((r) => r.model === model && kind(promptOf(r)))

  t.test('a third question carries the conversation so far, follow-ups included; reviewers see only the answers', async (t) => {
    const id = await newConversation()
    t.equal((await ask(id, 'First question?')).statusCode, 200)
    t.equal((await ask(id, 'Second question?')).statusCode, 200)
    const sent = await followUp(id, 'We have 3 engineers.')
    t.equal(sent.statusCode, 200)
    t.same(sent.json(), { role: 'user', kind: 'follow_up', content: 'We have 3 engineers.', position: 4 })
    fake.requests.length = 0
    const third = await ask(id, 'Third question?')
    t.equal(third.statusCode, 200)

    const history = [
      { role: 'user', content: 'First question?' },
      { role: 'assistant', content: 'Synthesis by m/chair' },
      { role: 'user', content: 'Second question?' },
      { role: 'assistant', content: 'Synthesis by m/chair' },
      { role: 'user', content: 'We have 3 engineers.' }
    ]
    for (const model of MODELS) {
      t.same(requestsFor(model, (p) => !isReview(p) && !isSynthesis(p))[0]!.messages, [...history, { role: 'user', content: 'Third question?' }], `${model}: the exact stage-1 prompt`)
      t.same(requestsFor(model, isReview)[0]!.messages.length, 1, `${model} reviews the current answers only`)
      t.notMatch(promptOf(requestsFor(model, isReview)[0]!), /First question|Second question|engineers/)
    }
    const answer = third.json()
    const chair = requestsFor('m/chair', isSynthesis)[0]!
    t.same(chair.messages, [...history, { role: 'user', content: chairmanPrompt('Third question?', answer.stage1, answer.stage2) }], 'the chairman sees the history too')
    t.same(answer.metadata.context, { policy: 'newest_first_within_budget', budget_chars: 48000, chars: 91, turns_included: 2, turns_dropped: 0 })

    const stored = await getConversation(id)
    t.same(stored.messages.map((m: { role: string; kind?: string }) => m.kind ?? m.role), ['user', 'assistant', 'user', 'assistant', 'follow_up', 'user', 'assistant'])
  })

  t.test('over the budget the oldest turns are dropped first, and the models are told', async (t) => {
    // Room for the newest turn (question, answer, follow-up: 59 characters) and not the one before.
    const small = await buildTestApp(t, database, { ...env, COUNCIL_CONTEXT_CHARS: '70' })
    const id = (await small.app.inject({ method: 'POST', url: '/api/conversations', headers: USER })).json().id
    const askSmall = (content: string) => small.app.inject({ method: 'POST', url: `/api/conversations/${id}/message`, headers: USER, payload: { content } })
    await askSmall('First question?')
    await askSmall('Second question?')
    await small.app.inject({ method: 'POST', url: `/api/conversations/${id}/follow-up`, headers: USER, payload: { content: 'We have 3 engineers.' } })
    fake.requests.length = 0
    const third = await askSmall('Third question?')
    const note = 'Note: this conversation is longer than what is shown here; its 1 oldest exchange was left out.'
    t.same(requestsFor('m/one', (p) => p === 'Third question?')[0]!.messages, [
      { role: 'system', content: note },
      { role: 'user', content: 'Second question?' },
      { role: 'assistant', content: 'Synthesis by m/chair' },
      { role: 'user', content: 'We have 3 engineers.' },
      { role: 'user', content: 'Third question?' }
    ])
    t.same(requestsFor('m/chair', isSynthesis)[0]!.messages.slice(0, 4), [
      { role: 'system', content: note },
      { role: 'user', content: 'Second question?' },
      { role: 'assistant', content: 'Synthesis by m/chair' },
      { role: 'user', content: 'We have 3 engineers.' }
    ])
    t.same(third.json().metadata.context, { policy: 'newest_first_within_budget', budget_chars: 70, chars: 56, turns_included: 1, turns_dropped: 1 })
  })

  t.test('follow-ups: refused while a run holds the conversation, blank, or not yours', async (t) => {
    const id = await newConversation()
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    fake.setHandler(async (request) => {
      if (request.model === 'm/chair') await held
      return wellBehaved(request)
    })
    const running = ask(id, 'Slow one?')
    while (!fake.requests.some((r) => r.model === 'm/chair')) await new Promise((resolve) => setTimeout(resolve, 20))
    const during = await followUp(id, 'More facts')
    t.equal(during.statusCode, 409, 'never between a question and its answer')
    release()
    t.equal((await running).statusCode, 200)
    t.equal((await followUp(id, 'More facts')).statusCode, 200)
    t.equal((await followUp(id, '   ')).statusCode, 400)
    t.equal((await followUp(id, 'x', OTHER)).statusCode, 404)
    t.equal((await app.inject({ method: 'POST', url: `/api/conversations/${id}/follow-up`, headers: USER, payload: { content: 'x', extra: 1 } })).statusCode, 400)
    const stored = await getConversation(id)
    t.same(stored.messages.at(-1), { role: 'user', kind: 'follow_up', content: 'More facts', created_at: stored.messages.at(-1).created_at })
  })

  t.test("a preset's models, chairman and prompt are used and recorded", async (t) => {
    const id = await newConversation(USER, { council: { preset: 'fast' } })
    t.same((await getConversation(id)).council, { preset: 'fast' })
    const res = await ask(id, 'Quick?')
    t.equal(res.statusCode, 200)
    const asked = fake.requests.filter((r) => !isTitle(promptOf(r))).map((r) => r.model)
    t.same([...asked].sort(), ['m/fast1', 'm/fast1', 'm/fast2'], 'only the preset\'s models; no reviews')
    t.same(requestsFor('m/fast2', () => true)[0]!.messages, [{ role: 'system', content: 'Answer in one line.' }, { role: 'user', content: 'Quick?' }])
    t.same(res.json().metadata.council, {
      preset: 'fast',
      models: ['m/fast1', 'm/fast2'],
      chairman: 'm/fast1',
      stage2: false,
      system_prompt: 'Answer in one line.',
      prompts_version: 2,
      min_answers: 1,
      exclude_self_votes: true
    })
    t.same(res.json().stage2, [])
  })

  t.test('choosing models: only allowed ones, checked on create and on change', async (t) => {
    const id = await newConversation()
    const patch = (payload: object, headers = USER) => app.inject({ method: 'PATCH', url: `/api/conversations/${id}/council`, headers, payload })
    const refused = await patch({ models: ['m/one', 'openai/gpt-expensive'] })
    t.equal(refused.statusCode, 400, 'a model off the list is refused')
    t.match(refused.json().message, /"openai\/gpt-expensive" is not allowed/)
    t.equal((await patch({ chairman: 'openai/gpt-expensive' })).statusCode, 400)
    t.equal((await patch({ preset: 'nope' })).statusCode, 400)
    t.equal((await patch({ models: [] })).statusCode, 400)
    t.equal((await patch({ models: ['m/one', 'm/one'] })).statusCode, 400)
    t.equal((await patch({ temperature: 2 })).statusCode, 400)
    t.equal((await patch({ models: ['m/one'] }, OTHER)).statusCode, 404)
    const create = await app.inject({ method: 'POST', url: '/api/conversations', headers: USER, payload: { council: { models: ['evil/model'] } } })
    t.equal(create.statusCode, 400)
    t.same((await getConversation(id)).council, null, 'nothing was changed by a refusal')

    const chosen = await patch({ models: ['m/one', 'm/extra'], chairman: 'm/extra', stage2: true })
    t.equal(chosen.statusCode, 200)
    t.match(chosen.json(), { id, council: { models: ['m/one', 'm/extra'], chairman: 'm/extra', stage2: true } })
    const res = await ask(id, 'Chosen?')
    t.same(res.json().stage1.map((a: { model: string }) => a.model), ['m/one', 'm/extra'])
    t.equal(res.json().stage3.model, 'm/extra')
    t.match(res.json().metadata.council, { preset: 'default', models: ['m/one', 'm/extra'], chairman: 'm/extra' })
    t.equal((await patch({})).json().council, null, '{} goes back to the default')
  })

  t.test('retry of one failed member: only it, and what depends on it, is asked again; the answer is updated in place', async (t) => {
    const id = await newConversation()
    fake.setHandler((request) => (request.model === 'm/two' && !isReview(promptOf(request)) ? { status: 503, body: { error: { message: 'overloaded' } } } : wellBehaved(request)))
    const first = await ask(id, 'Degraded?')
    t.equal(first.statusCode, 200)
    t.match(first.json().metadata, { status: 'degraded', missing: ['m/two'], errors: [{ model: 'm/two', stage: 'stage1', status: 503 }] })

    fake.setHandler(wellBehaved)
    fake.requests.length = 0
    const usageBefore = (await app.inject({ url: '/api/usage', headers: USER })).json()
    // Two retries at once (two tabs): one runs, the other is refused and charged nothing.
    const both = await Promise.all([retry(id, 1), retry(id, 1)])
    t.same(both.map((res) => res.statusCode).sort(), [200, 409])
    const again = both.find((res) => res.statusCode === 200)!
    const stage1 = fake.requests.filter((r) => !isReview(promptOf(r)) && !isSynthesis(promptOf(r)))
    t.same(stage1.map((r) => r.model), ['m/two'], 'stage 1: only the member that failed, once')
    t.equal(fake.requests.filter((r) => isReview(promptOf(r))).length, 3, 'stage 2 depends on the answers: all reviewers again')
    t.same(requestsFor('m/chair', isSynthesis).length, 1)
    t.notOk(fake.requests.some((r) => isTitle(promptOf(r))), 'no new title')
    const stored = await getConversation(id)
    t.equal(stored.message_count, 2, 'in place: no new message')
    t.same(stored.messages[1].stage1.map((a: { model: string }) => a.model), MODELS)
    t.match(stored.messages[1].metadata, { status: 'complete', missing: [], errors: [], attempts: 2 })
    const { created_at: _, role: __, ...stages } = stored.messages[1]
    t.same(stages, again.json())
    t.equal((await app.inject({ url: '/api/usage', headers: USER })).json().daily_used, usageBefore.daily_used + 1, 'a retry is a query')

    t.equal((await retry(id, 1)).statusCode, 409, 'a complete answer has nothing to retry')
    t.equal((await retry(id, 0)).statusCode, 404, 'position 0 is a question')
    t.equal((await retry(id, 7)).statusCode, 404)
    t.equal((await retry(id, 1, OTHER)).statusCode, 404)
    t.equal((await app.inject({ method: 'POST', url: `/api/conversations/${id}/messages/-1/retry`, headers: USER })).statusCode, 400)
  })

  t.test('retry of a failed chairman: only the chairman is asked again', async (t) => {
    const id = await newConversation()
    fake.setHandler((request) => (isSynthesis(promptOf(request)) ? { status: 500, body: { error: { message: 'down' } } } : wellBehaved(request)))
    const failed = await ask(id, 'No chairman?')
    t.equal(failed.statusCode, 502)
    t.match(failed.json(), { message: /the chairman and its stand-ins failed/, position: 1 })
    let stored = await getConversation(id)
    t.match(stored.messages[1], { stage3: null, metadata: { status: 'failed' } })
    t.equal(stored.messages[1].stage1.length, 3, 'what was answered is kept')
    const before = stored.messages[1]

    fake.setHandler(wellBehaved)
    fake.requests.length = 0
    const again = await retry(id, 1)
    t.equal(again.statusCode, 200)
    t.same(fake.requests.map((r) => r.model), ['m/chair'], 'one call: the chairman')
    stored = await getConversation(id)
    t.same(stored.messages[1].stage3, { model: 'm/chair', response: 'Synthesis by m/chair' })
    t.same(stored.messages[1].stage1, before.stage1, 'the answers are kept as they were')
    t.same(stored.messages[1].stage2, before.stage2, 'the reviews too')
    t.equal(stored.messages[1].metadata.status, 'complete')
  })

  t.test('a fully failed run is stored as failed, then retried as a normal run', async (t) => {
    const id = await newConversation()
    fake.setHandler((request) => (isTitle(promptOf(request)) ? wellBehaved(request) : { status: 402, body: { error: { message: 'Insufficient credits' } } }))
    const usedBefore = (await app.inject({ url: '/api/usage', headers: USER })).json().daily_used
    t.equal((await ask(id, 'Broke?')).statusCode, 502)
    t.equal((await app.inject({ url: '/api/usage', headers: USER })).json().daily_used, usedBefore, 'no answer: the unit went back')
    t.match((await getConversation(id)).messages[1].metadata, { status: 'failed', missing: MODELS })
    t.equal((await retry(id, 1)).statusCode, 502, 'still failing')
    t.equal((await app.inject({ url: '/api/usage', headers: USER })).json().daily_used, usedBefore, 'a failed retry gives its unit back too')

    fake.setHandler(wellBehaved)
    fake.requests.length = 0
    const again = await retry(id, 1)
    t.equal(again.statusCode, 200)
    t.equal(fake.requests.length, 7, 'every member, every reviewer, the chairman')
    const stored = await getConversation(id)
    t.equal(stored.message_count, 2)
    t.match(stored.messages[1].metadata, { status: 'complete', attempts: 3 })
    t.equal((await ask(id, 'Next?')).json().metadata.context.turns_included, 1, 'the retried answer is context now')
  })

  t.test('tokens and cost: per call in the answer, summed exactly per user under 100 concurrent runs', async (t) => {
    const usage = { prompt_tokens: 7, completion_tokens: 3, cost: 0.000013 }
    fake.setHandler((request) => ({ status: 200, text: wellBehaved(request) as string, usage }))
    const user = { 'x-forwarded-user': 'spender' }
    const ids = await Promise.all(Array.from({ length: 100 }, () => newConversation(user)))
    const answers = await Promise.all(ids.map((id) => ask(id, 'How much?', user)))
    t.same(answers.map((res) => res.statusCode), ids.map(() => 200))
    const first = answers[0]!.json().metadata
    t.same(first.calls[0], { model: 'm/one', stage: 'stage1', ...usage, attempt: 1 })
    t.same(first.usage, { prompt_tokens: 49, completion_tokens: 21, cost: 0.000091, calls: 7, unknown_calls: 0 })
    // Seven council calls and one title call per run.
    const figures = (await app.inject({ url: '/api/usage', headers: user })).json()
    const expected = { prompt_tokens: 5600, completion_tokens: 2400, cost: 0.0104, calls: 800, unknown_calls: 0 }
    t.same(figures.tokens, { today: expected, month: expected })

    fake.setHandler(wellBehaved)
    const unknown = await ask(ids[0]!, 'And now?', user)
    t.same(unknown.json().metadata.usage, { prompt_tokens: 0, completion_tokens: 0, cost: 0, calls: 7, unknown_calls: 7 }, 'no usage reported: unknown, not zero cost assumed')
    t.equal((await app.inject({ url: '/api/usage', headers: user })).json().tokens.today.unknown_calls, 7)
  })

  t.test("llm-council's own frontend still reads everything: its stream parser and the stored shapes it renders", async (t) => {
    const base = await app.listen({ port: 0, host: '127.0.0.1' })
    // That frontend reads the stream chunk by chunk, splits each chunk on newlines and parses every
    // `data: ` line as one JSON event (no buffering across chunks); it ignores event types it does not know.
    const readAsLlmCouncil = async (id: string, content: string) => {
      const response = await fetch(`${base}/api/conversations/${id}/message/stream`, { method: 'POST', headers: { 'content-type': 'application/json', ...USER }, body: JSON.stringify({ content }) })
      const events: { type: string; [key: string]: unknown }[] = []
      const decoder = new TextDecoder()
      const reader = response.body!.getReader()
      for (let read = await reader.read(); !read.done; read = await reader.read()) {
        for (const line of decoder.decode(read.value).split('\n')) if (line.startsWith('data: ')) events.push(JSON.parse(line.slice(6)))
      }
      return events
    }
    const id = await newConversation()
    await followUp(id, 'Some facts first.')
    const events = await readAsLlmCouncil(id, 'Compatible?')
    // Its switch handles these and logs any other type as unknown, doing nothing else with it.
    const known = ['stage1_start', 'stage1_complete', 'stage2_start', 'stage2_complete', 'stage3_start', 'stage3_complete', 'title_complete', 'complete', 'error']
    t.same(events.filter((e) => known.includes(e.type)).map((e) => e.type), known.slice(0, -1), 'the events it knows, in its order')
    t.same(
      [...new Set(events.filter((e) => !known.includes(e.type)).map((e) => e.type))].sort(),
      ['run_end', 'run_start', 'stage1_delta', 'stage1_model_complete', 'stage2_model_complete', 'stage3_delta'],
      'the rest are the additions, which it passes over'
    )
    const byType = Object.fromEntries(events.map((e) => [e.type, e])) as unknown as {
      stage1_complete: { data: object[] }
      stage2_complete: { data: { model: unknown; ranking: string; parsed_ranking: string[] }[]; metadata: { label_to_model: Record<string, string>; aggregate_rankings: Record<string, unknown>[] } }
      stage3_complete: { data: object }
      title_complete: { data: { title: unknown } }
    }
    for (const answer of byType.stage1_complete.data) t.same(Object.keys(answer).sort(), ['model', 'response'])
    const labels = byType.stage2_complete.metadata.label_to_model
    for (const review of byType.stage2_complete.data) {
      t.type(review.model, 'string')
      t.type(review.ranking, 'string')
      for (const label of review.parsed_ranking) t.type(labels[label], 'string', 'every parsed label resolves through label_to_model')
      // Its ranking tab replaces each "Response X" of label_to_model in the text: the text uses those labels.
      t.same([...new Set(review.ranking.match(/Response [A-Z]/g))].sort(), Object.keys(labels).sort())
    }
    for (const row of byType.stage2_complete.metadata.aggregate_rankings) {
      t.type(row.model, 'string')
      t.type(row.average_rank, 'number')
      t.type(row.rankings_count, 'number')
    }
    t.same(Object.keys(byType.stage3_complete.data).sort(), ['model', 'response'])
    t.type(byType.title_complete.data.title, 'string')

    fake.setHandler((request) => (isTitle(promptOf(request)) ? wellBehaved(request) : { status: 500 }))
    const failed = await readAsLlmCouncil(id, 'Now failing?')
    t.same(failed.filter((e) => known.includes(e.type)).map((e) => e.type), ['stage1_start', 'error'])
    t.type(failed.find((e) => e.type === 'error')!.message, 'string')
    const stored = await getConversation(id)
    // It renders a user message from role and content, and an answer's stages only when present and non-empty.
    t.match(stored.messages[0], { role: 'user', content: 'Some facts first.' })
    t.match(stored.messages.at(-1), { role: 'assistant', stage1: [], stage2: [], stage3: null })
  })

  t.test("a tier's monthly cost budget stops new questions once spent", async (t) => {
    const user = { 'x-forwarded-user': 'budgeted' }
    const admin = await buildTestApp(t, database, { ...env, ADMIN_TOKEN: 'admin-token-for-council-tests-0123456789' })
    await admin.app.inject({ method: 'PUT', url: '/api/admin/users/budgeted/tier', headers: { authorization: 'Bearer admin-token-for-council-tests-0123456789' }, payload: { tier: 'capped' } })
    fake.setHandler((request) => ({ status: 200, text: wellBehaved(request) as string, usage: { prompt_tokens: 1, completion_tokens: 1, cost: 0.00001 } }))
    const id = await newConversation(user)
    t.equal((await ask(id, 'First?', user)).statusCode, 200, 'under the budget: runs (and spends 0.00008)')
    const over = await ask(id, 'Second?', user)
    t.equal(over.statusCode, 429)
    t.match(over.json().message, /monthly cost budget of 0.00005 reached \(capped tier, 0.00008 spent\)/)
    t.equal(over.json().code, 'COST_BUDGET_REACHED', 'clients tell it from the query limits by its code')
    t.ok(Number(over.headers['retry-after']) > 0)
    t.equal((await app.inject({ url: '/api/usage', headers: user })).json().monthly_cost_limit, 0.00005)
  })
})
