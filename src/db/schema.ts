import { type SQL, sql } from 'drizzle-orm'
import {
  bigint,
  boolean,
  check,
  customType,
  date,
  index,
  integer,
  jsonb,
  numeric,
  pgTable,
  text,
  timestamp,
  unique,
  uniqueIndex,
  uuid,
  varchar
} from 'drizzle-orm/pg-core'
import type { AssistantMetadata, CouncilRecord, Stage1Result, Stage2Result, Stage3Result } from '../council/types.ts'
import type { ChosenCouncil } from '../services/council-settings.ts'
import { DEFAULT_TIER, DEFAULT_TITLE, EMAIL_MAX_LENGTH, IDEMPOTENCY_KEY_MAX_LENGTH, TITLE_MAX_LENGTH, USER_ID_MAX_LENGTH } from '../domain.ts'
import { searchLanguage } from './search-language.ts'
import { utcToday } from './sql.ts'

// Timestamps as the database's own strings: an imported file's microseconds survive (a Date would drop them).
const createdAt = () => timestamp('created_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow()
const updatedAt = () => timestamp('updated_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow()

// Full-text search: each row stores its words (tsvector) in a column the database computes from the
// row itself, under the text search configuration the row names (SEARCH_LANGUAGE when it was written).
const tsvector = customType<{ data: string }>({ dataType: () => 'tsvector' })
const regconfig = customType<{ data: string }>({ dataType: () => 'regconfig' })
// A tsvector holds at most 1 MB: the words of the first 100,000 characters of a field are indexed
// (an imported message of any size still goes in). The council's answers are read as JSON text, its
// escapes (\n, \") made spaces.
const SEARCH_TEXT_MAX = 100_000
const searchConfig = () =>
  regconfig('search_config')
    .notNull()
    .default(sql`'english'::regconfig`)
    .$defaultFn(() => searchLanguage.current)

export const conversations = pgTable(
  'conversations',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: varchar('user_id', { length: USER_ID_MAX_LENGTH }).notNull(),
    title: varchar('title', { length: TITLE_MAX_LENGTH }).notNull().default(DEFAULT_TITLE),
    starred: boolean('starred').notNull().default(false),
    messageCount: integer('message_count').notNull().default(0),
    /** When the council run now under way started; null when none is. One run at a time per conversation. */
    runStartedAt: timestamp('run_started_at', { withTimezone: true, mode: 'string' }),
    /** The council chosen for this conversation (a preset, models, a chairman); null: the server's default. */
    council: jsonb('council').$type<ChosenCouncil>(),
    searchConfig: searchConfig(),
    /** The title's words. */
    search: tsvector('search').generatedAlwaysAs((): SQL => sql`to_tsvector(${conversations.searchConfig}, ${conversations.title})`),
    createdAt: createdAt(),
    updatedAt: updatedAt()
  },
  (t) => [
    index('conversations_search_idx').using('gin', t.search),
    // Listings (with and without the star filter) read ORDER BY updated_at DESC, id DESC straight
    // from these; NULLS FIRST is what plain DESC means, so the planner needs no sort.
    index('conversations_user_recent_idx').on(t.userId, t.updatedAt.desc().nullsFirst(), t.id.desc().nullsFirst()),
    index('conversations_user_starred_recent_idx').on(t.userId, t.starred, t.updatedAt.desc().nullsFirst(), t.id.desc().nullsFirst()),
    check('conversations_message_count_check', sql`${t.messageCount} >= 0`)
  ]
)

export const messages = pgTable(
  'messages',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    conversationId: uuid('conversation_id')
      .notNull()
      .references(() => conversations.id, { onDelete: 'cascade' }),
    position: integer('position').notNull(),
    role: varchar('role', { length: 16 }).$type<'user' | 'assistant'>().notNull(),
    /** A user message that is not a question: facts or answers sent without a council run (null: a question). */
    kind: varchar('kind', { length: 16 }).$type<'follow_up'>(),
    content: text('content'),
    stage1: jsonb('stage1').$type<Stage1Result[]>(),
    stage2: jsonb('stage2').$type<Stage2Result[]>(),
    stage3: jsonb('stage3').$type<Stage3Result>(),
    metadata: jsonb('metadata').$type<AssistantMetadata>(),
    searchConfig: searchConfig(),
    /** A question's (or follow-up's) words, or an answer's final synthesis: what search ranks first after titles. */
    search: tsvector('search').generatedAlwaysAs(
      (): SQL => sql`to_tsvector(${messages.searchConfig}, left(coalesce(${messages.content}, '') || ' ' || coalesce(${messages.stage3} ->> 'response', ''), ${sql.raw(String(SEARCH_TEXT_MAX))}))`
    ),
    /** The council members' own answers: matched, ranked below the rest. */
    searchCouncil: tsvector('search_council').generatedAlwaysAs(
      (): SQL => sql`to_tsvector(${messages.searchConfig}, left(regexp_replace(coalesce(jsonb_path_query_array(${messages.stage1}, '$[*].response'), '[]')::text, '\\\\(u[0-9a-fA-F]{4}|.)', ' ', 'g'), ${sql.raw(String(SEARCH_TEXT_MAX))}))`
    ),
    createdAt: createdAt()
  },
  (t) => [
    index('messages_search_idx').using('gin', t.search),
    index('messages_search_council_idx').using('gin', t.searchCouncil),
    uniqueIndex('messages_conversation_position_idx').on(t.conversationId, t.position),
    check('messages_role_check', sql`${t.role} in ('user', 'assistant')`),
    check('messages_kind_check', sql`${t.kind} is null or (${t.kind} = 'follow_up' and ${t.role} = 'user')`),
    check('messages_position_check', sql`${t.position} >= 0`)
  ]
)

