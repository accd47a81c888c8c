import t, { type Test } from 'tap'
import { OpenAiClient } from '../../src/council/client.ts'
import { type CouncilEvent, type CouncilSettings, fallbackTitle, generateTitle, runCouncil } from '../../src/council/council.ts'
import { DemoClient } from '../../src/council/demo.ts'
import { chairmanPrompt, rankingPrompt } from '../../src/council/prompts.ts'
import { promptOf, shownAnswers, startFakeLlm, wellBehaved } from '../helpers/fake-llm.ts'

const MODELS = ['m/one', 'm/two', 'm/three']

const council = (models: string[], chairman = 'm/chair', overrides: Partial<CouncilSettings> = {}): CouncilSettings => ({
  preset: 'default',
  models,
  chairman,
  stage2: true,
  systemPrompt: null,
  minAnswers: 1,
  excludeSelfVotes: true,
  ...overrides
})

// Fisher-Yates drawing 0.999... each time swaps every item with itself: each reviewer sees the answers in council order.
const ordered = () => 0.999999
const QUESTION = 'Which database should a small team pick, and why?'

async function setup(t: Test, handler = wellBehaved) {
  const fake = await startFakeLlm(t, handler)
  const client = new OpenAiClient({ baseUrl: fake.baseUrl, apiKey: 'k', timeoutMs: 1000 })
  return { fake, client }
}

t.test('the full three-stage run, with the prompts each model received', async (t) => {
  const { fake, client } = await setup(t)
  const events: string[] = []
  const answer = await runCouncil(QUESTION, {
    client,
    settings: council(MODELS),
    random: ordered,
    onEvent: (event) => events.push(event.type)
  })
  const stages = events.filter((type) => !type.endsWith('_delta') && !type.includes('_model_'))
  t.same(stages, ['stage1_start', 'stage1_complete', 'stage2_start', 'stage2_complete', 'stage3_start', 'stage3_complete'])
  t.same(answer.stage1, MODELS.map((model) => ({ model, response: `Answer from ${model}` })))
  t.same(answer.stage2.map((r) => r.parsed_ranking), MODELS.map(() => ['Response B', 'Response A', 'Response C']))
  t.same(answer.stage3, { model: 'm/chair', response: 'Synthesis by m/chair' })
  t.match(answer.metadata, {
    label_to_model: { 'Response A': 'm/one', 'Response B': 'm/two', 'Response C': 'm/three' },
    // Self-votes left out: m/one's ranking counts as [m/two, m/three], m/two's as [m/one, m/three], m/three's as [m/two, m/one].
    aggregate_rankings: [
      { model: 'm/two', average_rank: 1, rankings_count: 2 },
      { model: 'm/one', average_rank: 1.5, rankings_count: 2 },
      { model: 'm/three', average_rank: 2, rankings_count: 2 }
    ],
    aggregate_borda: [
      { model: 'm/two', points: 2, rankings_count: 2 },
      { model: 'm/one', points: 1, rankings_count: 2 },
      { model: 'm/three', points: 0, rankings_count: 2 }
    ],
    agreement: { method: 'kendall_w', value: 1, reviewers: 3, answers: 3 },
    errors: [],
    status: 'complete',
    missing: [],
    council: { preset: 'default', models: MODELS, chairman: 'm/chair', stage2: true, system_prompt: null, prompts_version: 2, min_answers: 1, exclude_self_votes: true },
    attempts: 1,
    usage: { prompt_tokens: 0, completion_tokens: 0, cost: 0, calls: 7, unknown_calls: 7 }
  })
  t.equal(answer.metadata.calls.length, 7, 'every call is recorded')

  const byStage = (predicate: (prompt: string) => boolean) => fake.requests.filter((r) => predicate(promptOf(r)))
  const stage1 = byStage((p) => p === QUESTION)
  t.same(stage1.map((r) => r.model).sort(), [...MODELS].sort(), 'stage 1 asks every council model the question itself')
  t.same(stage1[0]!.messages, [{ role: 'user', content: QUESTION }])
  const stage2 = byStage((p) => p.startsWith('You are evaluating'))
  t.same(stage2.map((r) => r.model).sort(), [...MODELS].sort())
  const expectedRanking = rankingPrompt(QUESTION, answer.stage1)
  for (const request of stage2) t.equal(promptOf(request), expectedRanking)
  t.match(expectedRanking, 'Response A:\nAnswer from m/one\n\nResponse B:\nAnswer from m/two\n\nResponse C:\nAnswer from m/three')
  t.notMatch(expectedRanking.replace(/Answer from m\/\w+/g, ''), /m\/(one|two|three)/, 'stage 2 names no model beyond what the answers say')
  const stage3 = byStage((p) => p.startsWith('You are the Chairman'))
  t.same(stage3.map((r) => r.model), ['m/chair'])
  t.equal(promptOf(stage3[0]!), chairmanPrompt(QUESTION, answer.stage1, answer.stage2))
  t.match(promptOf(stage3[0]!), `Original Question: ${QUESTION}`)
  t.match(promptOf(stage3[0]!), 'Model: m/two\nResponse: Answer from m/two')
  t.match(promptOf(stage3[0]!), 'Model: m/one\nRanking: Thoughts from m/one.')
})

