import { readFile } from 'node:fs/promises'
import t from 'tap'
import { LOCAL_USER_ID } from '../../src/domain.ts'
import { buildTestApp } from '../helpers/app.ts'
import { launchBrowser, noBrowser } from '../helpers/browser.ts'
import { openTestDatabase } from '../helpers/db.ts'
import { storeConversation } from '../helpers/search.ts'

t.test('search as you type, download, share and revoke in a real browser', { skip: noBrowser }, async (t) => {
  const database = await openTestDatabase(t, 'pglite')
  const longAnswer = Array.from({ length: 60 }, (_, i) => `Paragraph ${i} about soil.`).join('\n\n')
  const compost = await storeConversation(database.db, LOCAL_USER_ID, 'Garden log', [
    { question: 'How deep should the beds be?', answer: longAnswer },
    { question: 'And the heap?', answer: 'Turn the compost every week and keep it damp.' }
  ])
  await storeConversation(database.db, LOCAL_USER_ID, 'Unrelated', [{ question: 'What is a monad?', answer: 'A monoid in the category of endofunctors.' }])
  await storeConversation(database.db, 'someone-else', 'Compost secrets', [{ question: 'compost?', answer: 'compost!' }])
  const { app } = await buildTestApp(t, database, {})
  const base = await app.listen({ port: 0, host: '127.0.0.1' })
  const browser = await launchBrowser(t)
  const context = await browser.newContext({ viewport: { width: 1280, height: 700 }, acceptDownloads: true })
  const page = await context.newPage()
  const problems: string[] = []
  page.on('pageerror', (error) => problems.push(String(error)))
  await page.goto(`${base}/`)
  await page.getByRole('link', { name: 'Garden log' }).waitFor()

  await t.test('results appear as the query is typed, and open the conversation at the matching message', async (t) => {
    const box = page.getByRole('searchbox', { name: 'Search conversations' })
    await box.pressSequentially('compost', { delay: 30 })
    const result = page.locator('.search-result').filter({ hasText: 'Garden log' })
    await result.waitFor()
    t.equal(await page.locator('.search-result').count(), 1, "one result: the other user's conversation is not found")
    t.equal(await result.locator('mark').first().textContent(), 'compost')
    t.equal(await page.locator('#conversation-list').isVisible(), false, 'the list steps aside while searching')
    await result.locator('a').click()
    await page.getByRole('heading', { name: 'Garden log' }).waitFor()
    t.match(page.url(), new RegExp(`/c/${compost}#m3$`))
    const message = page.locator('#m3')
    await message.waitFor()
    t.ok(await message.isVisible(), 'the matching answer is shown')
    t.ok(await message.evaluate((el) => { const box = el.getBoundingClientRect(); return box.top < window.innerHeight && box.bottom > 0 }), 'scrolled into view')
    await box.fill('')
    await page.locator('#conversation-list').waitFor()
    t.ok(await page.locator('#conversation-list').isVisible(), 'clearing the query brings the list back')
    await box.fill('nothing-like-this')
    await page.getByText('Nothing found for “nothing-like-this”.').waitFor()
    await box.fill('')
  })

  await t.test('Markdown and JSON downloads named after the title', async (t) => {
    for (const [name, extension, check] of [['Markdown', 'md', /^# Garden log\n[\s\S]*Turn the compost every week/], ['JSON', 'json', /"title": "Garden log"/]] as const) {
      const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name }).click()])
      t.equal(download.suggestedFilename(), `Garden log.${extension}`)
      t.match(await readFile((await download.path())!, 'utf8'), check)
    }
  })

  await t.test('a shared link opens without credentials, read-only, until it is revoked', async (t) => {
    await page.getByRole('button', { name: 'Share' }).click()
    await page.getByText('Only you can see this conversation.').waitFor()
    await page.getByRole('button', { name: 'Make a read-only link' }).click()
    const url = await page.getByRole('textbox', { name: 'Shared link' }).inputValue()
    t.match(url, /\/s\/[A-Za-z0-9_-]{43}$/)
    await page.getByText(/Anyone with the link can read this conversation/).waitFor()

    const stranger = await browser.newContext()
    t.teardown(() => stranger.close())
    const visitor = await stranger.newPage()
    const opened = await visitor.goto(url)
    t.equal(opened!.status(), 200)
    await visitor.getByRole('heading', { name: 'Garden log' }).waitFor()
    await visitor.getByText('Turn the compost every week').waitFor()
    t.equal(await visitor.locator('meta[name="robots"]').getAttribute('content'), 'noindex, nofollow')
    t.equal(await visitor.locator('textarea, input, form').count(), 0, 'nothing to write with')
    t.equal(await visitor.getByRole('button', { name: /retry/i }).count(), 0)

    await page.getByRole('button', { name: 'Revoke' }).click()
    await page.getByText('Only you can see this conversation.').waitFor()
    const after = await visitor.reload()
    t.equal(after!.status(), 404, 'revoked: the page is a 404')
    await visitor.getByText('This link does not work').waitFor()
  })

  t.same(problems, [], 'no page errors')
})
