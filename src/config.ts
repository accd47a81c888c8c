import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { type Static, Type } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { DEFAULT_TIER } from './domain.ts'

export const HOSTED_LLM_BASE_URL = 'https://openrouter.ai/api/v1'
export const DEFAULT_COUNCIL_MODELS = [
  'openai/gpt-5.1',
  'google/gemini-3-pro-preview',
  'anthropic/claude-sonnet-4.5',
  'x-ai/grok-4'
]
export const DEFAULT_CHAIRMAN_MODEL = 'google/gemini-3-pro-preview'
export const DEFAULT_TITLE_MODEL = 'google/gemini-2.5-flash'
// The offline demo's models (src/council/demo.ts answers as any of them).
export const DEMO_COUNCIL = ['demo/atlas', 'demo/borealis', 'demo/cirrus']
export const DEMO_CHAIRMAN = 'demo/chair'
export const DEMO_TITLE_MODEL = 'demo/titles'
const JWT_SECRET_MIN_BYTES = 32
const DEFAULT_USAGE_LIMITS = 'free:10/100,pro:100/3000,enterprise:unlimited'
// History shown to the models, in characters: about 12k tokens, so that with a long question, four
// answers, their reviews and room for the reply a council still fits a 32k-token model.
const DEFAULT_CONTEXT_CHARS = 48_000
/**
 * The text search configuration rows are indexed under. `english` matches "running" to "run", and on
 * text in another language does little harm, as the query is read the same way; `simple` keeps every
 * word as written (any language, no stemming, no stop words).
 */
export const DEFAULT_SEARCH_LANGUAGE = 'english'
export const DEFAULT_PRESET = 'default'
/** The most models one council may have (each is asked twice per question). */
export const MAX_COUNCIL_MODELS = 8
const MODEL_NAME = Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\s,]+$' })
const PresetSchema = Type.Object(
  {
    models: Type.Array(MODEL_NAME, { minItems: 1, maxItems: MAX_COUNCIL_MODELS, uniqueItems: true }),
    chairman: MODEL_NAME,
    system_prompt: Type.Optional(Type.String({ minLength: 1, maxLength: 20_000 })),
    stage2: Type.Optional(Type.Boolean()),
    description: Type.Optional(Type.String({ maxLength: 500 }))
  },
  { additionalProperties: false }
)

const Int = (min: number, def: number) => Type.Integer({ minimum: min, default: def })
const Bool = (def: boolean) => Type.Boolean({ default: def })

