import { createHash } from 'node:crypto'
import { sql } from 'drizzle-orm'
import type { FastifyInstance, InjectOptions } from 'fastify'
import t from 'tap'
import { LOCAL_USER_ID } from '../../src/domain.ts'
import { buildTestApp } from '../helpers/app.ts'
import { eachBackend, openTestDatabase, queryRows } from '../helpers/db.ts'
import { startFakeLlm, wellBehaved } from '../helpers/fake-llm.ts'

// app.inject's requests reach the app as http://localhost:80: the page's own origin.
const ORIGIN = 'http://localhost:80'
const PASSWORD = 'a long enough password'

/** A browser's view of one account: its session cookie, sent the way the page sends it. */
function client(app: FastifyInstance, secrets: Set<string>) {
  const cookieOf = (res: { cookies: { name: string; value: string }[] }) => res.cookies.find((c) => c.name === 'llmc_session' && c.value)?.value
  return {
    async signUp(email: string, password = PASSWORD) {
      secrets.add(password)
      const res = await app.inject({ method: 'POST', url: '/api/auth/sign-up', headers: { origin: ORIGIN }, payload: { email, password } })
      const cookie = cookieOf(res)
      if (cookie) secrets.add(cookie)
      return { res, cookie: cookie! }
    },
    async signIn(email: string, password = PASSWORD, remoteAddress = '127.0.0.1') {
      secrets.add(password)
      const res = await app.inject({ method: 'POST', url: '/api/auth/sign-in', headers: { origin: ORIGIN }, payload: { email, password }, remoteAddress })
      const cookie = cookieOf(res)
      if (cookie) secrets.add(cookie)
      return { res, cookie: cookie! }
    },
    /** A request with the session cookie, from the page (same Origin). */
    as(cookie: string, options: InjectOptions) {
      return app.inject({ ...options, headers: { origin: ORIGIN, ...options.headers, cookie: `llmc_session=${cookie}` } })
    },
    cookieOf
  }
}