t.test('a failing model is dropped and its error recorded', async (t) => {
  const { fake, client } = await setup(t, (request) =>
    request.model === 'm/two' ? { status: 503, body: { error: { message: 'model overloaded' } } } : wellBehaved(request)
  )
  const answer = await runCouncil(QUESTION, { client, settings: council(MODELS) })
  t.same(answer.stage1.map((a) => a.model), ['m/one', 'm/three'])
  t.same(answer.metadata.label_to_model, { 'Response A': 'm/one', 'Response B': 'm/three' })
  t.same(answer.metadata.errors, [{ model: 'm/two', stage: 'stage1', status: 503, message: 'model overloaded' }])
  t.notOk(fake.requests.some((r) => r.model === 'm/two' && promptOf(r).startsWith('You are evaluating')), 'a model that did not answer is not asked to rank')
})

t.test('a model timing out is dropped like any failure', async (t) => {
  const fake = await startFakeLlm(t, (request) => (request.model === 'm/three' ? { hang: true } : wellBehaved(request)))
  const client = new OpenAiClient({ baseUrl: fake.baseUrl, apiKey: 'k', timeoutMs: 300 })
  const answer = await runCouncil(QUESTION, { client, settings: council(MODELS) })
  t.same(answer.stage1.map((a) => a.model), ['m/one', 'm/two'])
  t.same(answer.metadata.errors, [{ model: 'm/three', stage: 'stage1', status: null, message: 'timed out after 300 ms' }])
})

t.test('members and the chairman stream: their pieces concatenate to the stored text; reviews and titles do not stream', async (t) => {
  const long = (model: string) => `Answer from ${model}: ${'several words of a long answer '.repeat(20)}`
  const { fake, client } = await setup(t, (request) => {
    const reply = wellBehaved(request)
    const prompt = promptOf(request)
    if (prompt.includes('FINAL RANKING:') || prompt.startsWith('You are the Chairman')) return reply
    return { status: 200, text: long(request.model), chunkDelayMs: 1 }
  })
  const events: CouncilEvent[] = []
  const answer = await runCouncil(QUESTION, { client, settings: council(MODELS), onEvent: (event) => events.push(event) })
  for (const { model, response } of answer.stage1) {
    const pieces = events.flatMap((e) => (e.type === 'stage1_delta' && e.model === model ? [e.text] : []))
    t.ok(pieces.length > 20, `${model} streamed in ${pieces.length} pieces`)
    t.equal(pieces.join(''), response, `${model}: the pieces make the stored answer`)
  }
  const synthesis = events.flatMap((e) => (e.type === 'stage3_delta' ? [e.text] : []))
  t.equal(synthesis.join(''), answer.stage3!.response)
  const types = events.map((e) => e.type)
  t.equal(types.filter((type) => type === 'stage1_model_complete').length, 3)
  t.ok(types.lastIndexOf('stage1_model_complete') < types.indexOf('stage1_complete'), 'each member is reported before stage 1 is')
  t.equal(types.filter((type) => type === 'stage2_model_complete').length, 3)
  t.ok(types.lastIndexOf('stage1_delta') < types.indexOf('stage1_complete') && types.indexOf('stage3_delta') > types.indexOf('stage3_start'))
  t.same(
    fake.requests.map((r) => [promptOf(r).startsWith('You are the Chairman') ? 'chairman' : promptOf(r).includes('FINAL RANKING:') ? 'review' : 'member', r.stream]),
    [...MODELS.map(() => ['member', true]), ...MODELS.map(() => ['review', false]), ['chairman', true]]
  )
})