const EnvSchema = Type.Object({
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')], {
    default: 'development'
  }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  HOST: Type.Optional(Type.String({ minLength: 1 })),
  TRUST_PROXY: Type.String({ default: 'false' }),
  DATABASE_URL: Type.Optional(Type.String()),
  DIRECT_DATABASE_URL: Type.Optional(Type.String()),
  PGLITE_DIR: Type.String({ minLength: 1, default: './data/pglite' }),
  DB_POOL_MAX: Int(1, 15),
  DB_PREPARE: Bool(true),
  DB_CONNECT_TIMEOUT_MS: Int(1, 5000),
  DB_STATEMENT_TIMEOUT_MS: Int(0, 30000),
  DB_STARTUP_TIMEOUT_MS: Int(1, 120000),
  SLOW_QUERY_MS: Int(0, 1000),
  BODY_LIMIT: Int(1024, 1048576),
  RATE_LIMIT_MAX: Int(0, 600),
  CORS_ORIGINS: Type.Optional(Type.String()),
  SHUTDOWN_GRACE_MS: Int(0, 30000),
  RUN_HEARTBEAT_MS: Int(50, 10000),
  SEARCH_LANGUAGE: Type.String({ pattern: '^[a-z_][a-z0-9_]{0,62}$', default: DEFAULT_SEARCH_LANGUAGE }),
  MAX_EVENT_LOOP_DELAY_MS: Int(0, 1000),
  AUTH_MODE: Type.Union(
    [Type.Literal('none'), Type.Literal('jwt'), Type.Literal('header'), Type.Literal('accounts'), Type.Literal('oidc')],
    { default: 'none' }
  ),
  SIGNUP: Type.Optional(Type.Union([Type.Literal('open'), Type.Literal('invite'), Type.Literal('closed')])),
  OIDC_ISSUER: Type.Optional(Type.String()),
  OIDC_CLIENT_ID: Type.Optional(Type.String()),
  OIDC_CLIENT_SECRET: Type.Optional(Type.String()),
  OIDC_REDIRECT_URL: Type.Optional(Type.String()),
  AUTH_JWT_SECRET: Type.Optional(Type.String()),
  AUTH_JWKS_URL: Type.Optional(Type.String()),
  AUTH_JWT_ISSUER: Type.Optional(Type.String()),
  AUTH_JWT_AUDIENCE: Type.Optional(Type.String()),
  AUTH_HEADER: Type.String({ minLength: 1, default: 'x-forwarded-user' }),
  ADMIN_TOKEN: Type.Optional(Type.String()),
  OPENROUTER_API_KEY: Type.Optional(Type.String()),
  LLM_BASE_URL: Type.String({ default: HOSTED_LLM_BASE_URL }),
  LLM_PROVIDER: Type.Optional(Type.Union([Type.Literal('openai'), Type.Literal('demo')])),
  COUNCIL_MODELS: Type.Optional(Type.String()),
  CHAIRMAN_MODEL: Type.Optional(Type.String()),
  TITLE_MODEL: Type.Optional(Type.String()),
  LLM_TIMEOUT_MS: Int(1, 120000),
  COUNCIL_PRESETS: Type.Optional(Type.String()),
  ALLOWED_MODELS: Type.Optional(Type.String()),
  COUNCIL_CONTEXT_CHARS: Int(0, DEFAULT_CONTEXT_CHARS),
  COUNCIL_MIN_ANSWERS: Int(1, 1),
  COUNCIL_EXCLUDE_SELF_VOTES: Bool(true),
  USAGE_LIMITS: Type.Optional(Type.String()),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => Type.Literal(level)),
    { default: 'info' }
  )
})
type Env = Static<typeof EnvSchema>

export interface TierLimits {
  daily: number | null
  monthly: number | null
  /** The most a month's model calls may cost (as the provider reports cost); null: no budget. */
  monthlyCost: number | null
}

/** A named council: its models, chairman, optional system prompt, and whether its members rank each other. */
export interface Preset {
  name: string
  models: string[]
  chairman: string
  systemPrompt: string | null
  stage2: boolean
  description: string | null
}

export type DatabaseConfig =
  | { kind: 'postgres'; url: string; migrationUrl: string; fallbackDir: string | null }
  | { kind: 'pglite'; dir: string }

export interface Config {
  env: Env['NODE_ENV']
  port: number
  host: string
  trustProxy: TrustProxy
  database: DatabaseConfig
  db: {
    poolMax: number
    prepare: boolean
    connectTimeoutMs: number
    statementTimeoutMs: number
    slowQueryMs: number
    /** How long startup may wait for the database: connecting, another instance's migration, migrating. */
    startupTimeoutMs: number
  }
  bodyLimit: number
  rateLimitMax: number
  corsOrigins: string[]
  shutdownGraceMs: number
  /** How often an instance marks its council runs alive; a run silent for three beats is taken as interrupted. */
  runHeartbeatMs: number
  /** The text search configuration conversations are indexed and searched under. */
  searchLanguage: string
  /** Event-loop delay past which requests get 503 (0: never). */
  maxEventLoopDelayMs: number
  auth:
    | { mode: 'none' }
    | { mode: 'header'; header: string }
    | { mode: 'jwt'; secret?: string; jwksUrl?: string; issuer?: string; audience?: string }
    | AccountsAuth
  adminToken: string | null
  llm: {
    provider: 'openai' | 'demo'
    baseUrl: string
    apiKey: string | null
    councilModels: string[]
    chairmanModel: string
    titleModel: string
    timeoutMs: number
    /** By name; `default` is COUNCIL_MODELS and CHAIRMAN_MODEL unless COUNCIL_PRESETS defines it. */
    presets: Map<string, Preset>
    /** What users may pick: ALLOWED_MODELS plus every preset's models and chairman. */
    allowedModels: string[]
    contextChars: number
    minAnswers: number
    excludeSelfVotes: boolean
  }
  /** Each tier's limits; all unlimited with AUTH_MODE=none unless USAGE_LIMITS is set. */
  usageLimits: Map<string, TierLimits>
  logLevel: string
}

