import t from 'tap'
import { ConfigError, DEFAULT_COUNCIL_MODELS, DEMO_COUNCIL, loadConfig, parseUsageLimits } from '../src/config.ts'

t.test('development defaults: embedded database, demo council, local user', async (t) => {
  const config = loadConfig({})
  t.match(config, {
    env: 'development',
    port: 3000,
    host: '127.0.0.1',
    trustProxy: false,
    database: { kind: 'pglite', dir: /data\/pglite$/ },
    auth: { mode: 'none' },
    adminToken: null,
    llm: { provider: 'demo', councilModels: DEMO_COUNCIL, chairmanModel: 'demo/chair', timeoutMs: 120000 },
    db: { poolMax: 15, prepare: true, connectTimeoutMs: 5000, statementTimeoutMs: 30000, slowQueryMs: 1000, startupTimeoutMs: 120000 },
    bodyLimit: 1048576,
    rateLimitMax: 600,
    shutdownGraceMs: 30000
  })
  t.equal(loadConfig({ PGLITE_DIR: 'memory://' }).database.kind, 'pglite')
})

t.test("a single person's own server (AUTH_MODE=none) is not capped unless USAGE_LIMITS is set", async (t) => {
  const own = loadConfig({})
  const open = { daily: null, monthly: null, monthlyCost: null }
  t.same([...own.usageLimits], [['free', open], ['pro', open], ['enterprise', open]])
  const capped = loadConfig({ USAGE_LIMITS: 'free:3/30' })
  t.same(capped.usageLimits.get('free'), { daily: 3, monthly: 30, monthlyCost: null }, 'set explicitly, the limits apply')
  const team = loadConfig({ AUTH_MODE: 'header' })
  t.same(team.usageLimits.get('free'), { daily: 10, monthly: 100, monthlyCost: null }, 'with users, the default limits apply')
  t.same(team.usageLimits.get('enterprise'), open)
})

t.test('production defaults and the provider choice', async (t) => {
  const production = loadConfig({
    NODE_ENV: 'production',
    DATABASE_URL: 'postgresql://u:p@db.internal:6543/app',
    DIRECT_DATABASE_URL: 'postgres://u:p@db.internal:5432/app',
    AUTH_MODE: 'header',
    OPENROUTER_API_KEY: 'k'
  })
  t.equal(production.host, '0.0.0.0')
  t.match(production.database, { kind: 'postgres', migrationUrl: /5432/, fallbackDir: null })
  t.equal(production.llm.provider, 'openai')
  t.same(production.llm.councilModels, DEFAULT_COUNCIL_MODELS, "llm-council's models by default")
  t.equal(loadConfig({ LLM_BASE_URL: 'http://127.0.0.1:11434/v1/' }).llm.provider, 'openai', 'a local API needs no key')
  t.equal(loadConfig({ LLM_BASE_URL: 'http://127.0.0.1:11434/v1/' }).llm.baseUrl, 'http://127.0.0.1:11434/v1')
  t.equal(loadConfig({ OPENROUTER_API_KEY: 'k' }).llm.provider, 'openai')
  t.equal(loadConfig({ DATABASE_URL: 'postgres://h/db' }).database.kind, 'postgres')
})

t.test('production refuses a short AUTH_JWT_SECRET and a keyless hosted API however its URL is spelled', async (t) => {
  const base = { NODE_ENV: 'production', DATABASE_URL: 'postgres://h/db', AUTH_MODE: 'jwt', OPENROUTER_API_KEY: 'k' }
  t.throws(() => loadConfig({ ...base, AUTH_JWT_SECRET: 'x'.repeat(31) }), { name: 'ConfigError', message: /^AUTH_JWT_SECRET must be at least 32 bytes in production/ })
  t.equal(loadConfig({ ...base, AUTH_JWT_SECRET: 'x'.repeat(32) }).auth.mode, 'jwt')
  t.equal(loadConfig({ ...base, NODE_ENV: 'development', AUTH_JWT_SECRET: 'short' }).auth.mode, 'jwt', 'development allows a short one')
  for (const url of ['HTTPS://OpenRouter.AI/api/v1', 'https://openrouter.ai/api/v1/']) {
    t.throws(() => loadConfig({ ...base, AUTH_JWT_SECRET: 'x'.repeat(32), OPENROUTER_API_KEY: '', LLM_BASE_URL: url }), { message: /^OPENROUTER_API_KEY is required/ }, url)
  }
})