await eachBackend(t, async (t, backend) => {
  const database = await openTestDatabase(t, backend)
  const fake = await startFakeLlm(t, wellBehaved)
  const { app, logs, secrets } = await buildTestApp(t, database, {
    AUTH_MODE: 'accounts',
    LLM_BASE_URL: fake.baseUrl,
    COUNCIL_MODELS: 'm/one,m/two',
    CHAIRMAN_MODEL: 'm/chair',
    TITLE_MODEL: 'm/title',
    USAGE_LIMITS: 'free:5/50,pro:100/3000',
    ADMIN_TOKEN: 'admin-token-for-tests-0123456789'
  })
  const c = client(app, secrets)

  // Data from before accounts: a conversation of 'local' that the admin can claim.
  await database.db.execute(sql`insert into conversations (user_id, title) values (${LOCAL_USER_ID}, 'From before accounts')`)

  const admin = await c.signUp('Admin@Example.com')
  await t.test('the first account is the admin; later sign-ups follow SIGNUP (invite by default)', async (t) => {
    t.equal(admin.res.statusCode, 201)
    t.match(admin.res.json(), { email: 'admin@example.com', role: 'admin', method: 'session', must_change_password: false })
    const second = await c.signUp('someone@example.com')
    t.equal(second.res.statusCode, 403)
    t.match(second.res.json().message, /by invitation/)
    t.notOk(second.cookie, 'no session for a refused sign-up')
    const session = (await c.as(admin.cookie, { url: '/api/auth/session' })).json()
    t.match(session, { mode: 'accounts', password_sign_in: true, single_sign_on: false, can_sign_up: false, user: { role: 'admin' } })
    t.same(session.unclaimed, [{ user_id: LOCAL_USER_ID, conversations: 1 }], 'the admin is offered the data from before accounts')
    t.equal((await app.inject({ url: '/api/auth/session' })).json().user, null, 'signed out: no user')
    t.equal((await app.inject({ url: '/api/conversations' })).statusCode, 401, 'the API needs a session')
  })

  await t.test('bad sign-up input: short password, bad email, unknown fields', async (t) => {
    for (const payload of [{ email: 'x@example.com', password: 'short' }, { email: 'not-an-email', password: PASSWORD }, { email: 'x@example.com', password: PASSWORD, role: 'admin' }]) {
      const res = await app.inject({ method: 'POST', url: '/api/auth/sign-up', headers: { origin: ORIGIN }, payload })
      t.equal(res.statusCode, 400, JSON.stringify(payload))
    }
  })

  await t.test('session cookie: HttpOnly, SameSite=Lax, path /, 30 days; not Secure outside production', async (t) => {
    const cookie = admin.res.cookies.find((x) => x.name === 'llmc_session')!
    t.match(cookie, { httpOnly: true, sameSite: 'Lax', path: '/', maxAge: 30 * 24 * 3600 })
    t.notOk(cookie.secure)
    t.ok(cookie.value.length >= 43, '256 random bits')
    const stored = await queryRows<{ token_hash: string }>(database.db, sql`select token_hash from sessions`)
    t.notOk(stored.some((row) => row.token_hash === cookie.value), 'the table holds no token')
    t.ok(stored.some((row) => row.token_hash === createHash('sha256').update(cookie.value).digest('hex')), 'only its SHA-256')
  })

  let userCookie = ''
  let userId = ''
  await t.test('invite, temporary password, forced change, password change', async (t) => {
    const invited = await c.as(admin.cookie, { method: 'POST', url: '/api/admin/users', payload: { email: 'user@example.com' } })
    t.equal(invited.statusCode, 201)
    const { temporary_password: temporary, user_id } = invited.json()
    userId = user_id
    secrets.add(temporary)
    t.match(temporary, /^[A-Za-z0-9]{16}$/)
    const first = await c.signIn('user@example.com', temporary)
    t.equal(first.res.statusCode, 200)
    t.equal(first.res.json().must_change_password, true)
    const blocked = await c.as(first.cookie, { url: '/api/conversations' })
    t.equal(blocked.statusCode, 403)
    t.equal(blocked.json().code, 'PASSWORD_CHANGE_REQUIRED')
    const wrong = await c.as(first.cookie, { method: 'POST', url: '/api/auth/password', payload: { current_password: 'not it at all', new_password: PASSWORD } })
    t.equal(wrong.statusCode, 403)
    const changed = await c.as(first.cookie, { method: 'POST', url: '/api/auth/password', payload: { current_password: temporary, new_password: PASSWORD } })
    t.equal(changed.statusCode, 200)
    userCookie = c.cookieOf(changed)!
    secrets.add(userCookie)
    t.not(userCookie, first.cookie, 'the session gets a new token')
    t.equal((await c.as(first.cookie, { url: '/api/conversations' })).statusCode, 401, 'the old token is ended')
    t.equal((await c.as(userCookie, { url: '/api/conversations' })).statusCode, 200)
    t.equal((await c.signIn('user@example.com', temporary)).res.statusCode, 401, 'the temporary password no longer works')
  })

  await t.test('wrong password, unknown email and disabled account look the same', async (t) => {
    await app.inject({ method: 'POST', url: '/api/auth/sign-in', headers: { origin: ORIGIN }, payload: { email: 'x', password: 'y' } })
    const disabled = await c.as(admin.cookie, { method: 'POST', url: '/api/admin/users', payload: { email: 'gone@example.com' } })
    const goneId = disabled.json().user_id
    t.equal((await c.as(admin.cookie, { method: 'PATCH', url: `/api/admin/users/${goneId}`, payload: { disabled: true } })).statusCode, 200)
    const answers = [
      await c.signIn('user@example.com', 'the wrong password', '10.0.0.1'),
      await c.signIn('nobody@example.com', PASSWORD, '10.0.0.2'),
      await c.signIn('gone@example.com', disabled.json().temporary_password, '10.0.0.3')
    ]
    const shapes = answers.map(({ res }) => ({ status: res.statusCode, body: { ...res.json(), requestId: undefined }, cookie: res.headers['set-cookie'], auth: res.headers['www-authenticate'] }))
    t.equal(shapes[0]!.status, 401)
    t.same(shapes[1], shapes[0], 'unknown email')
    t.same(shapes[2], shapes[0], 'disabled account')
  })

  await t.test('sign-in throttling: per account and address, then per account; the owner elsewhere still gets in', async (t) => {
    const attacker = '192.0.2.66'
    for (let i = 0; i < 5; i++) t.equal((await c.signIn('user@example.com', `guess number ${i}`, attacker)).res.statusCode, 401)
    const blocked = await c.signIn('user@example.com', PASSWORD, attacker)
    t.equal(blocked.res.statusCode, 429, 'even the right password is refused from that address')
    t.ok(Number(blocked.res.headers['retry-after']) > 0 && Number(blocked.res.headers['retry-after']) <= 15 * 60, 'for at most the 15-minute window')
    t.notOk(blocked.cookie)
    const owner = await c.signIn('user@example.com', PASSWORD, '198.51.100.7')
    t.equal(owner.res.statusCode, 200, 'the owner at another address is not locked out')
    await database.db.execute(sql`update sign_in_failures set window_ends_at = now() - interval '1 second'`)
    t.equal((await c.signIn('user@example.com', PASSWORD, attacker)).res.statusCode, 200, 'the window ends by itself')
    t.equal((await c.signIn('someone@example.com', 'a wrong guess', '203.0.113.9')).res.statusCode, 401)
    const left = await queryRows<{ key: string }>(database.db, sql`select key from sign_in_failures order by key`)
    t.same(left.map((row) => row.key), ['account+address:someone@example.com|203.0.113.9', 'account:someone@example.com', 'address:203.0.113.9'],
      'ended windows are deleted: the table holds only windows still open')
  })

  await t.test('CSRF: cookie writes need this origin', async (t) => {
    const post = (headers: Record<string, string>) =>
      app.inject({ method: 'POST', url: '/api/conversations', headers: { cookie: `llmc_session=${userCookie}`, ...headers }, payload: {} })
    t.equal((await post({ origin: 'https://evil.example' })).statusCode, 403, 'a foreign Origin')
    t.equal((await post({ origin: 'http://localhost:8080' })).statusCode, 403, 'another port is another origin')
    t.equal((await post({ 'sec-fetch-site': 'cross-site' })).statusCode, 403, 'Sec-Fetch-Site cross-site')
    t.equal((await post({})).statusCode, 403, 'neither header (not a browser: use an API key)')
    t.equal((await post({ origin: ORIGIN })).statusCode, 200, 'this origin')
    t.equal((await post({ 'sec-fetch-site': 'same-origin' })).statusCode, 200, 'Sec-Fetch-Site same-origin')
    const read = await app.inject({ url: '/api/conversations', headers: { cookie: `llmc_session=${userCookie}`, origin: 'https://evil.example' } })
    t.equal(read.statusCode, 200, 'reads are not writes (and CORS keeps their answers from other origins)')
    const login = await app.inject({ method: 'POST', url: '/api/auth/sign-in', headers: { origin: 'https://evil.example' }, payload: { email: 'user@example.com', password: PASSWORD } })
    t.equal(login.statusCode, 403, 'sign-in from another site (login CSRF)')
    const logout = await app.inject({ method: 'POST', url: '/api/auth/sign-out', headers: { cookie: `llmc_session=${userCookie}`, origin: 'https://evil.example' } })
    t.equal(logout.statusCode, 403, 'sign-out from another site (logout CSRF)')
    t.equal((await c.as(userCookie, { url: '/api/conversations' })).statusCode, 200, 'the session goes on')
  })

  await t.test('API keys: shown once, hashed at rest, work as Bearer, count against the owner, revoked at once', async (t) => {
    const created = await c.as(userCookie, { method: 'POST', url: '/api/keys', payload: { name: 'my script' } })
    t.equal(created.statusCode, 201)
    const { key, id, prefix } = created.json()
    secrets.add(key)
    t.match(key, /^llmc_[A-Za-z0-9_-]{43}$/)
    t.equal(prefix, key.slice(0, 12))
    const rows = await queryRows<Record<string, unknown>>(database.db, sql`select * from api_keys`)
    t.notOk(JSON.stringify(rows).includes(key.slice(12)), 'the table never holds the key')
    t.ok(rows.some((row) => row.key_hash === createHash('sha256').update(key).digest('hex')))
    const listed = (await c.as(userCookie, { url: '/api/keys' })).json()
    t.same(listed.map((k: { id: string }) => k.id), [id])
    t.notOk(JSON.stringify(listed).includes(key), 'the list never shows the key')
    t.equal(listed[0].last_used_at, null)

    const bearer = { authorization: `Bearer ${key}` }
    const conversation = await app.inject({ method: 'POST', url: '/api/conversations', headers: bearer, payload: {} })
    t.equal(conversation.statusCode, 200, 'a write with a key needs no Origin')
    const asked = await app.inject({ method: 'POST', url: `/api/conversations/${conversation.json().id}/message`, headers: bearer, payload: { content: 'Q?' } })
    t.equal(asked.statusCode, 200)
    t.match((await c.as(userCookie, { url: '/api/usage' })).json(), { daily_used: 1, total_queries: 1 }, "the key's query counts against its owner")
    t.ok((await c.as(userCookie, { url: '/api/keys' })).json()[0].last_used_at, 'last used is recorded')
    t.equal((await c.as(admin.cookie, { method: 'DELETE', url: `/api/keys/${id}` })).statusCode, 404, "another user cannot revoke it")
    t.equal((await c.as(userCookie, { method: 'DELETE', url: `/api/keys/${id}` })).statusCode, 204)
    const refused = await app.inject({ url: '/api/conversations', headers: bearer })
    t.equal(refused.statusCode, 401, 'a revoked key is refused on the next request')
    t.match(refused.json().message, /invalid or revoked API key/)
    t.equal((await app.inject({ url: '/api/conversations', headers: { authorization: 'Bearer llmc_not-a-key' } })).statusCode, 401)
  })

  await t.test('profile: read and change display name, email and preferences', async (t) => {
    const profile = (await c.as(userCookie, { url: '/api/users/profile' })).json()
    t.match(profile, { user_id: userId, email: 'user@example.com', display_name: null, role: 'user', preferences: {} })
    const changed = await c.as(userCookie, { method: 'PATCH', url: '/api/users/profile', payload: { display_name: ' Ursula ', preferences: { default_council: 'fast' } } })
    t.match(changed.json(), { display_name: 'Ursula', preferences: { default_council: 'fast' } })
    const merged = await c.as(userCookie, { method: 'PATCH', url: '/api/users/profile', payload: { preferences: { theme: 'dark', default_council: null } } })
    t.same(merged.json().preferences, { theme: 'dark' }, 'merged; null removes a key')
    t.equal((await c.as(userCookie, { method: 'PATCH', url: '/api/users/profile', payload: { email: 'admin@example.com' } })).statusCode, 409, "another account's email")
    t.equal((await c.as(userCookie, { method: 'PATCH', url: '/api/users/profile', payload: { email: 'User2@Example.com' } })).json().email, 'user2@example.com')
    t.equal((await c.signIn('user2@example.com')).res.statusCode, 200, 'the new email signs in')
    for (const payload of [{}, { display_name: 'x'.repeat(201) }, { preferences: { 'Bad Key': 1 } }, { role: 'admin' }, { email: null }]) {
      t.equal((await c.as(userCookie, { method: 'PATCH', url: '/api/users/profile', payload })).statusCode, 400, JSON.stringify(payload))
    }
  })

  await t.test("isolation: one account sees none of another's data, on every route", async (t) => {
    const mine = (await c.as(admin.cookie, { method: 'POST', url: '/api/conversations', payload: {} })).json().id
    await c.as(admin.cookie, { method: 'POST', url: `/api/conversations/${mine}/message`, payload: { content: 'secret question' } })
    const listed = (await c.as(userCookie, { url: '/api/conversations' })).json()
    t.notOk(listed.some((x: { id: string }) => x.id === mine), 'not listed')
    for (const [method, url, payload] of [
      ['GET', `/api/conversations/${mine}`],
      ['PATCH', `/api/conversations/${mine}/title`, { title: 'mine now' }],
      ['POST', `/api/conversations/${mine}/star`],
      ['POST', `/api/conversations/${mine}/message`, { content: 'x' }],
      ['POST', `/api/conversations/${mine}/message/stream`, { content: 'x' }],
      ['DELETE', `/api/conversations/${mine}`]
    ] as const) {
      t.equal((await c.as(userCookie, { method, url, payload })).statusCode, 404, `${method} ${url}`)
    }
    t.equal((await c.as(admin.cookie, { url: `/api/conversations/${mine}` })).json().messages.length, 2, "the owner's conversation is untouched")
    t.equal((await c.as(userCookie, { url: '/api/usage' })).json().total_queries, 1, 'usage is per account')
    t.notOk(JSON.stringify((await c.as(userCookie, { url: '/api/users/profile' })).json()).includes('admin@example.com'))
  })

  await t.test('admin: list, tier, disable (sessions end at once), self-protection, non-admins refused', async (t) => {
    const list = await c.as(admin.cookie, { url: '/api/admin/users?limit=2' })
    t.equal(list.statusCode, 200)
    t.equal(list.json().length, 2)
    t.ok(list.headers['x-next-cursor'], 'more remain')
    const rest = (await c.as(admin.cookie, { url: `/api/admin/users?limit=200&after=${encodeURIComponent(String(list.headers['x-next-cursor']))}` })).json()
    const everyone = [...list.json(), ...rest]
    const user = everyone.find((u: { user_id: string }) => u.user_id === userId)
    t.match(user, { email: 'user2@example.com', role: 'user', disabled: false, usage: { tier: 'free', daily_used: 1, daily_limit: 5 } })
    t.ok(user.last_active_at)
    t.ok(everyone.some((u: { user_id: string; role: null }) => u.user_id === LOCAL_USER_ID) === false, 'owners without usage rows are not users')

    const tier = await c.as(admin.cookie, { method: 'PATCH', url: `/api/admin/users/${userId}`, payload: { tier: 'pro' } })
    t.match(tier.json(), { usage: { tier: 'pro', daily_limit: 100 } })
    t.equal((await c.as(admin.cookie, { method: 'PATCH', url: `/api/admin/users/${userId}`, payload: { tier: 'gold' } })).statusCode, 400)
    t.equal((await c.as(userCookie, { url: '/api/admin/users' })).statusCode, 403, 'a user is not an admin')
    t.equal((await app.inject({ url: '/api/admin/users' })).statusCode, 401)
    t.equal((await app.inject({ url: '/api/admin/users', headers: { authorization: 'Bearer admin-token-for-tests-0123456789' } })).statusCode, 200, 'ADMIN_TOKEN still works')
    t.equal((await c.as(admin.cookie, { method: 'PATCH', url: `/api/admin/users/${admin.res.json().user_id}`, payload: { disabled: true } })).statusCode, 400, 'an admin cannot disable themselves')

    const keyOfUser = (await c.as(userCookie, { method: 'POST', url: '/api/keys', payload: { name: 'k' } })).json().key
    secrets.add(keyOfUser)
    t.equal((await c.as(admin.cookie, { method: 'PATCH', url: `/api/admin/users/${userId}`, payload: { disabled: true } })).json().disabled, true)
    t.equal((await c.as(userCookie, { url: '/api/conversations' })).statusCode, 401, 'their session ended at once')
    t.equal((await app.inject({ url: '/api/conversations', headers: { authorization: `Bearer ${keyOfUser}` } })).statusCode, 401, 'their keys stop working')
    t.equal((await c.signIn('user2@example.com')).res.statusCode, 401, 'they cannot sign in')
    await c.as(admin.cookie, { method: 'PATCH', url: `/api/admin/users/${userId}`, payload: { disabled: false } })
    t.equal((await app.inject({ url: '/api/conversations', headers: { authorization: `Bearer ${keyOfUser}` } })).statusCode, 200, 'enabled again: the key works')

    const reset = (await c.as(admin.cookie, { method: 'PATCH', url: `/api/admin/users/${userId}`, payload: { reset_password: true } })).json()
    secrets.add(reset.temporary_password)
    t.equal((await c.signIn('user2@example.com', reset.temporary_password)).res.json().must_change_password, true)
  })

  await t.test("claiming 'local' data moves it to the account, in one go", async (t) => {
    const adminId = admin.res.json().user_id
    const claimed = await c.as(admin.cookie, { method: 'PATCH', url: `/api/admin/users/${adminId}`, payload: { claim_from: LOCAL_USER_ID } })
    t.equal(claimed.json().claimed_conversations, 1)
    const titles = (await c.as(admin.cookie, { url: '/api/conversations' })).json().map((x: { title: string }) => x.title)
    t.ok(titles.includes('From before accounts'))
    t.same((await c.as(admin.cookie, { url: '/api/auth/session' })).json().unclaimed, [], 'nothing left to claim')
    t.equal((await c.as(admin.cookie, { method: 'PATCH', url: `/api/admin/users/${adminId}`, payload: { claim_from: userId } })).statusCode, 409, 'an account cannot be claimed')
  })

  await t.test('sign out, and sign out everywhere', async (t) => {
    const one = await c.signIn('admin@example.com')
    const two = await c.signIn('admin@example.com')
    const out = await c.as(one.cookie, { method: 'POST', url: '/api/auth/sign-out' })
    t.equal(out.statusCode, 204)
    t.match(String(out.headers['set-cookie']), /llmc_session=;.*Max-Age=0/)
    t.equal((await c.as(one.cookie, { url: '/api/conversations' })).statusCode, 401, 'a signed-out session is refused on the next request')
    t.equal((await c.as(two.cookie, { url: '/api/conversations' })).statusCode, 200, 'the other session goes on')
    await c.as(two.cookie, { method: 'POST', url: '/api/auth/sign-out', payload: { everywhere: true } })
    t.equal((await c.as(admin.cookie, { url: '/api/conversations' })).statusCode, 401, 'everywhere: every session ended')
  })

  await t.test('sign-in rotates: the session the browser came with ends', async (t) => {
    const first = await c.signIn('admin@example.com')
    const res = await app.inject({ method: 'POST', url: '/api/auth/sign-in', headers: { origin: ORIGIN, cookie: `llmc_session=${first.cookie}` }, payload: { email: 'admin@example.com', password: PASSWORD } })
    secrets.add(c.cookieOf(res)!)
    t.not(c.cookieOf(res), first.cookie)
    t.equal((await c.as(first.cookie, { url: '/api/conversations' })).statusCode, 401)
  })

  t.notOk(logs.some((line) => /password|llmc_session=/i.test(JSON.stringify(line.req ?? ''))), 'requests are logged without credentials')
})

