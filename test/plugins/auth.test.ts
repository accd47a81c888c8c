import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { SignJWT, exportJWK, generateKeyPair } from 'jose'
import t from 'tap'
import { buildTestApp } from '../helpers/app.ts'
import { openTestDatabase } from '../helpers/db.ts'
import { rawRequest } from '../helpers/raw-http.ts'

const SECRET = 'a-test-secret-that-is-long-enough-for-hs256'

const database = await openTestDatabase(t, 'pglite')

async function listAs(app: Awaited<ReturnType<typeof buildTestApp>>['app'], headers: Record<string, string>) {
  return app.inject({ url: '/api/conversations', headers })
}

t.test('AUTH_MODE=none: everyone is the local user', async (t) => {
  const { app } = await buildTestApp(t, database)
  const created = await app.inject({ method: 'POST', url: '/api/conversations' })
  t.equal(created.statusCode, 200)
  const list = await listAs(app, { 'x-forwarded-user': 'someone-else' })
  t.ok(list.json().some((c: { id: string }) => c.id === created.json().id), 'headers do not change who you are')
})

t.test('AUTH_MODE=header', async (t) => {
  const { app } = await buildTestApp(t, database, { AUTH_MODE: 'header', AUTH_HEADER: 'X-Auth-User' })
  t.equal((await listAs(app, {})).statusCode, 401)
  t.equal((await listAs(app, { 'x-auth-user': '' })).statusCode, 401)
  t.equal((await listAs(app, { 'x-auth-user': 'x'.repeat(129) })).statusCode, 401, 'user ids over 128 characters')
  t.equal((await listAs(app, { 'x-auth-user': 'carol' })).statusCode, 200)
  const twice = await rawRequest(app, ['GET /api/conversations HTTP/1.1', 'Host: x', 'X-Auth-User: carol', 'x-auth-user: mallory'])
  t.match(JSON.parse(twice.body), { statusCode: 401, message: 'x-auth-user header given more than once' }, 'a repeated identity header is refused, not joined')
  t.equal((await app.inject({ url: '/healthz' })).statusCode, 200, 'health checks need no credentials')
})

t.test('AUTH_MODE=jwt with an HS256 secret', async (t) => {
  const { app, logs } = await buildTestApp(t, database, {
    AUTH_MODE: 'jwt',
    AUTH_JWT_SECRET: SECRET,
    AUTH_JWT_ISSUER: 'https://issuer.test',
    AUTH_JWT_AUDIENCE: 'council'
  })
  const key = new TextEncoder().encode(SECRET)
  const sign = (claims: { sub?: string; iss?: string; aud?: string; exp?: string | number }, secret = key) => {
    let jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuedAt()
    if (claims.sub) jwt = jwt.setSubject(claims.sub)
    jwt = jwt.setIssuer(claims.iss ?? 'https://issuer.test').setAudience(claims.aud ?? 'council')
    jwt = jwt.setExpirationTime(claims.exp ?? '1h')
    return jwt.sign(secret)
  }
  const bearer = async (token: Promise<string> | string) => ({ authorization: `Bearer ${await token}` })

  const dave = await bearer(sign({ sub: 'dave' }))
  const created = await app.inject({ method: 'POST', url: '/api/conversations', headers: dave })
  t.equal(created.statusCode, 200)
  const eve = await bearer(sign({ sub: 'eve' }))
  t.equal((await app.inject({ url: `/api/conversations/${created.json().id}`, headers: eve })).statusCode, 404, 'sub is the user id')
  t.equal((await app.inject({ url: `/api/conversations/${created.json().id}`, headers: dave })).statusCode, 200)

  const rejected: [string, Record<string, string>][] = [
    ['no token', {}],
    ['not a bearer token', { authorization: 'Basic Zm9vOmJhcg==' }],
    ['garbage', { authorization: 'Bearer not.a.jwt' }],
    ['wrong secret', await bearer(sign({ sub: 'dave' }, new TextEncoder().encode('another-secret-another-secret-xx')))],
    ['expired', await bearer(sign({ sub: 'dave', exp: Math.floor(Date.now() / 1000) - 60 }))],
    ['wrong issuer', await bearer(sign({ sub: 'dave', iss: 'https://evil.test' }))],
    ['wrong audience', await bearer(sign({ sub: 'dave', aud: 'other' }))],
    ['no sub', await bearer(sign({}))],
    ...(await Promise.all(
      [['alice'], 5, { id: 'alice' }, true, null, '', 'x'.repeat(129), 'dave\ud800', '\udc00dave', 'tab\tchar'].map(async (sub) => {
        const token = await new SignJWT({ sub } as never).setProtectedHeader({ alg: 'HS256' }).setIssuer('https://issuer.test').setAudience('council').setExpirationTime('1h').sign(key)
        return [`sub ${JSON.stringify(sub)}`, await bearer(token)] as [string, Record<string, string>]
      })
    ))
  ]
  for (const [name, headers] of rejected) {
    const res = await listAs(app, headers)
    t.equal(res.statusCode, 401, name)
    t.match(res.json(), { statusCode: 401, error: 'Unauthorized', requestId: String }, `${name}: JSON`)
  }
  t.notMatch(JSON.stringify(logs), SECRET, 'the secret is never logged')
  t.notMatch(JSON.stringify(logs), dave.authorization.slice(7), 'tokens are never logged')
})

t.test('AUTH_MODE=jwt with a JWKS URL (RS256)', async (t) => {
  const { privateKey, publicKey } = await generateKeyPair('RS256')
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }
  const server = createServer((_req, res) => {
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ keys: [jwk] }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => server.close())
  const { port } = server.address() as AddressInfo
  const { app } = await buildTestApp(t, database, {
    AUTH_MODE: 'jwt',
    AUTH_JWKS_URL: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    AUTH_JWT_ISSUER: 'https://securetoken.test/project',
    AUTH_JWT_AUDIENCE: 'project'
  })
  const token = await new SignJWT({})
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .setSubject('firebase-uid-frank')
    .setIssuer('https://securetoken.test/project')
    .setAudience('project')
    .setExpirationTime('1h')
    .sign(privateKey)
  t.equal((await listAs(app, { authorization: `Bearer ${token}` })).statusCode, 200)
  const forged = await new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('firebase-uid-frank')
    .setIssuer('https://securetoken.test/project')
    .setAudience('project')
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode('guessable-secret-guessable-secret'))
  t.equal((await listAs(app, { authorization: `Bearer ${forged}` })).statusCode, 401, 'an HS256 token is refused when only JWKS is set')
})