/** What a council run is now; every state but `running` is final. */
export const RUN_STATES = ['running', 'complete', 'failed', 'cancelled', 'interrupted'] as const
export type RunState = (typeof RUN_STATES)[number]

/**
 * Council runs: one per question asked or answer retried. The instance running one keeps its
 * heartbeat fresh; a run whose heartbeat stops (its instance died) is marked `interrupted` by the
 * next instance that notices. Rows go with their conversation.
 */
export const runs = pgTable(
  'runs',
  {
    /** Made by the instance that starts the run, so its first event can name it. */
    id: uuid('id').primaryKey(),
    conversationId: uuid('conversation_id')
      .notNull()
      .references(() => conversations.id, { onDelete: 'cascade' }),
    state: varchar('state', { length: 16 }).$type<RunState>().notNull().default('running'),
    questionPosition: integer('question_position').notNull(),
    /** Where the answer is (or, for a retry, will be) stored; null until a new question's answer is. */
    answerPosition: integer('answer_position'),
    /** The council the run uses, as its answer records it: what an interrupted run's partial answer is stored with. */
    council: jsonb('council').$type<CouncilRecord>().notNull(),
    /** The client's Idempotency-Key, and a hash of the request it came with. */
    idempotencyKey: varchar('idempotency_key', { length: IDEMPOTENCY_KEY_MAX_LENGTH }),
    requestHash: varchar('request_hash', { length: 64 }),
    cancelRequested: boolean('cancel_requested').notNull().default(false),
    heartbeatAt: timestamp('heartbeat_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
    createdAt: createdAt(),
    endedAt: timestamp('ended_at', { withTimezone: true, mode: 'string' })
  },
  (t) => [
    // NULL keys are distinct: only runs that came with a key are held to one per key.
    uniqueIndex('runs_conversation_idempotency_key_idx').on(t.conversationId, t.idempotencyKey),
    index('runs_running_idx').on(t.heartbeatAt).where(sql`${t.state} = 'running'`),
    check('runs_state_check', sql`${t.state} in ('running', 'complete', 'failed', 'cancelled', 'interrupted')`)
  ]
)

/**
 * A run's events, numbered from 1, stored in batches as they come: what a client reconnecting with
 * Last-Event-ID, on any instance, is sent. Kept for a while after the run ends (RUN_EVENTS_KEEP_MS).
 */
export const runEvents = pgTable(
  'run_events',
  {
    // A key of its own: move-to-postgres copies every table page by page by one key.
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    runId: uuid('run_id')
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
    firstId: integer('first_id').notNull(),
    lastId: integer('last_id').notNull(),
    events: jsonb('events').$type<unknown[]>().notNull(),
    createdAt: createdAt()
  },
  (t) => [uniqueIndex('run_events_run_first_idx').on(t.runId, t.firstId), index('run_events_created_idx').on(t.createdAt)]
)

/**
 * Read-only links to a conversation as it was when shared (`/s/<token>`). The token is 256 random bits
 * kept as it was given, so the owner can copy the link again later; deleting the row revokes it, and
 * rows go with their conversation. Its owner is the conversation's (a move of the conversation moves them).
 */
export const shares = pgTable(
  'shares',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    conversationId: uuid('conversation_id')
      .notNull()
      .references(() => conversations.id, { onDelete: 'cascade' }),
    token: varchar('token', { length: 64 }).notNull(),
    /** The conversation as GET /api/conversations/{id} showed it when shared. */
    snapshot: jsonb('snapshot').notNull(),
    createdAt: createdAt()
  },
  (t) => [uniqueIndex('shares_token_idx').on(t.token), index('shares_conversation_idx').on(t.conversationId, t.createdAt)]
)