export type SignupRule = 'open' | 'invite' | 'closed'

export interface OidcConfig {
  issuer: string
  clientId: string
  clientSecret: string | null
  /** Where the provider sends the browser back; null: this server's own /api/auth/oidc/callback, as the request reached it. */
  redirectUrl: string | null
}

/** Sign-in by the server itself: email and password (`accounts`, with single sign-on beside it when configured) or single sign-on only (`oidc`). */
export interface AccountsAuth {
  mode: 'accounts' | 'oidc'
  /** Who may make an account once the first (the admin) exists. */
  signup: SignupRule
  oidc: OidcConfig | null
  /** Session cookies carry `Secure` (production). */
  secureCookies: boolean
}

/** A configuration the process must not start with; `message` is one line saying what to set. */
export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** Reads `.env` (when present) into process.env; values already set win. */
export function loadDotEnv(path = resolve('.env')): void {
  if (existsSync(path)) process.loadEnvFile(path)
}

export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  const env = parseEnv(source)
  const production = env.NODE_ENV === 'production'

  const database = databaseConfig(env, production)
  const auth = authConfig(env, production)
  const llm = llmConfig(env, production)

  return {
    env: env.NODE_ENV,
    port: env.PORT,
    host: env.HOST ?? (production ? '0.0.0.0' : '127.0.0.1'),
    trustProxy: parseTrustProxy(env.TRUST_PROXY),
    database,
    db: {
      poolMax: env.DB_POOL_MAX,
      prepare: env.DB_PREPARE,
      connectTimeoutMs: env.DB_CONNECT_TIMEOUT_MS,
      statementTimeoutMs: env.DB_STATEMENT_TIMEOUT_MS,
      slowQueryMs: env.SLOW_QUERY_MS,
      startupTimeoutMs: env.DB_STARTUP_TIMEOUT_MS
    },
    bodyLimit: env.BODY_LIMIT,
    rateLimitMax: env.RATE_LIMIT_MAX,
    corsOrigins: splitList(env.CORS_ORIGINS),
    shutdownGraceMs: env.SHUTDOWN_GRACE_MS,
    runHeartbeatMs: env.RUN_HEARTBEAT_MS,
    searchLanguage: env.SEARCH_LANGUAGE,
    maxEventLoopDelayMs: env.MAX_EVENT_LOOP_DELAY_MS,
    auth,
    adminToken: env.ADMIN_TOKEN || null,
    llm,
    usageLimits: usageLimits(env, auth),
    logLevel: env.LOG_LEVEL
  }
}