t.test('values are converted and checked; errors name the variable, never the value', async (t) => {
  const config = loadConfig({ PORT: '8080', DB_PREPARE: 'false', TRUST_PROXY: '2', COUNCIL_MODELS: ' a/b , c/d ,', CORS_ORIGINS: 'https://a.test,https://b.test' })
  t.equal(config.port, 8080)
  t.equal(config.db.prepare, false)
  t.type(config.trustProxy, 'function', 'a hop count is given to Fastify as its function form (its number form trusts no hop)')
  t.same(config.llm.councilModels, ['a/b', 'c/d'])
  t.same(config.corsOrigins, ['https://a.test', 'https://b.test'])
  t.equal(loadConfig({ TRUST_PROXY: '10.0.0.0/8' }).trustProxy, '10.0.0.0/8')
  t.equal(loadConfig({ TRUST_PROXY: 'true' }).trustProxy, true)
  t.equal(loadConfig({ PORT: '' }).port, 3000, 'an empty variable counts as unset')

  t.throws(() => loadConfig({ PORT: 'eighty' }), { name: 'ConfigError', message: /^PORT is invalid/ })
  t.throws(() => loadConfig({ AUTH_MODE: 'magic' }), /AUTH_MODE is invalid/)
  t.throws(() => loadConfig({ DATABASE_URL: 'not a url' }), /DATABASE_URL is malformed/)
  t.throws(() => loadConfig({ DATABASE_URL: 'postgres://h/db', DIRECT_DATABASE_URL: 'http://h' }), /DIRECT_DATABASE_URL is malformed/)
  t.throws(() => loadConfig({ AUTH_MODE: 'jwt' }), /AUTH_JWT_SECRET/)
  t.throws(() => loadConfig({ AUTH_MODE: 'jwt', AUTH_JWKS_URL: 'nope' }), /AUTH_JWKS_URL is malformed/)
  t.throws(() => loadConfig({ LLM_BASE_URL: 'nope' }), /LLM_BASE_URL is malformed/)
  try {
    loadConfig({ DB_POOL_MAX: 'secret-value' })
  } catch (error) {
    t.ok(error instanceof ConfigError)
    t.notMatch((error as Error).message, 'secret-value')
  }
})

t.test('USAGE_LIMITS', async (t) => {
  const limits = parseUsageLimits('free:5/50, PRO:unlimited/1000/$20,team:20/unlimited,vip:unlimited/$0.5')
  t.same(Object.fromEntries(limits), {
    free: { daily: 5, monthly: 50, monthlyCost: null },
    pro: { daily: null, monthly: 1000, monthlyCost: 20 },
    team: { daily: 20, monthly: null, monthlyCost: null },
    vip: { daily: null, monthly: null, monthlyCost: 0.5 }
  })
  t.throws(() => parseUsageLimits('free:10'), /USAGE_LIMITS entry "free:10" is malformed/)
  t.throws(() => parseUsageLimits('free:1/2/20'), /malformed: expected .* optionally followed by \/\$budget/)
  t.throws(() => parseUsageLimits('free:1/2/$-1'), /malformed/)
  t.throws(() => parseUsageLimits('pro:1/2'), /must define the free tier/)
})

t.test('council settings: presets, allowed models, context budget, quorum, self-votes', async (t) => {
  const base = { COUNCIL_MODELS: 'a/one,b/two', CHAIRMAN_MODEL: 'c/chair', OPENROUTER_API_KEY: 'k' }
  const plain = loadConfig(base).llm
  t.same([...plain.presets.keys()], ['default'])
  t.same(plain.presets.get('default'), { name: 'default', models: ['a/one', 'b/two'], chairman: 'c/chair', systemPrompt: null, stage2: true, description: null })
  t.same(plain.allowedModels, ['a/one', 'b/two', 'c/chair'], 'the default council is always allowed')
  t.equal(plain.contextChars, 48000)
  t.equal(plain.minAnswers, 1)
  t.equal(plain.excludeSelfVotes, true)

  const presets = JSON.stringify({
    fast: { models: ['d/quick'], chairman: 'd/quick', stage2: false, system_prompt: 'Be brief.', description: 'One quick model' },
    default: { models: ['a/one', 'e/five'], chairman: 'a/one' }
  })
  const chosen = loadConfig({ ...base, COUNCIL_PRESETS: presets, ALLOWED_MODELS: 'x/extra, y/other', COUNCIL_CONTEXT_CHARS: '1000', COUNCIL_EXCLUDE_SELF_VOTES: 'false' }).llm
  t.same([...chosen.presets.keys()], ['default', 'fast'])
  t.same(chosen.councilModels, ['a/one', 'e/five'], 'a preset named default replaces COUNCIL_MODELS')
  t.same(chosen.presets.get('fast'), { name: 'fast', models: ['d/quick'], chairman: 'd/quick', systemPrompt: 'Be brief.', stage2: false, description: 'One quick model' })
  t.same([...chosen.allowedModels].sort(), ['a/one', 'd/quick', 'e/five', 'x/extra', 'y/other'])
  t.equal(chosen.contextChars, 1000)
  t.equal(chosen.excludeSelfVotes, false)

  t.throws(() => loadConfig({ ...base, COUNCIL_PRESETS: '{nope' }), /COUNCIL_PRESETS is malformed: expected a JSON object/)
  t.throws(() => loadConfig({ ...base, COUNCIL_PRESETS: '[]' }), /COUNCIL_PRESETS is malformed/)
  t.throws(() => loadConfig({ ...base, COUNCIL_PRESETS: '{"x y":{"models":["a"],"chairman":"a"}}' }), /the name "x y" is malformed/)
  t.throws(() => loadConfig({ ...base, COUNCIL_PRESETS: '{"x":{"models":[],"chairman":"a"}}' }), /preset "x"\/models/)
  t.throws(() => loadConfig({ ...base, COUNCIL_PRESETS: '{"x":{"models":["a"],"chairman":"a","extra":1}}' }), /preset "x"/)
  t.throws(() => loadConfig({ ...base, COUNCIL_MIN_ANSWERS: '3' }), /COUNCIL_MIN_ANSWERS \(3\) is more than preset "default" has models \(2\)/)
  t.throws(() => loadConfig({ ...base, COUNCIL_MIN_ANSWERS: '0' }), ConfigError)
})