t.test('a member that fails mid-stream: its pieces are disowned, and it is a failure like any other', async (t) => {
  const { client } = await setup(t, (request) =>
    request.model === 'm/two' && !promptOf(request).includes('FINAL RANKING:') && !promptOf(request).startsWith('You are the Chairman')
      ? { status: 200, text: 'a few words and then nothing', chunkDelayMs: 20, cutAfter: 2 }
      : wellBehaved(request)
  )
  const events: CouncilEvent[] = []
  const answer = await runCouncil(QUESTION, { client, settings: council(MODELS), onEvent: (event) => events.push(event) })
  t.ok(events.some((e) => e.type === 'stage1_delta' && e.model === 'm/two'), 'it had streamed something')
  t.match(events.find((e) => e.type === 'stage1_model_failed'), { data: { model: 'm/two', stage: 'stage1' } })
  t.same(answer.metadata.missing, ['m/two'])
  t.equal(answer.metadata.status, 'degraded')
})

t.test('every model failing is a failed answer that says why', async (t) => {
  const { client } = await setup(t, () => ({ status: 401, body: { error: { message: 'User not found.' } } }))
  const events: string[] = []
  const answer = await runCouncil(QUESTION, { client, settings: council(MODELS), onEvent: (e) => events.push(e.type) })
  t.equal(answer.metadata.status, 'failed')
  t.equal(answer.stage3, null)
  t.same(answer.metadata.missing, MODELS)
  t.same(answer.metadata.errors[0], { model: 'm/one', stage: 'stage1', status: 401, message: 'User not found.' })
  t.same(answer.metadata.usage, { prompt_tokens: 0, completion_tokens: 0, cost: 0, calls: 3, unknown_calls: 0 }, 'failed calls: counted, not unknown')
  t.equal(answer.metadata.errors.length, 3)
  t.same(events, ['stage1_start', 'stage1_model_failed', 'stage1_model_failed', 'stage1_model_failed'])
})

t.test('a quorum: fewer answers than COUNCIL_MIN_ANSWERS is a failure that keeps the answers that came', async (t) => {
  const { fake, client } = await setup(t, (request) => (request.model === 'm/one' ? wellBehaved(request) : { status: 503 }))
  const answer = await runCouncil(QUESTION, { client, settings: council(MODELS, 'm/chair', { minAnswers: 2 }) })
  t.equal(answer.metadata.status, 'failed')
  t.same(answer.stage1, [{ model: 'm/one', response: 'Answer from m/one' }])
  t.same(answer.metadata.missing, ['m/two', 'm/three'])
  t.notOk(fake.requests.some((r) => promptOf(r).startsWith('You are evaluating')), 'no review below the quorum')
})

t.test('a failing chairman: the best-ranked council model writes the synthesis', async (t) => {
  const { client } = await setup(t, (request) =>
    request.model === 'm/chair' ? { status: 404, body: { error: { message: 'No endpoints found for m/chair' } } } : wellBehaved(request)
  )
  const answer = await runCouncil(QUESTION, { client, settings: council(MODELS), random: ordered })
  t.same(answer.stage3, { model: 'm/two', response: 'Synthesis by m/two' }, 'm/two ranked best')
  t.same(answer.metadata.chairman_fallback, { failed_model: 'm/chair', used_model: 'm/two' })
  t.same(answer.metadata.errors, [{ model: 'm/chair', stage: 'stage3', status: 404, message: 'No endpoints found for m/chair' }])
  t.equal(answer.metadata.status, 'degraded', 'a stand-in wrote it: degraded')
})

