import { sql } from 'drizzle-orm'
import fc from 'fast-check'
import { SignJWT } from 'jose'
import t, { type Test } from 'tap'
import { buildTestApp } from '../helpers/app.ts'
import { hashPassword } from '../../src/services/passwords.ts'
import { BACKENDS, type BackendName, openTestDatabase, queryRows } from '../helpers/db.ts'
import { startFakeLlm, wellBehaved } from '../helpers/fake-llm.ts'
import { FUZZ, fuzzReport } from '../helpers/fuzz.ts'

// Generated requests at every route: bodies, query strings, path parameters, headers and JWT claims.
// Whatever is sent, the server answers below 500, in its error shape with a request id, and a request
// it refuses writes nothing.

const SECRET = 'a-fuzzing-secret-that-is-long-enough-for-hs256'
const KEY = new TextEncoder().encode(SECRET)
const ADMIN_TOKEN = 'fuzz-admin-token'

const ROUTES = [
  ['GET', '/api/conversations'],
  ['POST', '/api/conversations'],
  ['GET', '/api/conversations/:id'],
  ['PATCH', '/api/conversations/:id/title'],
  ['POST', '/api/conversations/:id/star'],
  ['DELETE', '/api/conversations/:id'],
  ['POST', '/api/conversations/:id/message'],
  ['POST', '/api/conversations/:id/message/stream'],
  ['POST', '/api/conversations/:id/follow-up'],
  ['PATCH', '/api/conversations/:id/council'],
  ['POST', '/api/conversations/:id/messages/:position/retry'],
  ['GET', '/api/conversations/:id/runs/:runId'],
  ['GET', '/api/conversations/:id/runs/:runId/events'],
  ['POST', '/api/conversations/:id/runs/:runId/cancel'],
  ['GET', '/api/search'],
  ['GET', '/api/conversations/:id/export'],
  ['POST', '/api/conversations/:id/shares'],
  ['GET', '/api/conversations/:id/shares'],
  ['DELETE', '/api/shares/:shareId'],
  ['GET', '/api/shared/:token'],
  ['GET', '/s/:token'],
  ['GET', '/api/usage'],
  ['GET', '/api/council'],
  ['PUT', '/api/admin/users/:userId/tier'],
  ['GET', '/api/admin/users'],
  ['POST', '/api/admin/users'],
  ['PATCH', '/api/admin/users/:userId'],
  ['GET', '/api/users/profile'],
  ['PATCH', '/api/users/profile'],
  ['GET', '/api/keys'],
  ['POST', '/api/keys'],
  ['DELETE', '/api/keys/:id'],
  ['GET', '/api/auth/session'],
  ['POST', '/api/auth/sign-up'],
  ['POST', '/api/auth/sign-in'],
  ['POST', '/api/auth/sign-out'],
  ['POST', '/api/auth/password'],
  ['GET', '/healthz'],
  ['GET', '/readyz'],
  ['GET', '/'],
  ['GET', '/c/:id']
] as const

/** Text of every kind: any code unit (lone surrogates, NUL, controls), whole code points, or long. */
const anyText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: fc.constantFrom('\u0000', '\ud800', '\udfff', '😀', '\u202e', '%', '/', '\\', '"', '.', ' '), maxLength: 20 }),
  fc.constantFrom('', ' ', 'x'.repeat(129), 'x'.repeat(600), 'y'.repeat(33_000))
)

// Stands for the fuzzer's own conversation (made again whenever a generated DELETE removes it).
const OWN = '\u0000own'

/** A path parameter: the caller's conversation, another valid id, or anything, percent-encoded or broken. */
const pathParam = fc.oneof(
    { arbitrary: fc.constant(OWN), weight: 3 },
    { arbitrary: fc.uuid(), weight: 1 },
    { arbitrary: anyText.map((text) => encodeURIComponent(text.isWellFormed() ? text : text.toWellFormed())), weight: 1 },
    { arbitrary: fc.constantFrom('%', '%E0%A4%A', '%ED%A0%80', '..', '%2e%2e', 'x'.repeat(2000), '%00', 'legacy-1'), weight: 1 }
)

