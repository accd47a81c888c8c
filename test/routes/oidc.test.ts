import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Browser } from 'playwright-core'
import t, { type Test } from 'tap'
import { buildTestApp } from '../helpers/app.ts'
import { launchBrowser, noBrowser } from '../helpers/browser.ts'
import { openTestDatabase } from '../helpers/db.ts'
import { startOidcProvider } from '../helpers/oidc-provider.ts'

/**
 * Where the provider sends the browser back in these tests (OIDC_REDIRECT_URL): a server that only
 * notes the URL, so that each test decides what reaches the app's callback, and with which cookie.
 */
async function startCallbackCatcher(t: Test): Promise<{ url: string; caught: string[] }> {
  const caught: string[] = []
  const server = createServer((request, response) => {
    caught.push(request.url!)
    response.end('caught')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/auth/oidc/callback`, caught }
}

/**
 * Goes through the provider's login form in a fresh browser context, up to the callback: the callback
 * URL (path and query) and the state cookie the browser would have sent with it.
 */
async function loginUntilCallback(browser: Browser, base: string, catcher: { url: string }, login: string): Promise<{ path: string; stateCookie: string }> {
  const context = await browser.newContext()
  try {
    const page = await context.newPage()
    await page.goto(`${base}/api/auth/oidc/start`)
    await page.locator('input[name=login]').fill(login)
    await page.locator('input[name=password]').fill('any password')
    await page.locator('button[type=submit]').click()
    // The consent page (its own interaction) asks to continue.
    await page.getByRole('button', { name: 'Continue' }).click()
    await page.waitForURL((url) => url.href.startsWith(catcher.url))
    const state = (await context.cookies()).find((cookie) => cookie.name === 'llmc_oidc_state')
    const url = new URL(page.url())
    return { path: url.pathname + url.search, stateCookie: state!.value }
  } finally {
    await context.close()
  }
}

t.test('single sign-on through a real OpenID provider', { skip: noBrowser }, async (t) => {
  const provider = await startOidcProvider(t)
  const catcher = await startCallbackCatcher(t)
  const database = await openTestDatabase(t, 'pglite')
  const { app, logs, secrets } = await buildTestApp(t, database, {
    AUTH_MODE: 'oidc',
    OIDC_ISSUER: provider.issuer,
    OIDC_CLIENT_ID: provider.clientId,
    OIDC_CLIENT_SECRET: provider.clientSecret,
    OIDC_REDIRECT_URL: catcher.url,
    SIGNUP: 'invite'
  })
  const base = await app.listen({ port: 0, host: '127.0.0.1' })
  provider.allowRedirects([catcher.url])
  const loginAs = (login: string) => loginUntilCallback(browser, base, catcher, login)
  provider.users.set('alice', { login: 'alice', email: 'Alice@Example.com', emailVerified: true, name: 'Alice A.' })
  provider.users.set('bob', { login: 'bob', email: 'bob@example.com', emailVerified: true })
  provider.users.set('mallory', { login: 'mallory', email: 'carol@example.com', emailVerified: false })
  const browser = await launchBrowser(t)

  const callback = (path: string, stateCookie?: string) =>
    app.inject({ method: 'GET', url: path, headers: stateCookie ? { cookie: `llmc_oidc_state=${stateCookie}` } : {} })
  const sessionCookie = (res: { cookies: { name: string; value: string }[] }) => res.cookies.find((c) => c.name === 'llmc_session' && c.value)?.value
  const refusal = (res: { headers: Record<string, unknown> }) => new URL(String(res.headers.location), base).searchParams.get('sign_in_error')
  const whoIs = async (session: string) => (await app.inject({ url: '/api/auth/session', headers: { cookie: `llmc_session=${session}` } })).json().user

  let aliceId = ''
  await t.test('the first sign-in makes the admin account, keyed by issuer and subject', async (t) => {
    const login = await loginAs('alice')
    const res = await callback(login.path, login.stateCookie)
    t.equal(res.statusCode, 302)
    t.equal(res.headers.location, '/')
    const session = sessionCookie(res)!
    secrets.add(session)
    const user = await whoIs(session)
    t.match(user, { email: 'alice@example.com', role: 'admin', method: 'session' })
    aliceId = user.user_id
    const profile = (await app.inject({ url: '/api/users/profile', headers: { cookie: `llmc_session=${session}` } })).json()
    t.equal(profile.display_name, 'Alice A.', "the provider's name becomes the display name")

    const again = await loginAs('alice')
    t.equal((await whoIs(sessionCookie(await callback(again.path, again.stateCookie))!)).user_id, aliceId, 'the same subject signs in to the same account')
  })

  await t.test('no passwords in oidc mode: sign-up and sign-in say to use single sign-on', async (t) => {
    for (const url of ['/api/auth/sign-up', '/api/auth/sign-in']) {
      const res = await app.inject({ method: 'POST', url, payload: { email: 'alice@example.com', password: 'a long enough password' } })
      t.equal(res.statusCode, 403, url)
      t.match(res.json().message, /single sign-on/)
    }
    t.match((await app.inject({ url: '/api/auth/session' })).json(), { mode: 'oidc', password_sign_in: false, single_sign_on: true, user: null })
  })

  await t.test('state and PKCE: forged, cookieless, replayed and swapped callbacks sign nobody in', async (t) => {
    const login = await loginAs('alice')
    const forged = login.path.replace(/state=[^&]+/, 'state=forged-state')
    for (const [name, res] of [
      ['a forged state', await callback(forged, 'forged-state')],
      ['no state cookie (a callback URL opened in another browser)', await callback(login.path)],
      ['a state cookie of another login', await callback(login.path, 'another-login-state')]
    ] as const) {
      t.equal(res.statusCode, 302, name)
      t.ok(refusal(res), `${name}: refused with a reason`)
      t.notOk(sessionCookie(res), `${name}: no session`)
    }
    const used = await callback(login.path, login.stateCookie)
    t.ok(sessionCookie(used), 'the real callback still works once')
    const replay = await callback(login.path, login.stateCookie)
    t.match(refusal(replay), /already used or has expired/, 'a replayed callback is refused')
    t.notOk(sessionCookie(replay))

    // The code of login A delivered with login B's state: B's PKCE verifier does not match A's challenge.
    const a = await loginAs('alice')
    const b = await loginAs('alice')
    const codeOfA = new URL(a.path, base).searchParams.get('code')!
    const swapped = b.path.replace(/code=[^&]+/, `code=${encodeURIComponent(codeOfA)}`)
    const res = await callback(swapped, b.stateCookie)
    t.match(refusal(res), /provider refused/, 'the provider refuses the code for the wrong verifier')
    t.notOk(sessionCookie(res))
  })

  await t.test('email links to an invited account only when the provider says it is verified', async (t) => {
    const admin = sessionCookie(await callback(...Object.values(await loginAs('alice')) as [string, string]))!
    const invite = (email: string) =>
      // app.inject's requests reach the app as http://localhost:80.
      app.inject({ method: 'POST', url: '/api/admin/users', headers: { cookie: `llmc_session=${admin}`, origin: 'http://localhost:80' }, payload: { email } })
    const invited = await invite('bob@example.com')
    t.equal(invited.statusCode, 201)
    const bobAccount = invited.json()
    t.equal(bobAccount.temporary_password, undefined, 'no password in oidc mode')
    t.equal((await invite('carol@example.com')).statusCode, 201)

    const bob = await loginAs('bob')
    const signedIn = await callback(bob.path, bob.stateCookie)
    t.equal(refusal(signedIn), null)
    t.equal((await whoIs(sessionCookie(signedIn)!))?.user_id, bobAccount.user_id, 'verified email: the invited account')

    const mallory = await loginAs('mallory')
    const res = await callback(mallory.path, mallory.stateCookie)
    t.notOk(sessionCookie(res), "an unverified email never signs in to the account that has it")
    t.match(refusal(res), /no account for you/)
  })

  t.notOk(logs.some((line) => JSON.stringify(line).includes(provider.clientSecret)), 'the client secret is in no log line')
})