t.test('the chairman and its stand-ins all failing: a failed answer', async (t) => {
  const { client } = await setup(t, (request) =>
    promptOf(request).startsWith('You are the Chairman') ? { status: 500, body: { error: { message: 'boom' } } } : wellBehaved(request)
  )
  const answer = await runCouncil(QUESTION, { client, settings: council(MODELS), random: ordered })
  t.equal(answer.metadata.status, 'failed')
  t.equal(answer.stage1.length, 3, 'stage 1 is kept for a retry')
  t.same(answer.metadata.errors.map((e) => [e.model, e.stage]), [['m/chair', 'stage3'], ['m/two', 'stage3'], ['m/one', 'stage3']])
})

t.test('rankings failing still lets the chairman answer', async (t) => {
  const { client } = await setup(t, (request) =>
    promptOf(request).startsWith('You are evaluating') ? { status: 500, body: { error: { message: 'nope' } } } : wellBehaved(request)
  )
  const answer = await runCouncil(QUESTION, { client, settings: council(MODELS) })
  t.same(answer.stage2, [])
  t.same(answer.metadata.aggregate_rankings, [])
  t.equal(answer.metadata.errors.length, 3)
  t.equal(answer.stage3?.model, 'm/chair')
  t.equal(answer.metadata.status, 'degraded', 'reviews missing: degraded')
})

t.test('titles', async (t) => {
  const { fake, client } = await setup(t)
  t.match(await generateTitle(QUESTION, client, 'm/title'), { title: 'Choosing A Database', error: undefined }, 'quotes stripped')
  t.match(promptOf(fake.requests[0]!), /^Generate a very short title[\s\S]*Question: Which database/)
  fake.setHandler(() => 'Title: A title that goes on and on well past the fifty character limit we allow.')
  const long = await generateTitle(QUESTION, client, 'm/title')
  t.equal(long.title.length, 50)
  t.match(long.title, /^A title that goes on.*…$/)
  fake.setHandler(() => ({ status: 500 }))
  const failed = await generateTitle(QUESTION, client, 'm/title')
  t.equal(failed.title, 'Which database should a small team pick, and why?', 'falls back to the question')
  t.match(failed.error, { model: 'm/title', stage: 'title', status: 500 })
  fake.setHandler(() => '""')
  t.equal((await generateTitle('   ', client, 'm/title')).title, 'New Conversation')
  t.equal(fallbackTitle('x'.repeat(80)).length, 50)
})

t.test('titles are cut between characters and graphemes, never inside an emoji', async (t) => {
  for (const text of ['😀'.repeat(80), `${'a'.repeat(48)}😀😀😀`, `${'a'.repeat(47)}👩‍👩‍👧‍👦 family`, `${'e\u0301'.repeat(40)}`]) {
    const title = fallbackTitle(text)
    t.ok(title.isWellFormed(), `${text.slice(0, 8)}: no half of a surrogate pair`)
    t.notOk(title.includes('\uFFFD'), 'no replacement character')
    t.ok([...title].length <= 50, 'at most 50 characters')
    t.ok(title.endsWith('…'))
    t.ok(text.startsWith(title.slice(0, -1).trimEnd()), 'a prefix of the question')
  }
  t.equal(fallbackTitle(`${'a'.repeat(47)}👩‍👩‍👧‍👦 family`), `${'a'.repeat(47)}…`, 'a family emoji is not split into people')
  t.equal(fallbackTitle('😀'.repeat(50)), '😀'.repeat(50), '50 emoji fit')
})

t.test('the offline demo runs the whole council with no network', async (t) => {
  const answer = await runCouncil(QUESTION, {
    client: new DemoClient({ delayMs: 0 }),
    settings: council(['demo/a', 'demo/b', 'demo/c'], 'demo/chair')
  })
  t.equal(answer.stage1.length, 3)
  for (const a of answer.stage1) t.match(a.response, /sample answer from the offline demo/)
  for (const r of answer.stage2) t.same([...r.parsed_ranking].sort(), ['Response A', 'Response B', 'Response C'])
  t.equal(answer.metadata.aggregate_rankings?.length, 3)
  t.match(answer.stage3, { model: 'demo/chair', response: /offline demo/ })
  t.same(answer.metadata.errors, [])
  const title = await generateTitle('How do tides work?', new DemoClient({ delayMs: 0 }), 'demo/titles')
  t.equal(title.title, 'How do tides work')
})

