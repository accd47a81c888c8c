import t from 'tap'
import { buildTestApp } from '../helpers/app.ts'
import { launchBrowser, noBrowser } from '../helpers/browser.ts'
import { openTestDatabase } from '../helpers/db.ts'
import { type FakeRequest, promptOf, startFakeLlm, wellBehaved } from '../helpers/fake-llm.ts'

const isMember = (request: FakeRequest) => !promptOf(request).includes('FINAL RANKING:') && !promptOf(request).startsWith('You are the Chairman') && request.model !== 'm/title'
const WORDS = 'streamed word by word as the model writes it '

t.test('live runs in a real browser: text as it is written, a reload mid-run, Stop', { skip: noBrowser }, async (t) => {
  const database = await openTestDatabase(t, 'pglite')
  let gate = Promise.resolve()
  let open = () => {}
  const hold = () => (gate = new Promise<void>((resolve) => (open = resolve)))
  const fake = await startFakeLlm(t, async (request) => {
    if (!isMember(request)) return wellBehaved(request)
    // m/one writes a first piece at once, then waits for the test; the others wait before writing.
    if (request.model !== 'm/one') await gate
    return { status: 200, text: `${request.model} ${WORDS.repeat(3)}`, chunkDelayMs: request.model === 'm/one' ? 0 : 5, ...(request.model === 'm/one' ? { delayMs: 0 } : {}) }
  })
  const { app } = await buildTestApp(t, database, { LLM_BASE_URL: fake.baseUrl, COUNCIL_MODELS: 'm/one,m/two,m/three', CHAIRMAN_MODEL: 'm/chair', TITLE_MODEL: 'm/title' })
  const base = await app.listen({ port: 0, host: '127.0.0.1' })
  const browser = await launchBrowser(t)
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
  const problems: string[] = []
  page.on('pageerror', (error) => problems.push(String(error)))
  const question = page.getByRole('textbox', { name: 'Your question' })
  await page.goto(`${base}/`)

  await t.test("a member's text shows while the others are still writing", async (t) => {
    hold()
    await question.fill('Show me as you go')
    await question.press('Enter')
    const live = page.locator('.live-answer').filter({ hasText: 'm/one' })
    await live.getByText(/m\/one streamed word by word/).waitFor()
    t.match(await page.locator('.run-bar').textContent(), /The council is answering/)
    t.equal(await page.locator('.stage1 summary').count(), 0, 'stage 1 is not done: the text came before it')
    open()
    await page.getByRole('heading', { name: /Final answer by chair/ }).waitFor()
    t.equal(await page.locator('.run-bar .stop').count(), 0, 'no Stop once it has ended')
  })

  await t.test('a reload mid-run shows the same run, which goes on to its answer', async (t) => {
    hold()
    await question.fill('Survive a reload?')
    await question.press('Enter')
    await page.locator('.live-answer').filter({ hasText: 'm/one' }).getByText(/streamed word/).waitFor()
    await page.reload()
    await page.getByText('Survive a reload?').waitFor()
    await page.locator('.run-bar').getByRole('button', { name: 'Stop' }).waitFor()
    await page.locator('.live-answer').filter({ hasText: 'm/one' }).getByText(/streamed word/).waitFor()
    t.pass('after the reload: the run and what it had so far')
    open()
    await page.locator('.message.assistant').nth(1).getByRole('heading', { name: /Final answer by chair/ }).waitFor()
    t.equal(await page.getByText('Survive a reload?').count(), 1, 'one question, shown once')
    t.equal(await page.locator('.message.assistant').count(), 2)
  })

  await t.test('Stop keeps what was finished and offers Retry', async (t) => {
    hold()
    await question.fill('Stop me')
    await question.press('Enter')
    await page.locator('.live-answer').filter({ hasText: 'm/one' }).getByText(/streamed word/).waitFor()
    await page.locator('.run-bar').getByRole('button', { name: 'Stop' }).click()
    const banner = page.locator('.status-banner.cancelled')
    await banner.waitFor()
    t.match(await banner.textContent(), /Stopped\. You stopped this run; what was finished is kept/)
    open()
    await banner.getByRole('button', { name: /Retry/ }).click()
    await page.locator('.message.assistant').nth(2).getByRole('heading', { name: /Final answer by chair/ }).waitFor()
    t.equal(await page.locator('.status-banner').count(), 0)
  })

  t.same(problems, [], 'no page errors')
})