function parseEnv(source: NodeJS.ProcessEnv): Env {
  // Empty variables count as unset, as they do in most .env tooling.
  const present = Object.fromEntries(
    Object.keys(EnvSchema.properties)
      .filter((key) => source[key] !== undefined && source[key] !== '')
      .map((key) => [key, source[key]])
  )
  const converted = Value.Convert(EnvSchema, Value.Default(EnvSchema, present))
  const [error] = Value.Errors(EnvSchema, converted)
  if (error) {
    const name = error.path.replace(/^\//, '')
    // Never echo the value: it may be a secret.
    throw new ConfigError(`${name} is invalid: ${error.message}`)
  }
  return converted as Env
}

function databaseConfig(env: Env, production: boolean): DatabaseConfig {
  const dir = env.PGLITE_DIR === 'memory://' ? 'memory://' : resolve(env.PGLITE_DIR)
  if (!env.DATABASE_URL) {
    if (production) {
      throw new ConfigError('DATABASE_URL is required in production: set it to a postgres:// URL')
    }
    return { kind: 'pglite', dir }
  }
  checkPostgresUrl('DATABASE_URL', env.DATABASE_URL)
  if (env.DIRECT_DATABASE_URL) checkPostgresUrl('DIRECT_DATABASE_URL', env.DIRECT_DATABASE_URL)
  return {
    kind: 'postgres',
    url: env.DATABASE_URL,
    migrationUrl: env.DIRECT_DATABASE_URL ?? env.DATABASE_URL,
    fallbackDir: production ? null : dir
  }
}

export function checkPostgresUrl(name: string, value: string): void {
  const url = URL.canParse(value) ? new URL(value) : undefined
  if (!url || !['postgres:', 'postgresql:'].includes(url.protocol) || !url.hostname) {
    throw new ConfigError(`${name} is malformed: expected postgres://user:password@host:5432/database`)
  }
}

function authConfig(env: Env, production: boolean): Config['auth'] {
  switch (env.AUTH_MODE) {
    case 'accounts':
    case 'oidc': {
      const oidc = oidcConfig(env)
      if (env.AUTH_MODE === 'oidc' && !oidc) throw new ConfigError('AUTH_MODE=oidc needs OIDC_ISSUER and OIDC_CLIENT_ID')
      return { mode: env.AUTH_MODE, signup: env.SIGNUP ?? 'invite', oidc, secureCookies: production }
    }
    case 'none':
      if (production) {
        throw new ConfigError('AUTH_MODE=none is not allowed in production: set AUTH_MODE to accounts, oidc, jwt or header')
      }
      return { mode: 'none' }
    case 'header':
      return { mode: 'header', header: env.AUTH_HEADER.toLowerCase() }
    case 'jwt':
      if (!env.AUTH_JWT_SECRET && !env.AUTH_JWKS_URL) {
        throw new ConfigError('AUTH_MODE=jwt needs AUTH_JWT_SECRET (HS256) or AUTH_JWKS_URL')
      }
      // RFC 7518 §3.2: an HS256 key shorter than the hash (32 bytes) can be guessed offline.
      if (production && env.AUTH_JWT_SECRET && Buffer.byteLength(env.AUTH_JWT_SECRET) < JWT_SECRET_MIN_BYTES) {
        throw new ConfigError(`AUTH_JWT_SECRET must be at least ${JWT_SECRET_MIN_BYTES} bytes in production (openssl rand -base64 48 makes one)`)
      }
      if (env.AUTH_JWKS_URL && !URL.canParse(env.AUTH_JWKS_URL)) {
        throw new ConfigError('AUTH_JWKS_URL is malformed: expected an https:// URL')
      }
      return {
        mode: 'jwt',
        secret: env.AUTH_JWT_SECRET,
        jwksUrl: env.AUTH_JWKS_URL,
        issuer: env.AUTH_JWT_ISSUER,
        audience: env.AUTH_JWT_AUDIENCE
      }
  }
}

function oidcConfig(env: Env): OidcConfig | null {
  if (!env.OIDC_ISSUER) {
    if (env.OIDC_CLIENT_ID) throw new ConfigError('OIDC_CLIENT_ID is set but OIDC_ISSUER is not: set both for single sign-on')
    return null
  }
  if (!env.OIDC_CLIENT_ID) throw new ConfigError('OIDC_ISSUER is set but OIDC_CLIENT_ID is not: set both for single sign-on')
  checkHttpsUrl('OIDC_ISSUER', env.OIDC_ISSUER)
  if (env.OIDC_REDIRECT_URL) checkHttpsUrl('OIDC_REDIRECT_URL', env.OIDC_REDIRECT_URL)
  return { issuer: env.OIDC_ISSUER, clientId: env.OIDC_CLIENT_ID, clientSecret: env.OIDC_CLIENT_SECRET || null, redirectUrl: env.OIDC_REDIRECT_URL ?? null }
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]'])

/** An https:// URL, or http:// on this machine only (a provider under test, as RFC 8252 allows for loopback). */
export function checkHttpsUrl(name: string, value: string): void {
  const url = URL.canParse(value) ? new URL(value) : undefined
  if (!url || !(url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname)))) {
    throw new ConfigError(`${name} is malformed: expected an https:// URL (http:// only for 127.0.0.1 or localhost)`)
  }
}

