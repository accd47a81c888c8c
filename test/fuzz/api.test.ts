import { sql } from 'drizzle-orm'
import fc from 'fast-check'
import { SignJWT } from 'jose'
import t from 'tap'
import { buildTestApp } from '../helpers/app.ts'
import { BACKENDS, openTestDatabase, queryRows } from '../helpers/db.ts'
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
  ['GET', '/api/usage'],
  ['GET', '/api/council'],
  ['PUT', '/api/admin/users/:userId/tier'],
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
  fc.constantFrom('limit', 'before', 'starred', 'sort', '__proto__', 'limit[]', ''),
  fc.oneof(
    anyText.map((text) => encodeURIComponent(text.isWellFormed() ? text : text.toWellFormed())),
    fc.integer().map(String),
    fc.date({ noInvalidDate: false }).chain((date) =>
      fc.uuid().map((id) => Buffer.from(`${Number.isNaN(date.getTime()) ? '2026-02-30T00:00:00.000000Z' : date.toISOString().replace('Z', '000Z')}|${id}`).toString('base64url'))
    ),
    fc.constantFrom('%', '%00', 'true', '0', '201', '-1', '1e3')
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
  fc.constantFrom('x-request-id', 'content-type', 'accept', 'x-forwarded-for', 'origin', 'cookie'),
  fc.oneof(fc.string({ unit: fc.constantFrom(...'ab:;,=/ \t"é'), maxLength: 60 }), fc.constantFrom('x'.repeat(5000), 'application/json; charset=latin1', '*/*')),
  { maxKeys: 2 }
)

async function token(payload: Record<string, unknown>): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: 'HS256' }).sign(KEY)
}

for (const backend of BACKENDS.filter((name) => name !== 'pgbouncer')) {
  t.test(`${backend}: generated requests at every route never get a 5xx, always the error shape, and a refusal writes nothing`, async (t) => {
    const database = await openTestDatabase(t, backend)
    const fake = await startFakeLlm(t, wellBehaved)
    const { app } = await buildTestApp(t, database, {
      AUTH_MODE: 'jwt',
      AUTH_JWT_SECRET: SECRET,
      ADMIN_TOKEN,
      LLM_BASE_URL: fake.baseUrl,
      COUNCIL_MODELS: 'm/one,m/two',
      CHAIRMAN_MODEL: 'm/chair',
      TITLE_MODEL: 'm/title',
      USAGE_LIMITS: 'free:100000/100000,pro:unlimited,enterprise:unlimited'
    })
    const valid = `Bearer ${await token({ sub: 'fuzzer' })}`
    const create = async () => (await app.inject({ method: 'POST', url: '/api/conversations', headers: { authorization: valid } })).json().id as string
    let ownId = await create()
    const state = async () =>
      JSON.stringify(
        await queryRows(
          database.db,
          sql`select (select count(*) from conversations) as c, (select count(*) from messages) as m,
            (select md5(coalesce(string_agg(id::text || title || starred::text || message_count::text, ',' order by id), '')) from conversations) as cs,
            (select md5(coalesce(string_agg(user_id || tier || daily_used::text || coalesce(daily_limit::text, '-'), ',' order by user_id), '')) from usage) as us`
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
          const path = template.replace(':id', param === OWN ? ownId : param).replace(':userId', param === OWN ? 'fuzzer' : param)
          const search = Object.entries(query).map(([key, value]) => `${encodeURIComponent(key)}=${value}`).join('&')
          const headers: Record<string, string> = { ...extra }
          if (credential.kind === 'valid') headers.authorization = valid
          else if (credential.kind === 'raw') headers.authorization = credential.header
          else headers.authorization = `Bearer ${await token(credential.payload as Record<string, unknown>)}`
          if (sent) headers['content-type'] = sent.type
          const before = await state()
          const res = await app.inject({ method, url: search ? `${path}?${search}` : path, headers, payload: sent?.text })
          statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)
          if (method === 'DELETE' && res.statusCode === 204 && param === OWN) ownId = await create()
          if (res.statusCode >= 500) throw new Error(`${method} ${path}: ${res.statusCode} ${res.body.slice(0, 300)}`)
          if (res.statusCode >= 400) {
            const error = res.json()
            if (error.statusCode !== res.statusCode || typeof error.error !== 'string' || typeof error.message !== 'string' || typeof error.requestId !== 'string') {
              throw new Error(`${method} ${path}: not the error shape: ${res.body.slice(0, 300)}`)
            }
            if (res.headers['x-request-id'] !== error.requestId) throw new Error(`${method} ${path}: x-request-id header differs from the body's`)
            if ((await state()) !== before) throw new Error(`${method} ${path}: a ${res.statusCode} changed the database`)
          }
        }
      ),
      { seed: FUZZ.seed, numRuns: FUZZ.runs(1500), endOnFailure: true }
    )
    fuzzReport(t, `${backend} API`, cases, statuses)
  })
}