t.test('every variable the server reads is documented in the README and in .env.example', async (t) => {
  const { readFileSync } = await import('node:fs')
  const { join } = await import('node:path')
  const root = join(import.meta.dirname, '..')
  const source = readFileSync(join(root, 'src/config.ts'), 'utf8')
  const names = [...source.matchAll(/^ {2}([A-Z][A-Z_]+): /gm)].map((match) => match[1]!)
  t.ok(names.length > 25, 'the variables were found')
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const example = readFileSync(join(root, '.env.example'), 'utf8')
  for (const name of names) {
    t.ok(readme.includes(`\`${name}\``), `${name} in the README`)
    t.ok(example.includes(`${name}=`), `${name} in .env.example`)
  }
})

t.test('accounts and single sign-on', async (t) => {
  const production = { NODE_ENV: 'production', DATABASE_URL: 'postgres://h/db', OPENROUTER_API_KEY: 'k' }
  t.match(loadConfig({ ...production, AUTH_MODE: 'accounts' }).auth, { mode: 'accounts', signup: 'invite', oidc: null, secureCookies: true }, 'accounts work in production, invite-only after the first')
  t.match(loadConfig({ AUTH_MODE: 'accounts', SIGNUP: 'open' }).auth, { signup: 'open', secureCookies: false })
  t.throws(() => loadConfig({ AUTH_MODE: 'accounts', SIGNUP: 'anyone' }), { name: 'ConfigError', message: /^SIGNUP is invalid/ })
  t.throws(() => loadConfig({ AUTH_MODE: 'oidc' }), { message: 'AUTH_MODE=oidc needs OIDC_ISSUER and OIDC_CLIENT_ID' })
  t.throws(() => loadConfig({ AUTH_MODE: 'oidc', OIDC_ISSUER: 'https://id.example.com' }), { message: /OIDC_CLIENT_ID is not/ })
  t.throws(() => loadConfig({ AUTH_MODE: 'accounts', OIDC_CLIENT_ID: 'c' }), { message: /OIDC_ISSUER is not/ })
  const oidc = { AUTH_MODE: 'oidc', OIDC_ISSUER: 'https://id.example.com/realms/team', OIDC_CLIENT_ID: 'council', OIDC_CLIENT_SECRET: 's' }
  t.match(loadConfig(oidc).auth, { mode: 'oidc', oidc: { issuer: 'https://id.example.com/realms/team', clientId: 'council', clientSecret: 's', redirectUrl: null } })
  t.equal(loadConfig({ ...oidc, OIDC_ISSUER: 'http://127.0.0.1:8080' }).auth.mode, 'oidc', 'http on this machine (a provider under test)')
  for (const issuer of ['http://id.example.com', 'ftp://id.example.com', 'not a url']) {
    t.throws(() => loadConfig({ ...oidc, OIDC_ISSUER: issuer }), { message: /^OIDC_ISSUER is malformed: expected an https:\/\// }, issuer)
  }
  t.throws(() => loadConfig({ ...oidc, OIDC_REDIRECT_URL: 'http://council.example.com/cb' }), { message: /^OIDC_REDIRECT_URL is malformed/ })
  t.match(loadConfig({ AUTH_MODE: 'accounts', ...{ OIDC_ISSUER: oidc.OIDC_ISSUER, OIDC_CLIENT_ID: 'c' } }).auth, { mode: 'accounts', oidc: { clientSecret: null } }, 'single sign-on beside passwords; a public client')
  t.throws(() => loadConfig({ ...production, AUTH_MODE: 'none' }), { message: 'AUTH_MODE=none is not allowed in production: set AUTH_MODE to accounts, oidc, jwt or header' })
})