function llmConfig(env: Env, production: boolean): Config['llm'] {
  const baseUrl = env.LLM_BASE_URL.replace(/\/+$/, '')
  if (!URL.canParse(baseUrl)) throw new ConfigError('LLM_BASE_URL is malformed: expected an http(s):// URL')
  const apiKey = env.OPENROUTER_API_KEY || null
  // Scheme and host are case-insensitive (RFC 3986): HTTPS://OpenRouter.ai/api/v1 is the hosted API too.
  const hosted = baseUrl.toLowerCase() === HOSTED_LLM_BASE_URL
  if (production && hosted && !apiKey) {
    throw new ConfigError('OPENROUTER_API_KEY is required in production with the hosted LLM_BASE_URL')
  }
  if (production && env.LLM_PROVIDER === 'demo') {
    throw new ConfigError('LLM_PROVIDER=demo is not allowed in production: unset it or set it to openai')
  }
  const provider = env.LLM_PROVIDER ?? (!apiKey && hosted && !production ? 'demo' : 'openai')
  const demo = provider === 'demo'
  const listed = splitList(env.COUNCIL_MODELS)
  const councilModels = listed.length > 0 ? listed : demo ? DEMO_COUNCIL : DEFAULT_COUNCIL_MODELS
  const chairmanModel = env.CHAIRMAN_MODEL?.trim() || (demo ? DEMO_CHAIRMAN : DEFAULT_CHAIRMAN_MODEL)
  const presets = parsePresets(env.COUNCIL_PRESETS, { name: DEFAULT_PRESET, models: councilModels, chairman: chairmanModel, systemPrompt: null, stage2: true, description: null })
  // The presets' models first (the default council's lead), then the extra ones users may pick.
  const allowed = new Set([...presets.values()].flatMap((preset) => [...preset.models, preset.chairman]))
  for (const model of splitList(env.ALLOWED_MODELS)) allowed.add(model)
  for (const preset of presets.values()) {
    if (preset.models.length < env.COUNCIL_MIN_ANSWERS) {
      throw new ConfigError(`COUNCIL_MIN_ANSWERS (${env.COUNCIL_MIN_ANSWERS}) is more than preset "${preset.name}" has models (${preset.models.length})`)
    }
  }
  return {
    provider,
    baseUrl,
    apiKey,
    councilModels: presets.get(DEFAULT_PRESET)!.models,
    chairmanModel: presets.get(DEFAULT_PRESET)!.chairman,
    titleModel: env.TITLE_MODEL?.trim() || (demo ? DEMO_TITLE_MODEL : DEFAULT_TITLE_MODEL),
    timeoutMs: env.LLM_TIMEOUT_MS,
    presets,
    allowedModels: [...allowed],
    contextChars: env.COUNCIL_CONTEXT_CHARS,
    minAnswers: env.COUNCIL_MIN_ANSWERS,
    excludeSelfVotes: env.COUNCIL_EXCLUDE_SELF_VOTES
  }
}