t.test('two sign-ups at once on an empty server: exactly one admin', async (t) => {
  await eachBackend(t, async (t, backend) => {
    const database = await openTestDatabase(t, backend)
    const { app, secrets } = await buildTestApp(t, database, { AUTH_MODE: 'accounts', SIGNUP: 'open' })
    const c = client(app, secrets)
    const made = await Promise.all(Array.from({ length: 8 }, (_, i) => c.signUp(`racer${i}@example.com`)))
    t.same(made.map(({ res }) => res.statusCode), Array(8).fill(201))
    t.equal(made.filter(({ res }) => res.json().role === 'admin').length, 1)
    t.equal((await c.signUp('racer0@example.com')).res.statusCode, 409, 'an email is one account')
  })
})

t.test('sign-ups racing on an empty server with SIGNUP=invite: one account, the admin; the rest refused', async (t) => {
  await eachBackend(t, async (t, backend) => {
    const database = await openTestDatabase(t, backend)
    const { app, secrets } = await buildTestApp(t, database, { AUTH_MODE: 'accounts', SIGNUP: 'invite' })
    const c = client(app, secrets)
    const made = await Promise.all(Array.from({ length: 8 }, (_, i) => c.signUp(`early${i}@example.com`)))
    t.same(made.map(({ res }) => res.statusCode).sort(), [201, 403, 403, 403, 403, 403, 403, 403])
    t.equal(made.find(({ res }) => res.statusCode === 201)!.res.json().role, 'admin')
    t.match(made.find(({ res }) => res.statusCode === 403)!.res.json().message, /sign-up is by invitation/)
    t.same(await queryRows(database.db, sql`select role from accounts`), [{ role: 'admin' }], 'no account was made past the invitation rule')
  })
})

