import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { sql } from 'drizzle-orm'
import t, { type Test } from 'tap'
import { buildTestApp } from '../helpers/app.ts'
import { launchBrowser, noBrowser } from '../helpers/browser.ts'
import { TEST_DATABASE_URL, openTestDatabase } from '../helpers/db.ts'
import { startFakeLlm, wellBehaved } from '../helpers/fake-llm.ts'
import { startOidcProvider } from '../helpers/oidc-provider.ts'
import { ROOT } from '../helpers/process.ts'

const ARTIFACTS = join(ROOT, 'test-artifacts')
const PASSWORD = 'a long enough password'

// Script errors on any page of a test (a 401 before sign-in is a failed resource in the console, not one of these).
const scriptErrors: string[] = []

async function newVisitor(browser: Browser, t: Test): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } })
  t.teardown(() => context.close())
  const page = await context.newPage()
  page.on('pageerror', (error) => scriptErrors.push(String(error)))
  return page
}

async function signUp(page: Page, base: string, email: string) {
  await page.goto(`${base}/`)
  await page.getByRole('heading', { name: 'Sign in' }).waitFor()
  await page.getByRole('button', { name: 'Make an account' }).click()
  await page.getByLabel('Email').fill(email)
  await page.getByLabel('Password').fill(PASSWORD)
  await page.getByRole('button', { name: 'Make account' }).click()
  await page.getByRole('heading', { name: 'Ask the council' }).waitFor()
}

t.test('accounts in the app: production, on PostgreSQL where there is one', { skip: noBrowser }, async (t) => {
  mkdirSync(ARTIFACTS, { recursive: true })
  const database = await openTestDatabase(t, TEST_DATABASE_URL ? 'postgres' : 'pglite')
  const fake = await startFakeLlm(t, wellBehaved)
  const { app, secrets } = await buildTestApp(t, database, {
    NODE_ENV: 'production',
    DATABASE_URL: database.url ?? 'postgres://unused@127.0.0.1:5432/unused',
    AUTH_MODE: 'accounts',
    SIGNUP: 'open',
    LLM_BASE_URL: fake.baseUrl,
    COUNCIL_MODELS: 'm/one,m/two',
    CHAIRMAN_MODEL: 'm/chair',
    TITLE_MODEL: 'm/title',
    USAGE_LIMITS: 'free:5/50,pro:100/3000'
  })
  secrets.add(PASSWORD)
  // What the server held before accounts: a conversation of the local user.
  await database.db.execute(sql`insert into conversations (user_id, title) values ('local', 'Notes from before accounts')`)
  const base = await app.listen({ port: 0, host: '127.0.0.1' })
  const browser = await launchBrowser(t)

  const first = await newVisitor(browser, t)
  await t.test('a new visitor signs up (the admin), claims the data from before accounts, and asks the council', async (t) => {
    await signUp(first, base, 'admin@example.com')
    await first.getByText('Conversations from before accounts').waitFor()
    await first.getByRole('button', { name: 'Make them mine' }).click()
    await first.locator('.conversation .title', { hasText: 'Notes from before accounts' }).waitFor()
    t.equal(await first.getByText('Conversations from before accounts').count(), 0, 'nothing left to claim')
    await first.getByRole('button', { name: 'New conversation', exact: true }).click()
    await first.waitForURL(/\/c\/[0-9a-f-]{36}$/)
    await first.getByText('No messages yet').waitFor()
    const cookie = (await first.context().cookies()).find((c) => c.name === 'llmc_session')!
    t.match(cookie, { httpOnly: true, secure: true, sameSite: 'Lax' }, 'the session cookie, Secure in production')
    const question = first.getByRole('textbox', { name: 'Your question' })
    await question.fill('What is the tallest mountain?')
    await question.press('Enter')
    await first.getByRole('heading', { name: /Final answer/ }).waitFor()
    await first.locator('.conversation .title').first().waitFor()
    t.ok(await first.getByRole('link', { name: 'Admin' }).isVisible(), 'the admin sees the admin page link')
    await first.screenshot({ path: join(ARTIFACTS, 'accounts-admin-asked.png') })

    await first.getByRole('link', { name: 'Settings' }).click()
    await first.getByLabel('Display name').fill('Ada Admin')
    await first.getByRole('button', { name: 'Save' }).click()
    await first.getByText('Saved.').waitFor()
    await first.getByLabel('New key name').fill('my script')
    await first.getByRole('button', { name: 'Create key' }).click()
    const key = (await first.locator('#new-key').textContent())!
    secrets.add(key)
    t.match(key, /^llmc_/, 'the new key is shown once')
    const res = await fetch(`${base}/api/users/profile`, { headers: { authorization: `Bearer ${key}` } })
    t.equal((await res.json()).display_name, 'Ada Admin', 'the profile was saved, and the key works')
    await first.reload()
    await first.getByRole('cell', { name: 'my script', exact: true }).waitFor()
    t.equal(await first.locator('#new-key').count(), 0, 'after a reload the key is not shown again')
    t.equal(await first.getByLabel('Display name').inputValue(), 'Ada Admin')
    await first.getByRole('button', { name: 'Sign out', exact: true }).click()
    await first.getByRole('heading', { name: 'Sign in' }).waitFor()
    t.equal((await first.context().cookies()).filter((c) => c.name === 'llmc_session').length, 0, 'signed out: no cookie')
  })

  const second = await newVisitor(browser, t)
  await t.test("a second user signs up and sees none of the first user's conversations", async (t) => {
    await signUp(second, base, 'second@example.com')
    await second.getByText('No conversations yet.').waitFor()
    t.equal(await second.locator('.conversation').count(), 0)
    t.notOk(await second.getByRole('link', { name: 'Admin' }).isVisible(), 'no admin link for a user')
    await second.goto(`${base}/admin`)
    await second.getByRole('heading', { name: 'Not found' }).waitFor()
  })

  await t.test("the admin signs in again and changes the second user's tier on the admin page", async (t) => {
    await first.getByLabel('Email').fill('admin@example.com')
    await first.getByLabel('Password').fill(PASSWORD)
    await first.getByRole('button', { name: 'Sign in' }).click()
    await first.getByRole('link', { name: 'Admin' }).click()
    await first.getByRole('heading', { name: 'Admin' }).waitFor()
    const row = first.locator('tr', { hasText: 'second@example.com' })
    await row.getByRole('combobox').selectOption('pro')
    await row.getByText('0 / 100').first().waitFor()
    await first.screenshot({ path: join(ARTIFACTS, 'accounts-admin-page.png') })
    await second.reload()
    await second.locator('.usage-meter').getByText('0 / 100').first().waitFor()
    t.match(await second.locator('.usage-meter').textContent(), /pro tier/i, 'the second user is on pro now')
  })
  t.same(scriptErrors, [], 'no script errors')
})