export const usage = pgTable(
  'usage',
  {
    userId: varchar('user_id', { length: USER_ID_MAX_LENGTH }).primaryKey(),
    tier: varchar('tier', { length: 64 }).notNull().default(DEFAULT_TIER),
    dailyUsed: integer('daily_used').notNull().default(0),
    dailyLimit: integer('daily_limit'),
    monthlyUsed: integer('monthly_used').notNull().default(0),
    monthlyLimit: integer('monthly_limit'),
    totalQueries: bigint('total_queries', { mode: 'number' }).notNull().default(0),
    lastResetDaily: date('last_reset_daily', { mode: 'string' }).notNull().default(utcToday),
    lastResetMonthly: date('last_reset_monthly', { mode: 'string' }).notNull().default(utcToday),
    createdAt: createdAt(),
    updatedAt: updatedAt()
  },
  (t) => [
    check(
      'usage_counters_check',
      sql`${t.dailyUsed} >= 0 and ${t.monthlyUsed} >= 0 and ${t.totalQueries} >= 0`
    )
  ]
)

/**
 * Tokens and cost of every model call a user's questions made, per UTC day (a month is its days'
 * sum). Each run adds to its day's row in one atomic upsert, so concurrent runs sum exactly.
 */
export const tokenUsage = pgTable(
  'token_usage',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    userId: varchar('user_id', { length: USER_ID_MAX_LENGTH }).notNull(),
    day: date('day', { mode: 'string' }).notNull(),
    promptTokens: bigint('prompt_tokens', { mode: 'number' }).notNull().default(0),
    completionTokens: bigint('completion_tokens', { mode: 'number' }).notNull().default(0),
    /** Exact decimal: sums of many small prices must not drift. */
    cost: numeric('cost', { precision: 20, scale: 6 }).notNull().default('0'),
    calls: integer('calls').notNull().default(0),
    /** Calls whose provider reported no usage: left out of the sums, never guessed. */
    unknownCalls: integer('unknown_calls').notNull().default(0),
    updatedAt: updatedAt()
  },
  (t) => [uniqueIndex('token_usage_user_day_idx').on(t.userId, t.day)]
)

/** Who a user is, as far as a system they came from recorded it (import-db); accounts build on it. */
export const userProfiles = pgTable('user_profiles', {
  userId: varchar('user_id', { length: USER_ID_MAX_LENGTH }).primaryKey(),
  email: varchar('email', { length: EMAIL_MAX_LENGTH }),
  displayName: varchar('display_name', { length: 200 }),
  avatarUrl: text('avatar_url'),
  /** The user's own settings in the app (such as a default council), as the profile route validates them. */
  preferences: jsonb('preferences').$type<Record<string, string | number | boolean | null>>().notNull().default({}),
  createdAt: createdAt(),
  updatedAt: updatedAt()
})

/**
 * A user's subscription with a payment provider, by the provider's own ids: kept so that billing can
 * be picked up again after a move (import-db brings them from the old system's usage and subscription rows).
 */
export const subscriptions = pgTable(
  'subscriptions',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    userId: varchar('user_id', { length: USER_ID_MAX_LENGTH }).notNull(),
    provider: varchar('provider', { length: 32 }).notNull(),
    customerId: varchar('customer_id', { length: 255 }),
    subscriptionId: varchar('subscription_id', { length: 255 }),
    status: varchar('status', { length: 64 }),
    plan: varchar('plan', { length: 64 }),
    currentPeriodEnd: timestamp('current_period_end', { withTimezone: true, mode: 'string' }),
    createdAt: createdAt(),
    updatedAt: updatedAt()
  },
  (t) => [
    // One row per subscription a user has with a provider (a customer without one is a row too), so re-imports add nothing.
    unique('subscriptions_user_provider_subscription_key').on(t.userId, t.provider, t.subscriptionId).nullsNotDistinct()
  ]
)