/** A small seeded generator, so a shuffle is the same on every run. */
function seeded(seed: number): () => number {
  let state = seed
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31
    return state / 2 ** 31
  }
}

t.test('each reviewer sees its own order and labels; the stored mapping resolves its ranking; self-votes are left out', async (t) => {
  const models = ['m/one', 'm/two', 'm/three', 'm/four']
  const { fake, client } = await setup(t)
  const answer = await runCouncil(QUESTION, { client, settings: council(models), random: seeded(7) })
  const reviews = fake.requests.filter((r) => promptOf(r).startsWith('You are evaluating'))
  const orders = new Set<string>()
  for (const request of reviews) {
    // What this reviewer was shown: its labels in order, each with the answer under it.
    const shown = shownAnswers(promptOf(request))
    t.equal(shown.length, 4)
    orders.add(shown.map(({ model }) => model).join())
    const stored = answer.stage2.find((r) => r.model === request.model)!
    t.same(Object.keys(stored.reviewer_labels!), ['Response A', 'Response B', 'Response C', 'Response D'], 'its own labels, A first')
    // reviewer label -> conversation-wide label -> model is exactly what the reviewer saw.
    for (const { label, model } of shown) t.equal(answer.metadata.label_to_model![stored.reviewer_labels![label]!], model)
    // wellBehaved's reviewers prefer two, one, three, then the rest; resolved through the mapping, that is what is stored.
    const resolved = stored.parsed_ranking.map((label) => answer.metadata.label_to_model![label])
    t.same(resolved, ['m/two', 'm/one', 'm/three', 'm/four'], `${request.model}'s ranking, resolved`)
    t.match(stored.ranking, /FINAL RANKING:\n1\. Response B\n2\. Response A\n3\. Response C\n4\. Response D/, 'its text in conversation-wide labels')
  }
  t.ok(orders.size > 1, 'reviewers saw different orders')
  // The aggregate, recomputed by hand with each reviewer's own answer taken out.
  const ranks = new Map<string, number[]>()
  for (const review of answer.stage2) {
    const others = review.parsed_ranking.map((label) => answer.metadata.label_to_model![label]!).filter((model) => model !== review.model)
    others.forEach((model, i) => ranks.set(model, [...(ranks.get(model) ?? []), i + 1]))
  }
  for (const entry of answer.metadata.aggregate_rankings!) {
    const list = ranks.get(entry.model)!
    t.equal(entry.average_rank, Math.round((list.reduce((a, b) => a + b, 0) / list.length) * 100) / 100)
    t.equal(entry.rankings_count, list.length)
  }
  const withSelf = await runCouncil(QUESTION, { client, settings: council(models, 'm/chair', { excludeSelfVotes: false }), random: seeded(7) })
  t.equal(withSelf.metadata.aggregate_rankings!.reduce((n, e) => n + e.rankings_count, 0), 16, 'with self-votes every vote counts')
  const othersRanked = answer.stage2.reduce((n, r) => n + r.parsed_ranking.filter((label) => answer.metadata.label_to_model![label] !== r.model).length, 0)
  t.equal(othersRanked, 12)
  t.equal(answer.metadata.aggregate_rankings!.reduce((n, e) => n + e.rankings_count, 0), 12, 'without, a reviewer\'s vote for itself is not counted')
  t.same(answer.metadata.aggregate_rankings!.map((e) => e.model), ['m/two', 'm/one', 'm/three', 'm/four'])
  t.same(answer.metadata.agreement, { method: 'kendall_w', value: 1, reviewers: 4, answers: 4 }, 'every reviewer agrees')
})

