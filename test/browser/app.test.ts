import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import t from 'tap'
import { parseRecord } from '../../src/cli/import/parse.ts'
import { LOCAL_USER_ID, derivedUuid } from '../../src/domain.ts'
import { type ImportConversation, TransferRepo } from '../../src/repos/transfer.ts'
import { buildTestApp } from '../helpers/app.ts'
import { launchBrowser, noBrowser } from '../helpers/browser.ts'
import { openTestDatabase } from '../helpers/db.ts'
import { type FakeHandler, promptOf, startFakeLlm, wellBehaved } from '../helpers/fake-llm.ts'
import { ROOT } from '../helpers/process.ts'

const ARTIFACTS = join(ROOT, 'test-artifacts')
const MISSING = '00000000-0000-4000-8000-000000000000'

// Model output that tries to run script three ways; the page must render it inert.
const HOSTILE = 'Here is an image <img src=x onerror="window.__xss=1"> and a [harmless link](javascript:window.__xss=2).'
type Stage = 'answer' | 'ranking' | 'chairman'

// A held stage's calls wait until the test has seen that stage's progress on the page, so a
// slow browser cannot miss a stage that passed while it was busy.
const held = new Map<Stage | 'title', Promise<void>>()
function hold(stage: Stage) {
  let release!: () => void
  const gate = new Promise<void>((resolve) => { release = resolve })
  held.set(stage, gate)
  return () => {
    if (held.get(stage) === gate) held.delete(stage)
    release()
  }
}

const slowAndHostile: FakeHandler = async (request) => {
  await new Promise((resolve) => setTimeout(resolve, 400))
  const prompt = promptOf(request)
  const stage = prompt.startsWith('Generate a very short title') ? 'title'
    : prompt.startsWith('You are the Chairman') ? 'chairman'
      : prompt.startsWith('You are evaluating') ? 'ranking' : 'answer'
  await held.get(stage)
  if (stage === 'title') return 'Tides Explained'
  if (stage === 'chairman') return `**The council agrees.** ${HOSTILE}\n\n<script>window.__xss=3</script>`
  if (stage === 'ranking') return wellBehaved(request)
  return `Answer from ${request.model}. ${HOSTILE}`
}

