import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { buildTestApp } from '../helpers/app.ts'
import { launchBrowser, noBrowser } from '../helpers/browser.ts'
import { openTestDatabase } from '../helpers/db.ts'
import { type FakeHandler, promptOf, startFakeLlm, wellBehaved } from '../helpers/fake-llm.ts'
import { ROOT } from '../helpers/process.ts'

const ARTIFACTS = join(ROOT, 'test-artifacts')
const USAGE = { prompt_tokens: 120, completion_tokens: 30, cost: 0.0015 }
const withUsage: FakeHandler = (request) => ({ status: 200, text: wellBehaved(request) as string, usage: USAGE })
const PRESETS = JSON.stringify({ quick: { models: ['m/one', 'm/two'], chairman: 'm/two', stage2: false, description: 'Two models, no review' } })

t.test('the council v2 controls in a real browser', { skip: noBrowser }, async (t) => {
  mkdirSync(ARTIFACTS, { recursive: true })
  const database = await openTestDatabase(t, 'pglite')
  const fake = await startFakeLlm(t, withUsage)
  const { app } = await buildTestApp(t, database, {
    LLM_BASE_URL: fake.baseUrl,
    COUNCIL_MODELS: 'm/one,m/two,m/three',
    CHAIRMAN_MODEL: 'm/chair',
    TITLE_MODEL: 'm/title',
    COUNCIL_PRESETS: PRESETS,
    ALLOWED_MODELS: 'm/extra',
    // Room for one earlier exchange, so the third question shows the context note.
    COUNCIL_CONTEXT_CHARS: '60'
  })
  const base = await app.listen({ port: 0, host: '127.0.0.1' })
  const browser = await launchBrowser(t)
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
  const problems: string[] = []
  page.on('pageerror', (error) => problems.push(String(error)))
  const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `council-${name}.png`), fullPage: true })
  const question = page.getByRole('textbox', { name: 'Your question' })
  const answers = page.locator('.message.assistant')

  await page.goto(`${base}/`)
  await page.getByText('Council · default: one, two, three · chair chair').waitFor()

  await t.test('a preset chosen for a new conversation is the one that answers', async (t) => {
    await page.getByRole('button', { name: 'Change' }).click()
    await page.getByRole('combobox', { name: 'Preset' }).selectOption('quick')
    await page.getByRole('button', { name: 'Use this council' }).click()
    await page.getByText('Council · quick: one, two · chair two').waitFor()
    await question.fill('Quick one?')
    await question.press('Enter')
    await page.getByRole('heading', { name: /Final answer by two/ }).waitFor()
    const id = page.url().split('/').pop()!
    const stored = await (await fetch(`${base}/api/conversations/${id}`)).json()
    t.same(stored.council, { preset: 'quick' })
    t.match(stored.messages[1].metadata.council, { preset: 'quick', models: ['m/one', 'm/two'], chairman: 'm/two', stage2: false })
    t.match(await answers.first().textContent(), /Tokens: 360 in · 90 out · cost \$0\.0045/, 'tokens and cost of the answer')
    await page.locator('.usage-meter').getByText(/This month: 480 in/).waitFor()
  })

  await t.test('a failed answer is marked and retried from its button', async (t) => {
    await page.getByRole('button', { name: 'New conversation', exact: true }).click()
    await page.waitForURL(/\/c\/[0-9a-f-]{36}$/)
    fake.setHandler((request) => (promptOf(request).startsWith('Generate') ? withUsage(request) : { status: 503, body: { error: { message: 'overloaded' } } }))
    await question.fill('Will this fail?')
    await question.press('Enter')
    const banner = page.locator('.status-banner.failed')
    await banner.waitFor()
    t.match(await banner.textContent(), /Failed\. The council could not answer: one, two, three did not answer/)
    t.match(await answers.first().locator('.model-errors').textContent(), /3 model calls failed/)
    await shot('failed')
    fake.setHandler(withUsage)
    await banner.getByRole('button', { name: 'Retry' }).click()
    await page.getByRole('heading', { name: /Final answer by chair/ }).waitFor()
    t.equal(await page.locator('.status-banner').count(), 0, 'no banner once whole')
    t.equal(await answers.count(), 1, 'updated in place')
  })

  await t.test('a degraded answer says so at its top; retrying fills what was missing', async (t) => {
    fake.setHandler((request) => (request.model === 'm/three' && !promptOf(request).startsWith('You are') ? { status: 500 } : withUsage(request)))
    await question.fill('Second question?')
    await question.press('Enter')
    const banner = answers.nth(1).locator('.status-banner.degraded')
    await banner.waitFor()
    t.match(await banner.textContent(), /Incomplete\. Degraded answer: three did not answer/)
    const first = await answers.nth(1).locator(':scope > *').nth(1).getAttribute('class')
    t.match(first, /status-banner/, 'the banner is the first thing in the answer')
    fake.setHandler(withUsage)
    await banner.getByRole('button', { name: 'Retry what failed' }).click()
    await page.getByText('Stage 1 · 3 individual answers').nth(1).waitFor()
    t.equal(await answers.nth(1).locator('.status-banner').count(), 0)
  })

  await t.test('rankings per reviewer with the agreement; a follow-up; the context note', async (t) => {
    await page.getByText('Stage 2 · 3 peer rankings').nth(1).click()
    const stage2 = answers.nth(1).locator('.stage2')
    t.match(await stage2.locator('.reviewer-order').textContent(), /Order this reviewer saw: (one|two|three), (one|two|three), (one|two|three)/)
    t.match(await stage2.locator('.agreement').textContent(), /Agreement between reviewers \(Kendall's W\): 1\.00 over 3 full rankings\. A reviewer's vote for its own answer is not counted\./)
    t.ok(await stage2.getByRole('columnheader', { name: 'Borda points' }).isVisible())

    await question.fill('We have three engineers.')
    await page.getByRole('button', { name: 'Add without asking' }).click()
    await page.getByText('You added (no council run)').waitFor()
    fake.requests.length = 0
    await question.fill('Third question?')
    await question.press('Enter')
    await answers.nth(2).getByRole('heading', { name: /Final answer/ }).waitFor()
    t.match(await answers.nth(2).locator('.context-note').textContent(), /saw the last 1 exchange of this conversation; 1 older one was left out/)
    const stage1 = fake.requests.find((r) => r.model === 'm/one' && promptOf(r) === 'Third question?')!
    t.same(stage1.messages.map((m) => m.content).slice(-2), ['We have three engineers.', 'Third question?'], 'the follow-up went to the models')
    await shot('conversation')
  })

  await t.test('changing the council of an open conversation', async (t) => {
    await page.getByRole('button', { name: 'Change' }).click()
    await page.getByRole('checkbox', { name: 'm/one' }).check()
    await page.getByRole('checkbox', { name: 'm/extra' }).check()
    await page.getByRole('combobox', { name: 'Chairman' }).selectOption('m/extra')
    await page.getByRole('button', { name: 'Use this council' }).click()
    await page.getByText('Council · Custom: one, extra · chair extra').waitFor()
    const id = page.url().split('/').pop()!
    t.same((await (await fetch(`${base}/api/conversations/${id}`)).json()).council, { models: ['m/one', 'm/extra'], chairman: 'm/extra' })
  })

  t.same(problems, [], 'no page errors')
})