t.test('single sign-on in the app through a local OpenID provider', { skip: noBrowser }, async (t) => {
  const provider = await startOidcProvider(t)
  const database = await openTestDatabase(t, 'pglite')
  const { app } = await buildTestApp(t, database, {
    AUTH_MODE: 'oidc',
    OIDC_ISSUER: provider.issuer,
    OIDC_CLIENT_ID: provider.clientId,
    OIDC_CLIENT_SECRET: provider.clientSecret
  })
  const base = await app.listen({ port: 0, host: '127.0.0.1' })
  provider.allowRedirects([`${base}/api/auth/oidc/callback`])
  provider.users.set('dana', { login: 'dana', email: 'dana@example.com', emailVerified: true, name: 'Dana' })
  const browser = await launchBrowser(t)
  const page = await newVisitor(browser, t)

  await page.goto(`${base}/`)
  t.equal(await page.getByLabel('Password').count(), 0, 'oidc mode: no password form')
  await page.getByRole('link', { name: 'Sign in with single sign-on' }).click()
  await page.locator('input[name=login]').fill('dana')
  await page.locator('input[name=password]').fill('any password')
  await page.locator('button[type=submit]').click()
  await page.getByRole('button', { name: 'Continue' }).click()
  await page.getByRole('heading', { name: 'Ask the council' }).waitFor()
  t.equal(await page.locator('.account-bar .who').textContent(), 'dana@example.com')
  await page.getByRole('link', { name: 'Settings' }).click()
  t.equal(await page.getByLabel('Display name').inputValue(), 'Dana', "the provider's name")
  await page.getByRole('button', { name: 'Sign out', exact: true }).click()
  await page.getByRole('link', { name: 'Sign in with single sign-on' }).waitFor()
  t.same(scriptErrors, [], 'no script errors')
})