t.test('Secure cookies in production; API keys in jwt and header modes, never in none', async (t) => {
  const database = await openTestDatabase(t, 'pglite')
  const production = await buildTestApp(t, database, {
    NODE_ENV: 'production',
    AUTH_MODE: 'accounts',
    DATABASE_URL: 'postgres://app@127.0.0.1:5432/unused',
    LLM_BASE_URL: 'http://127.0.0.1:9/v1'
  })
  const signedUp = await client(production.app, production.secrets).signUp('prod@example.com')
  t.equal(signedUp.res.cookies.find((x) => x.name === 'llmc_session')!.secure, true)

  const key = await production.app.inject({ method: 'POST', url: '/api/keys', headers: { origin: ORIGIN, cookie: `llmc_session=${signedUp.cookie}` }, payload: { name: 'k' } })
  production.secrets.add(key.json().key)
  const header = await buildTestApp(t, database, { AUTH_MODE: 'header' })
  const bearer = { authorization: `Bearer ${key.json().key}` }
  const asKey = await header.app.inject({ url: '/api/users/profile', headers: bearer })
  t.equal(asKey.json().user_id, signedUp.res.json().user_id, 'header mode: the key signs in as its owner')
  const headerKey = (await header.app.inject({ method: 'POST', url: '/api/keys', headers: { 'x-forwarded-user': 'proxy-user' }, payload: { name: 'mine' } })).json().key
  header.secrets.add(headerKey)
  t.equal((await header.app.inject({ url: '/api/users/profile', headers: { authorization: `Bearer ${headerKey}` } })).json().user_id, 'proxy-user')

  const jwt = await buildTestApp(t, database, { AUTH_MODE: 'jwt', AUTH_JWT_SECRET: 'a-jwt-secret-for-tests-0123456789abcdef' })
  t.equal((await jwt.app.inject({ url: '/api/users/profile', headers: { authorization: `Bearer ${headerKey}` } })).json().user_id, 'proxy-user', 'jwt mode')

  const none = await buildTestApp(t, database, { AUTH_MODE: 'none' })
  t.equal((await none.app.inject({ url: '/api/users/profile', headers: { authorization: `Bearer ${headerKey}` } })).json().user_id, LOCAL_USER_ID, 'none: keys mean nothing, everyone is local')
  t.equal((await none.app.inject({ url: '/api/auth/session' })).json().user.user_id, LOCAL_USER_ID)
})