/** COUNCIL_PRESETS: a JSON object of named presets; `fallback` is the default one unless it names its own. */
function parsePresets(value: string | undefined, fallback: Preset): Map<string, Preset> {
  const presets = new Map<string, Preset>([[fallback.name, fallback]])
  if (value === undefined) return presets
  let parsed: unknown
  try {
    parsed = JSON.parse(value)
  } catch {
    throw new ConfigError('COUNCIL_PRESETS is malformed: expected a JSON object such as {"fast":{"models":["a/b","c/d"],"chairman":"a/b"}}')
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError('COUNCIL_PRESETS is malformed: expected a JSON object of presets by name')
  for (const [name, preset] of Object.entries(parsed)) {
    if (!/^[a-z0-9_-]{1,64}$/i.test(name)) throw new ConfigError(`COUNCIL_PRESETS: the name "${name}" is malformed: 1-64 letters, digits, _ or -`)
    const [error] = Value.Errors(PresetSchema, preset)
    if (error) throw new ConfigError(`COUNCIL_PRESETS: preset "${name}"${error.path} ${error.message}`)
    const checked = preset as Static<typeof PresetSchema>
    presets.set(name, {
      name,
      models: checked.models,
      chairman: checked.chairman,
      systemPrompt: checked.system_prompt ?? null,
      stage2: checked.stage2 ?? true,
      description: checked.description ?? null
    })
  }
  return presets
}

/**
 * The tiers' limits. A single person's own server (AUTH_MODE=none) is not capped unless USAGE_LIMITS is
 * set: the local user's queries are still counted and shown, against no limit.
 */
function usageLimits(env: Env, auth: Config['auth']): Map<string, TierLimits> {
  const limits = parseUsageLimits(env.USAGE_LIMITS ?? DEFAULT_USAGE_LIMITS)
  if (auth.mode === 'none' && env.USAGE_LIMITS === undefined) {
    for (const [tier, tierLimits] of limits) limits.set(tier, { ...tierLimits, daily: null, monthly: null })
  }
  return limits
}

/**
 * `free:10/100,pro:100/3000/$20,enterprise:unlimited`; each side of `/` may also be `unlimited`, and an
 * optional `/$amount` is the tier's monthly cost budget.
 */
export function parseUsageLimits(value: string): Map<string, TierLimits> {
  const limits = new Map<string, TierLimits>()
  for (const entry of splitList(value)) {
    const match = /^([a-z0-9_-]{1,64}):(?:(unlimited)|(\d+|unlimited)\/(\d+|unlimited))(?:\/\$(\d{1,9}(?:\.\d{1,6})?))?$/i.exec(entry)
    if (!match) {
      throw new ConfigError(
        `USAGE_LIMITS entry "${entry}" is malformed: expected tier:daily/monthly or tier:unlimited, optionally followed by /$budget`
      )
    }
    const [, tier, all, daily, monthly, budget] = match
    const count = (part: string | undefined) => (all || part === 'unlimited' ? null : Number(part))
    limits.set(tier!.toLowerCase(), { daily: count(daily), monthly: count(monthly), monthlyCost: budget === undefined ? null : Number(budget) })
  }
  if (!limits.has(DEFAULT_TIER)) throw new ConfigError(`USAGE_LIMITS must define the ${DEFAULT_TIER} tier (new users start on it)`)
  return limits
}

/** Fastify's `trustProxy`: a hop count (`1`: the one proxy in front) trusts that many addresses from the socket's end of `X-Forwarded-For`. */
type TrustProxy = boolean | string | ((address: string, hop: number) => boolean)

function parseTrustProxy(value: string): TrustProxy {
  if (value === 'true') return true
  if (value === 'false') return false
  if (/^\d+$/.test(value)) {
    // Fastify 5 ignores a numeric trustProxy (it trusts no hop); its documented function form counts them.
    const hops = Number(value)
    return (_address, hop) => hop < hops
  }
  return value
}

function splitList(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean)
}