t.test('a ranking naming labels that were not shown records them', async (t) => {
  const { client } = await setup(t, (request) =>
    promptOf(request).startsWith('You are evaluating') ? 'FINAL RANKING:\n1. Response F\n2. Response A\n3. Response B' : wellBehaved(request)
  )
  // In council order (ordered), the reviewer's labels are the conversation-wide ones.
  const answer = await runCouncil(QUESTION, { client, settings: council(MODELS), random: ordered })
  t.same(answer.stage2[0]!.unknown_labels, ['Response F'])
  t.same(answer.stage2[0]!.parsed_ranking, ['Response A', 'Response B'])
})

t.test('a retry asks only what failed and keeps the rest', async (t) => {
  let failing = new Set(['m/two'])
  const { fake, client } = await setup(t, (request) => (failing.has(request.model) ? { status: 503 } : wellBehaved(request)))
  const first = await runCouncil(QUESTION, { client, settings: council(MODELS), random: ordered })
  t.equal(first.metadata.status, 'degraded')
  t.same(first.metadata.missing, ['m/two'])

  failing = new Set()
  fake.requests.length = 0
  const second = await runCouncil(QUESTION, { client, settings: council(MODELS), random: ordered }, first)
  const asked = fake.requests.map((r) => `${r.model} ${promptOf(r).slice(0, 16)}`)
  t.same(asked.filter((a) => !a.includes('You are')), ['m/two Which database s'], 'stage 1: only the member that failed')
  t.equal(asked.filter((a) => a.includes('You are evaluati')).length, 3, 'stage 2 again: the answers changed')
  t.equal(asked.filter((a) => a.includes('You are the Chai')).length, 1)
  t.equal(second.metadata.status, 'complete')
  t.same(second.stage1.map((a) => a.model), MODELS, 'in council order')
  t.same(second.metadata.errors, [])
  t.equal(second.metadata.attempts, 2)
  t.same(second.metadata.calls.filter((c) => c.attempt === 2).length, 5)

  // Only the chairman failed: only the chairman (and its stand-ins) are asked again.
  failing = new Set(['m/chair'])
  const third = await runCouncil(QUESTION, { client, settings: council(MODELS), random: ordered })
  t.equal(third.metadata.chairman_fallback?.failed_model, 'm/chair')
  failing = new Set()
  fake.requests.length = 0
  const fourth = await runCouncil(QUESTION, { client, settings: council(MODELS), random: ordered }, third)
  t.same(fake.requests.map((r) => r.model), ['m/chair'])
  t.same(fourth.stage3, { model: 'm/chair', response: 'Synthesis by m/chair' })
  t.equal(fourth.metadata.chairman_fallback, undefined)
  t.equal(fourth.metadata.status, 'complete')
  t.same(fourth.stage2, third.stage2, 'the reviews are kept as they were')
})

t.test('a preset without peer review skips stage 2', async (t) => {
  const { fake, client } = await setup(t)
  const answer = await runCouncil(QUESTION, { client, settings: council(MODELS, 'm/chair', { stage2: false, systemPrompt: 'Be brief.' }) })
  t.notOk(fake.requests.some((r) => promptOf(r).startsWith('You are evaluating')))
  t.same(answer.stage2, [])
  t.equal(answer.metadata.status, 'complete')
  const chair = fake.requests.find((r) => r.model === 'm/chair')!
  t.match(promptOf(chair), '(this council does not rank its answers)')
  t.same(fake.requests.find((r) => r.model === 'm/one')!.messages, [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: QUESTION }])
})

t.test('tokens and cost from each call are recorded and summed exactly', async (t) => {
  const fake = await startFakeLlm(t, (request) => ({ status: 200, text: wellBehaved(request) as string, usage: { prompt_tokens: 10, completion_tokens: 5, cost: 0.000123 } }))
  const client = new OpenAiClient({ baseUrl: fake.baseUrl, apiKey: 'k', timeoutMs: 5000 })
  const answer = await runCouncil(QUESTION, { client, settings: council(MODELS), random: ordered })
  t.same(answer.metadata.calls[0], { model: 'm/one', stage: 'stage1', prompt_tokens: 10, completion_tokens: 5, cost: 0.000123, attempt: 1 })
  t.same(answer.metadata.usage, { prompt_tokens: 70, completion_tokens: 35, cost: 0.000861, calls: 7, unknown_calls: 0 })
})