t.test('the app in a real browser', { skip: noBrowser }, async (t) => {
  mkdirSync(ARTIFACTS, { recursive: true })
  const database = await openTestDatabase(t, 'pglite')
  const fake = await startFakeLlm(t, slowAndHostile)
  const { app } = await buildTestApp(t, database, {
    LLM_BASE_URL: fake.baseUrl,
    COUNCIL_MODELS: 'openai/gpt-5.1,anthropic/claude-sonnet-4.5,x-ai/grok-4',
    CHAIRMAN_MODEL: 'google/gemini-3-pro-preview',
    TITLE_MODEL: 'google/gemini-2.5-flash',
    USAGE_LIMITS: 'free:3/100'
  })
  const base = await app.listen({ port: 0, host: '127.0.0.1' })

  const browser = await launchBrowser(t)
  const page: Page = await browser.newPage({ viewport: { width: 1280, height: 860 } })
  const problems: string[] = []
  page.on('console', (message) => message.type() === 'error' && problems.push(message.text()))
  page.on('pageerror', (error) => problems.push(String(error)))
  const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`) })
  const api = async (path: string, init?: RequestInit) => fetch(`${base}${path}`, init)

  await page.goto(`${base}/`)
  await page.getByRole('heading', { name: 'Ask the council' }).waitFor()
  await page.locator('.usage-meter').getByText('0 / 3').waitFor()
  t.equal(await page.locator('#demo-notice').isVisible(), false, 'no demo notice with a real council')
  await shot('home')

  let id = ''
  await t.test('create a conversation and watch the stages arrive', async (t) => {
    await page.getByRole('button', { name: 'New conversation', exact: true }).click()
    await page.waitForURL(/\/c\/[0-9a-f-]{36}$/)
    id = page.url().split('/').pop()!
    t.match(await page.locator('.empty').textContent(), /No messages yet/)

    const question = page.getByRole('textbox', { name: 'Your question' })
    await question.fill('How do tides work?')
    await question.press('Shift+Enter')
    await question.pressSequentially('Explain briefly.')
    t.equal(await question.inputValue(), 'How do tides work?\nExplain briefly.', 'Shift+Enter makes a new line')
    const [answers, rankings, chairman] = [hold('answer'), hold('ranking'), hold('chairman')]
    t.teardown(() => { answers(); rankings(); chairman() }) // a failed wait must not leave the run hanging
    await question.press('Enter')

    // Each stage shows its progress, then its result.
    await page.getByText('Stage 1: the council is answering').waitFor()
    answers()
    await page.getByText('Stage 2: the models are ranking each other').waitFor()
    t.ok(await page.getByText('Stage 1 · 3 individual answers').isVisible(), 'stage 1 is shown while stage 2 runs')
    rankings()
    await page.getByText('Stage 3: the chairman is writing the final answer').waitFor()
    await shot('stage3-running')
    chairman()
    await page.getByRole('heading', { name: /Final answer/ }).waitFor()
    await page.getByRole('heading', { name: 'Tides Explained' }).waitFor()
    t.ok(await page.locator('.conversation .title', { hasText: 'Tides Explained' }).isVisible(), 'the title appears in the sidebar')
    t.equal(await question.inputValue(), '', 'the box is cleared once the answer is in')
    t.match(await page.locator('.stage3').textContent(), /by gemini-3-pro-preview.*The council agrees/s)
    await page.locator('.usage-meter').getByText('1 / 3').waitFor()

    await page.getByText('Stage 2 · 3 peer rankings').click()
    await page.getByRole('tablist', { name: 'Peer rankings' }).getByRole('tab', { name: 'claude-sonnet-4.5' }).click()
    t.match(await page.locator('.stage2 .tabpanel').textContent(), /Ranking as read.*anthropic\/claude-sonnet-4\.5/s, 'labels resolved to model names')
    t.ok(await page.getByRole('table').getByText('openai/gpt-5.1').isVisible(), 'the aggregate ranking')
    await page.getByText('Stage 1 · 3 individual answers').click()
    await page.getByRole('tablist', { name: 'Individual answers' }).getByRole('tab', { name: 'grok-4' }).click()
    t.match(await page.locator('.stage1 .tabpanel').textContent(), /Answer from x-ai\/grok-4/)
    await shot('conversation')
  })

  await t.test('model output renders inert', async (t) => {
    const state = await page.evaluate(() => ({
      xss: (window as unknown as { __xss?: number }).__xss,
      handlers: document.querySelectorAll('[onerror], [onload], [onclick]').length,
      scripts: [...document.querySelectorAll('script')].filter((s) => !s.src).length,
      jsLinks: [...document.querySelectorAll('a')].filter((a) => a.getAttribute('href')?.toLowerCase().startsWith('javascript')).length,
      images: document.querySelectorAll('.markdown img').length
    }))
    t.same(state, { xss: undefined, handlers: 0, scripts: 0, jsLinks: 0, images: state.images })
    t.ok(state.images > 0, 'the image itself is kept, without its handler')
    const link = page.locator('.stage3 a', { hasText: 'harmless link' })
    t.equal(await link.getAttribute('href'), null, 'the javascript: link has no href')
  })

  await t.test('reload, deep link, back and forward', async (t) => {
    await page.reload()
    await page.getByRole('heading', { name: 'Tides Explained' }).waitFor()
    t.equal(await page.locator('.message').count(), 2, 'the same conversation after a reload')
    await page.getByRole('link', { name: 'LLM Council' }).click()
    await page.getByRole('heading', { name: 'Ask the council' }).waitFor()
    await page.goBack()
    await page.getByRole('heading', { name: 'Tides Explained' }).waitFor()
    t.equal(page.url(), `${base}/c/${id}`)
    await page.goForward()
    await page.getByRole('heading', { name: 'Ask the council' }).waitFor()
    await page.goto(`${base}/c/${MISSING}`)
    await page.getByRole('heading', { name: 'Not found' }).waitFor()
    await shot('not-found')
    await page.goto(`${base}/c/${id}`)
    await page.getByRole('heading', { name: 'Tides Explained' }).waitFor()
  })

  await t.test('rename, star, filter', async (t) => {
    await page.getByRole('button', { name: 'Rename Tides Explained' }).click()
    const input = page.getByLabel('New title')
    await input.fill('Moon and tides')
    await input.press('Enter')
    await page.getByRole('heading', { name: 'Moon and tides' }).waitFor()
    t.equal((await (await api(`/api/conversations/${id}`)).json()).title, 'Moon and tides')

    await page.getByRole('button', { name: 'Star Moon and tides' }).click()
    await page.getByRole('button', { name: 'Unstar Moon and tides' }).waitFor()
    t.equal((await (await api(`/api/conversations/${id}`)).json()).starred, true)
    await page.getByRole('button', { name: 'New conversation', exact: true }).click()
    await page.waitForURL((url) => !url.pathname.endsWith(id))
    await page.getByRole('button', { name: 'Starred' }).click()
    await page.getByText('Moon and tides').waitFor()
    t.equal(await page.locator('.conversation').count(), 1, 'only the starred one')
    await page.getByRole('button', { name: 'All', exact: true }).click()
    await page.locator('.conversation').nth(1).waitFor()
  })

  await t.test('the allowance: a 429 says when it resets', async (t) => {
    await page.goto(`${base}/c/${id}`)
    const question = page.getByRole('textbox', { name: 'Your question' })
    for (const q of ['Second?', 'Third?']) {
      await question.fill(q)
      await question.press('Enter')
      await page.locator('.message.assistant:not([aria-busy])').nth(-1).getByRole('heading', { name: /Final answer/ }).waitFor()
      await page.waitForFunction(() => !(document.querySelector('#question') as HTMLTextAreaElement).disabled)
    }
    await question.fill('One too many?')
    await question.press('Enter')
    const alert = page.getByRole('alert').filter({ hasText: 'Daily limit reached' })
    await alert.waitFor()
    t.match(await alert.textContent(), /Daily limit reached \(3\/3\): resets in \d+ (h|min)\./)
    t.equal(await question.inputValue(), 'One too many?', 'the question stays in the box')
    await shot('limit-reached')
  })

  await t.test('delete with confirmation', async (t) => {
    page.once('dialog', (dialog) => dialog.dismiss())
    await page.getByRole('button', { name: 'Delete Moon and tides' }).click()
    t.equal((await api(`/api/conversations/${id}`)).status, 200, 'dismissing the dialog keeps it')
    page.once('dialog', (dialog) => dialog.accept())
    await page.getByRole('button', { name: 'Delete Moon and tides' }).click()
    await page.getByRole('heading', { name: 'Ask the council' }).waitFor()
    t.equal((await api(`/api/conversations/${id}`)).status, 404)
    t.equal(await page.getByText('Moon and tides').count(), 0)
  })

  await t.test('an imported conversation opens by the id it had before', async (t) => {
    const imported = parseRecord({ id: 'legacy 7', title: 'From the old files', created_at: '2024-01-01T00:00:00', messages: [{ role: 'user', content: 'An old question' }] }, LOCAL_USER_ID)
    await new TransferRepo(database.db).createConversations([imported as ImportConversation])
    await page.goto(`${base}/c/legacy%207`)
    await page.getByRole('heading', { name: 'From the old files' }).waitFor()
    t.equal(page.url(), `${base}/c/${derivedUuid(LOCAL_USER_ID, 'legacy 7')}`, 'the address becomes its own')
    t.equal(await page.locator('.message').count(), 1)
  })

  await t.test('a phone-width screen', async (t) => {
    await page.setViewportSize({ width: 390, height: 800 })
    await page.goto(`${base}/`)
    await page.getByRole('button', { name: 'Show conversations' }).click()
    await page.getByRole('button', { name: 'New conversation', exact: true }).waitFor({ state: 'visible' })
    await page.waitForTimeout(300) // the sidebar slides in
    await shot('phone')
    t.ok(await page.getByRole('button', { name: 'New conversation', exact: true }).isVisible())
  })

  await t.test('the offline demo says so on the first screen, and how to get real answers', async (t) => {
    const demo = await buildTestApp(t, await openTestDatabase(t, 'pglite'))
    t.equal(demo.app.config.llm.provider, 'demo')
    const demoBase = await demo.app.listen({ port: 0, host: '127.0.0.1' })
    await page.setViewportSize({ width: 1280, height: 860 })
    await page.goto(`${demoBase}/`)
    const notice = page.locator('#demo-notice')
    await notice.waitFor({ state: 'visible' })
    t.match(await notice.textContent(), /Offline demo\..*samples.*set OPENROUTER_API_KEY \(or LLM_BASE_URL .*\) and restart the server/s)
    await shot('demo-home')
  })

  // Chromium reports the hostile `onerror` as a blocked inline handler while parsing it in an inert
  // document, before DOMPurify removes the attribute: CSP doing its job as a second line. Anything
  // else (a CSP violation of the app's own, a script error) fails the test.
  // The 404s (the not-found view, the hostile <img src=x>) and the 429 are the scenarios above.
  const expected = /^(Executing inline event handler violates|Failed to load resource: the server responded with a status of (404|429))/
  const unexpected = problems.filter((text) => !expected.test(text))
  t.same(unexpected, [], 'no console errors of the app itself')
})
