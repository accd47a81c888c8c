import t, { type Test } from 'tap'
import { OpenAiClient } from '../../src/council/client.ts'
import { CouncilFailedError, fallbackTitle, generateTitle, runCouncil } from '../../src/council/council.ts'
import { DemoClient } from '../../src/council/demo.ts'
import { chairmanPrompt, rankingPrompt } from '../../src/council/prompts.ts'
import { promptOf, startFakeLlm, wellBehaved } from '../helpers/fake-llm.ts'

const MODELS = ['m/one', 'm/two', 'm/three']
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
    councilModels: MODELS,
    chairmanModel: 'm/chair',
    onEvent: (event) => events.push(event.type)
  })
  t.same(events, ['stage1_start', 'stage1_complete', 'stage2_start', 'stage2_complete', 'stage3_start', 'stage3_complete'])
  t.same(answer.stage1, MODELS.map((model) => ({ model, response: `Answer from ${model}` })))
  t.same(answer.stage2.map((r) => r.parsed_ranking), MODELS.map(() => ['Response B', 'Response A', 'Response C']))
  t.same(answer.stage3, { model: 'm/chair', response: 'Synthesis by m/chair' })
  t.same(answer.metadata, {
    label_to_model: { 'Response A': 'm/one', 'Response B': 'm/two', 'Response C': 'm/three' },
    aggregate_rankings: [
      { model: 'm/two', average_rank: 1, rankings_count: 3 },
      { model: 'm/one', average_rank: 2, rankings_count: 3 },
      { model: 'm/three', average_rank: 3, rankings_count: 3 }
    ],
    errors: []
  })

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
  const answer = await runCouncil(QUESTION, { client, councilModels: MODELS, chairmanModel: 'm/chair' })
  t.same(answer.stage1.map((a) => a.model), ['m/one', 'm/three'])
  t.same(answer.metadata.label_to_model, { 'Response A': 'm/one', 'Response B': 'm/three' })
  t.same(answer.metadata.errors, [{ model: 'm/two', stage: 'stage1', status: 503, message: 'model overloaded' }])
  t.notOk(fake.requests.some((r) => r.model === 'm/two' && promptOf(r).startsWith('You are evaluating')), 'a model that did not answer is not asked to rank')
})

t.test('a model timing out is dropped like any failure', async (t) => {
  const fake = await startFakeLlm(t, (request) => (request.model === 'm/three' ? { hang: true } : wellBehaved(request)))
  const client = new OpenAiClient({ baseUrl: fake.baseUrl, apiKey: 'k', timeoutMs: 300 })
  const answer = await runCouncil(QUESTION, { client, councilModels: MODELS, chairmanModel: 'm/chair' })
  t.same(answer.stage1.map((a) => a.model), ['m/one', 'm/two'])
  t.same(answer.metadata.errors, [{ model: 'm/three', stage: 'stage1', status: null, message: 'timed out after 300 ms' }])
})

t.test('every model failing is a CouncilFailedError that says why', async (t) => {
  const { client } = await setup(t, () => ({ status: 401, body: { error: { message: 'User not found.' } } }))
  const events: string[] = []
  const error = await runCouncil(QUESTION, { client, councilModels: MODELS, chairmanModel: 'm/chair', onEvent: (e) => events.push(e.type) }).catch((e: unknown) => e)
  t.ok(error instanceof CouncilFailedError)
  t.equal((error as CouncilFailedError).errors.length, 3)
  t.match((error as Error).message, /every council model failed: m\/one \(401: User not found\.\)/)
  t.same(events, ['stage1_start'])
})

t.test('a failing chairman: the best-ranked council model writes the synthesis', async (t) => {
  const { client } = await setup(t, (request) =>
    request.model === 'm/chair' ? { status: 404, body: { error: { message: 'No endpoints found for m/chair' } } } : wellBehaved(request)
  )
  const answer = await runCouncil(QUESTION, { client, councilModels: MODELS, chairmanModel: 'm/chair' })
  t.same(answer.stage3, { model: 'm/two', response: 'Synthesis by m/two' }, 'm/two ranked best')
  t.same(answer.metadata.chairman_fallback, { failed_model: 'm/chair', used_model: 'm/two' })
  t.same(answer.metadata.errors, [{ model: 'm/chair', stage: 'stage3', status: 404, message: 'No endpoints found for m/chair' }])
})

t.test('the chairman and its stand-in both failing: no answer', async (t) => {
  const { client } = await setup(t, (request) =>
    promptOf(request).startsWith('You are the Chairman') ? { status: 500, body: { error: { message: 'boom' } } } : wellBehaved(request)
  )
  const error = await runCouncil(QUESTION, { client, councilModels: MODELS, chairmanModel: 'm/chair' }).catch((e: unknown) => e)
  t.ok(error instanceof CouncilFailedError)
  t.same((error as CouncilFailedError).errors.map((e) => [e.model, e.stage]), [['m/chair', 'stage3'], ['m/two', 'stage3']])
})

t.test('rankings failing still lets the chairman answer', async (t) => {
  const { client } = await setup(t, (request) =>
    promptOf(request).startsWith('You are evaluating') ? { status: 500, body: { error: { message: 'nope' } } } : wellBehaved(request)
  )
  const answer = await runCouncil(QUESTION, { client, councilModels: MODELS, chairmanModel: 'm/chair' })
  t.same(answer.stage2, [])
  t.same(answer.metadata.aggregate_rankings, [])
  t.equal(answer.metadata.errors.length, 3)
  t.equal(answer.stage3.model, 'm/chair')
})

t.test('titles', async (t) => {
  const { fake, client } = await setup(t)
  t.same(await generateTitle(QUESTION, client, 'm/title'), { title: 'Choosing A Database' }, 'quotes stripped')
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
    councilModels: ['demo/a', 'demo/b', 'demo/c'],
    chairmanModel: 'demo/chair'
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