const deep = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`
const jsonish: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.record({ content: fc.oneof(anyText, fc.jsonValue({ maxDepth: 2 })) }),
  fc.record({ title: fc.oneof(anyText, fc.jsonValue({ maxDepth: 2 })) }),
  fc.record({ tier: fc.oneof(anyText, fc.constantFrom('pro', 'free', 'PRO', 'enterprise')) }),
  fc.record({ preset: fc.oneof(anyText, fc.constantFrom('default', 'nope')), models: fc.oneof(fc.array(anyText, { maxLength: 10 }), fc.jsonValue({ maxDepth: 1 })), chairman: anyText, stage2: fc.jsonValue({ maxDepth: 1 }) }, { requiredKeys: [] }),
  fc.record({ council: fc.record({ preset: anyText, models: fc.array(fc.constantFrom('m/one', 'm/two', 'evil/model'), { maxLength: 4 }) }, { requiredKeys: [] }) }),
  fc.record({ email: fc.oneof(anyText, fc.emailAddress()), password: fc.oneof(anyText, fc.constant('a long enough password')) }, { requiredKeys: [] }),
  fc.record({ name: anyText, display_name: fc.oneof(anyText, fc.constant(null)), preferences: fc.dictionary(anyText, fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }) }, { requiredKeys: [] }),
  fc.record({ disabled: fc.jsonValue({ maxDepth: 1 }), role: anyText, reset_password: fc.jsonValue({ maxDepth: 1 }), claim_from: anyText, current_password: anyText, new_password: anyText, everywhere: fc.jsonValue({ maxDepth: 1 }) }, { requiredKeys: [] }),
  fc.dictionary(anyText, anyText, { maxKeys: 3 })
)
/** A body as sent on the wire: JSON of anything (lone surrogates escaped), deep, broken, or not JSON. */
const body = fc.oneof(
  jsonish.map((value) => ({ type: 'application/json', text: JSON.stringify(value) ?? 'null' })),
  fc.constantFrom(deep(10_000), deep(33), `{"content":${deep(40)}}`, '{"content": "\\ud800"}', '{"title":"\\udc00x"}', '{', '{"content":"x"', '\u0000', '').map((text) => ({ type: 'application/json', text })),
  anyText.map((text) => ({ type: 'text/plain', text })),
  fc.constant(undefined)
)

const queryString = fc.dictionary(
  fc.constantFrom('limit', 'before', 'after', 'starred', 'sort', '__proto__', 'limit[]', '', 'q', 'q', 'format'),
  fc.oneof(
    anyText.map((text) => encodeURIComponent(text.isWellFormed() ? text : text.toWellFormed())),
    fc.integer().map(String),
    fc.date({ noInvalidDate: false }).chain((date) =>
      fc.uuid().map((id) => Buffer.from(`${Number.isNaN(date.getTime()) ? '2026-02-30T00:00:00.000000Z' : date.toISOString().replace('Z', '000Z')}|${id}`).toString('base64url'))
    ),
    fc.constantFrom('%', '%00', 'true', '0', '201', '-1', '1e3', 'md', 'json', '%22a%20phrase%22%20-not%20or%20x', '0.YWJj')
  ),
  { maxKeys: 3 }
)

/** JWT claims of every type (a `sub` that is a string, a number, an array, an object, null, true...). */
const claims = fc.record(
  {
    sub: fc.oneof(anyText, fc.jsonValue({ maxDepth: 2 })),
    exp: fc.oneof(fc.integer(), fc.constant(Math.floor(Date.now() / 1000) + 3600), fc.string()),
    aud: fc.oneof(fc.string(), fc.array(fc.string(), { maxLength: 2 }))
  },
  { requiredKeys: [] }
)

// Most requests carry valid credentials, so that most of them reach the routes behind authentication.
const credentials = fc.oneof(
  { arbitrary: claims.map((payload) => ({ kind: 'jwt' as const, payload })), weight: 1 },
  { arbitrary: fc.constantFrom('', 'Bearer', 'Bearer ', 'Basic Zm9vOmJhcg==', `Bearer ${ADMIN_TOKEN}`, 'Bearer a.b.c', 'bearer  x y').map((header) => ({ kind: 'raw' as const, header })), weight: 1 },
  { arbitrary: fc.constant({ kind: 'valid' as const }), weight: 4 }
)

const extraHeaders = fc.dictionary(
  fc.constantFrom('x-request-id', 'content-type', 'accept', 'x-forwarded-for', 'origin', 'cookie', 'idempotency-key', 'last-event-id'),
  fc.oneof(fc.string({ unit: fc.constantFrom(...'ab:;,=/ \t"é'), maxLength: 60 }), fc.constantFrom('x'.repeat(5000), 'application/json; charset=latin1', '*/*')),
  { maxKeys: 2 }
)

async function token(payload: Record<string, unknown>): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: 'HS256' }).sign(KEY)
}

type Mode = 'jwt' | 'accounts'
const ORIGIN = 'http://localhost:80'
const PASSWORD = 'a long enough password'
// Routes whose success can end or change the fuzzer's own session (sign-out, a password change, an admin's changes to itself).
const SESSION_CHANGING = new Set(['/api/auth/sign-out', '/api/auth/password', '/api/admin/users/:userId', '/api/users/profile', '/api/auth/sign-in', '/api/auth/sign-up'])

for (const backend of BACKENDS.filter((name) => name !== 'pgbouncer')) {
  for (const mode of ['jwt', 'accounts'] as Mode[]) {
    t.test(`${backend}, ${mode}: generated requests at every route never get a 5xx, always the error shape, and a refusal writes nothing`, async (t) => {
      await fuzzRoutes(t, backend, mode)
    })
  }
}

async function fuzzRoutes(t: Test, backend: BackendName, mode: Mode): Promise<void> {
    const database = await openTestDatabase(t, backend)
    const fake = await startFakeLlm(t, wellBehaved)
    const { app } = await buildTestApp(t, database, {
      ...(mode === 'jwt' ? { AUTH_MODE: 'jwt', AUTH_JWT_SECRET: SECRET } : { AUTH_MODE: 'accounts', SIGNUP: 'open' }),
      ADMIN_TOKEN,
      LLM_BASE_URL: fake.baseUrl,
      COUNCIL_MODELS: 'm/one,m/two',
      CHAIRMAN_MODEL: 'm/chair',
      TITLE_MODEL: 'm/title',
      USAGE_LIMITS: 'free:100000/100000,pro:unlimited,enterprise:unlimited'
    })
    // The fuzzer's own credentials: a JWT, or (accounts) the admin's session cookie sent from the page's origin.
    let validHeaders: Record<string, string> = {}
    let fuzzerId = 'fuzzer'
    const signIn = async () => {
      if (mode === 'jwt') {
        validHeaders = { authorization: `Bearer ${await token({ sub: 'fuzzer' })}` }
        return
      }
      await database.db.execute(sql`update accounts set email = 'fuzzer@example.com', disabled_at = null, must_change_password = false, role = 'admin', password_hash = ${await hashPassword(PASSWORD)} where user_id = ${fuzzerId}`)
      const res = await app.inject({ method: 'POST', url: '/api/auth/sign-in', headers: { origin: ORIGIN }, payload: { email: 'fuzzer@example.com', password: PASSWORD } })
      validHeaders = { cookie: `llmc_session=${res.cookies.find((c) => c.name === 'llmc_session')!.value}`, origin: ORIGIN }
    }
    if (mode === 'accounts') {
      const res = await app.inject({ method: 'POST', url: '/api/auth/sign-up', headers: { origin: ORIGIN }, payload: { email: 'fuzzer@example.com', password: PASSWORD } })
      fuzzerId = res.json().user_id
    }
    await signIn()
    const create = async () => (await app.inject({ method: 'POST', url: '/api/conversations', headers: validHeaders })).json().id as string
    let ownId = await create()
    const state = async () =>
      JSON.stringify(
        await queryRows(
          database.db,
          sql`select (select count(*) from conversations) as c, (select count(*) from messages) as m,
            (select md5(coalesce(string_agg(id::text || title || starred::text || message_count::text || coalesce(council::text, '-'), ',' order by id), '')) from conversations) as cs,
            (select md5(coalesce(string_agg(user_id || tier || daily_used::text || coalesce(daily_limit::text, '-'), ',' order by user_id), '')) from usage) as us,
            (select md5(coalesce(string_agg(user_id || coalesce(email, '-') || role || coalesce(disabled_at::text, '-') || coalesce(password_hash, '-'), ',' order by user_id), '')) from accounts) as ac,
            (select count(*) from api_keys) as k, (select count(*) from sessions) as se, (select count(*) from runs) as r, (select count(*) from shares) as sh,
            (select md5(coalesce(string_agg(user_id || coalesce(display_name, '-') || preferences::text, ',' order by user_id), '')) from user_profiles) as pr`
        )
      )

    let cases = 0
    const statuses = new Map<number, number>()
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...ROUTES),
        pathParam,
        queryString,
        body,
        credentials,
        extraHeaders,
        async ([method, template], param, query, sent, credential, extra) => {
          cases++
          // The fuzzer's own conversation's latest run, when it has one.
          const [run] = template.includes(':runId') && param === OWN ? await queryRows<{ id: string }>(database.db, sql`select id from runs where conversation_id = ${ownId} order by created_at desc limit 1`) : []
          // ...and its latest share link.
          const [share] = /:shareId|:token/.test(template) && param === OWN ? await queryRows<{ id: string; token: string }>(database.db, sql`select id, token from shares where conversation_id = ${ownId} order by created_at desc limit 1`) : []
          const path = template
            .replace(':runId', param === OWN ? (run?.id ?? '00000000-0000-4000-8000-000000000000') : param)
            .replace(':shareId', param === OWN ? (share?.id ?? '00000000-0000-4000-8000-000000000000') : param)
            .replace(':token', param === OWN ? (share?.token ?? 'x'.repeat(43)) : param)
            .replace(':id', param === OWN ? ownId : param)
            .replace(':userId', param === OWN ? fuzzerId : param)
            .replace(':position', param === OWN ? '1' : param)
          const search = Object.entries(query).map(([key, value]) => `${encodeURIComponent(key)}=${value}`).join('&')
          const headers: Record<string, string> = { ...extra }
          if (credential.kind === 'valid') Object.assign(headers, validHeaders, extra.origin ? { origin: extra.origin } : {})
          else if (credential.kind === 'raw') headers.authorization = credential.header
          else headers.authorization = `Bearer ${await token(credential.payload as Record<string, unknown>)}`
          if (sent) headers['content-type'] = sent.type
          const before = await state()
          const res = await app.inject({ method, url: search ? `${path}?${search}` : path, headers, payload: sent?.text })
          statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)
          if (method === 'DELETE' && res.statusCode === 204 && param === OWN && template.startsWith('/api/conversations')) ownId = await create()
          if (res.statusCode >= 500) throw new Error(`${method} ${path}: ${res.statusCode} ${res.body.slice(0, 300)}`)
          // A shared page that is not (or no longer) shared is a 404 page, not JSON.
          const sharedPage = template === '/s/:token' && res.statusCode === 404 && String(res.headers['content-type']).startsWith('text/html')
          if (sharedPage && (await state()) !== before) throw new Error(`${method} ${path}: a 404 page changed the database`)
          if (res.statusCode >= 400 && !sharedPage) {
            const error = res.json()
            if (error.statusCode !== res.statusCode || typeof error.error !== 'string' || typeof error.message !== 'string' || typeof error.requestId !== 'string') {
              throw new Error(`${method} ${path}: not the error shape: ${res.body.slice(0, 300)}`)
            }
            if (res.headers['x-request-id'] !== error.requestId) throw new Error(`${method} ${path}: x-request-id header differs from the body's`)
            if ((await state()) !== before) throw new Error(`${method} ${path}: a ${res.statusCode} changed the database`)
          } else if (SESSION_CHANGING.has(template)) {
            await signIn()
          }
        }
      ),
      { seed: FUZZ.seed, numRuns: FUZZ.runs(mode === 'jwt' ? 1500 : 1000), endOnFailure: true }
    )
    fuzzReport(t, `${backend} ${mode} API`, cases, statuses)
}