/**
 * Who can sign in (AUTH_MODE=accounts or oidc). `user_id` is the id their data is stored under; `email`
 * is kept lowercased, so the unique index is case-insensitive.
 */
export const accounts = pgTable(
  'accounts',
  {
    userId: varchar('user_id', { length: USER_ID_MAX_LENGTH }).primaryKey(),
    email: varchar('email', { length: EMAIL_MAX_LENGTH }),
    /** scrypt, in the format src/services/passwords.ts writes; null: signs in through single sign-on only. */
    passwordHash: text('password_hash'),
    /** Set by an admin's temporary password: the app asks for a new one before anything else. */
    mustChangePassword: boolean('must_change_password').notNull().default(false),
    role: varchar('role', { length: 16 }).$type<'admin' | 'user'>().notNull().default('user'),
    disabledAt: timestamp('disabled_at', { withTimezone: true, mode: 'string' }),
    lastActiveAt: timestamp('last_active_at', { withTimezone: true, mode: 'string' }),
    createdAt: createdAt(),
    updatedAt: updatedAt()
  },
  (t) => [
    uniqueIndex('accounts_email_idx').on(t.email),
    check('accounts_role_check', sql`${t.role} in ('admin', 'user')`),
    check('accounts_email_lowercase_check', sql`${t.email} = lower(${t.email})`)
  ]
)

/** A single sign-on identity (issuer + subject) and the account it signs in to. */
export const accountIdentities = pgTable(
  'account_identities',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    issuer: varchar('issuer', { length: 500 }).notNull(),
    subject: varchar('subject', { length: 255 }).notNull(),
    userId: varchar('user_id', { length: USER_ID_MAX_LENGTH })
      .notNull()
      .references(() => accounts.userId, { onDelete: 'cascade' }),
    createdAt: createdAt()
  },
  (t) => [uniqueIndex('account_identities_issuer_subject_idx').on(t.issuer, t.subject), index('account_identities_user_idx').on(t.userId)]
)

/** Signed-in browsers. Only a SHA-256 of the cookie's token is stored: a copy of the table signs no one in. */
export const sessions = pgTable(
  'sessions',
  {
    tokenHash: varchar('token_hash', { length: 64 }).primaryKey(),
    userId: varchar('user_id', { length: USER_ID_MAX_LENGTH })
      .notNull()
      .references(() => accounts.userId, { onDelete: 'cascade' }),
    createdAt: createdAt(),
    lastSeenAt: timestamp('last_seen_at', { withTimezone: true, mode: 'string' }).notNull().defaultNow(),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'string' }).notNull()
  },
  (t) => [index('sessions_user_idx').on(t.userId)]
)

/**
 * Personal API keys, in every mode that has users: stored as a SHA-256 of the key (keys are 256 random
 * bits, so a fast hash is enough) and a short prefix the owner recognises them by.
 */
export const apiKeys = pgTable(
  'api_keys',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: varchar('user_id', { length: USER_ID_MAX_LENGTH }).notNull(),
    name: varchar('name', { length: 100 }).notNull(),
    prefix: varchar('prefix', { length: 16 }).notNull(),
    keyHash: varchar('key_hash', { length: 64 }).notNull(),
    createdAt: createdAt(),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true, mode: 'string' })
  },
  (t) => [uniqueIndex('api_keys_key_hash_idx').on(t.keyHash), index('api_keys_user_idx').on(t.userId, t.createdAt)]
)

/** Failed sign-ins per account and per client address, counted in windows shared by every instance. */
export const signInFailures = pgTable(
  'sign_in_failures',
  {
    key: varchar('key', { length: 400 }).primaryKey(),
    failures: integer('failures').notNull(),
    windowEndsAt: timestamp('window_ends_at', { withTimezone: true, mode: 'string' }).notNull()
  },
  // Ended windows are deleted by range at each failure.
  (t) => [index('sign_in_failures_window_idx').on(t.windowEndsAt)]
)

/** Single sign-on logins under way: the PKCE verifier and nonce by a hash of `state`; each is used once. */
export const oidcLogins = pgTable('oidc_logins', {
  stateHash: varchar('state_hash', { length: 64 }).primaryKey(),
  codeVerifier: text('code_verifier').notNull(),
  nonce: text('nonce').notNull(),
  createdAt: createdAt()
})
