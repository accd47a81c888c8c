import type { Sql } from 'postgres'
import { CannotRun } from '../common.ts'

/** A column of the old database: its name and its type as information_schema names it. */
export interface OldColumn {
  name: string
  type: string
}

/** Which old column plays each part this server knows (absent: the table has none), and the columns it does not know. */
export interface OldTable<Part extends string> {
  name: string
  parts: Partial<Record<Part, OldColumn>>
  /** Columns with no place here: their values are counted and listed as not kept. */
  unknown: OldColumn[]
}

// The names each part goes by in the old system's versions (SQLAlchemy models and their forks), first match wins.
const CONVERSATION_PARTS = {
  id: ['id'],
  userId: ['user_id'],
  title: ['title'],
  starred: ['starred', 'is_starred'],
  createdAt: ['created_at'],
  updatedAt: ['updated_at']
}
const MESSAGE_PARTS = {
  id: ['id'],
  conversationId: ['conversation_id'],
  role: ['role'],
  content: ['content'],
  stage1: ['stage1_data'],
  stage2: ['stage2_data'],
  stage3: ['stage3_data'],
  metadata: ['message_metadata', 'metadata'],
  createdAt: ['created_at', 'timestamp']
}
// Limits are read and left out on purpose, as import-json does: a user's limits come from their tier.
const USAGE_PARTS = {
  id: ['id'],
  userId: ['user_id'],
  tier: ['tier', 'subscription_tier'],
  dailyUsed: ['daily_used', 'daily_count'],
  monthlyUsed: ['monthly_used', 'monthly_count'],
  totalQueries: ['total_queries'],
  lastResetDaily: ['last_reset_daily', 'last_daily_reset'],
  lastResetMonthly: ['last_reset_monthly', 'last_monthly_reset'],
  dailyLimit: ['daily_limit'],
  monthlyLimit: ['monthly_limit'],
  razorpayCustomerId: ['razorpay_customer_id'],
  razorpaySubscriptionId: ['razorpay_subscription_id'],
  stripeCustomerId: ['stripe_customer_id'],
  stripeSubscriptionId: ['stripe_subscription_id'],
  subscriptionStatus: ['subscription_status'],
  subscriptionEnd: ['subscription_end', 'subscription_end_date', 'current_period_end'],
  createdAt: ['created_at'],
  updatedAt: ['updated_at']
}
const USER_PARTS = {
  userId: ['user_id', 'uid', 'firebase_uid', 'id'],
  email: ['email'],
  displayName: ['display_name', 'name', 'full_name'],
  avatarUrl: ['photo_url', 'avatar_url', 'picture'],
  createdAt: ['created_at']
}
const SUBSCRIPTION_PARTS = {
  id: ['id'],
  userId: ['user_id'],
  provider: ['provider', 'payment_gateway', 'gateway'],
  subscriptionId: ['subscription_id', 'provider_subscription_id'],
  customerId: ['customer_id', 'provider_customer_id'],
  razorpaySubscriptionId: ['razorpay_subscription_id'],
  razorpayCustomerId: ['razorpay_customer_id'],
  stripeSubscriptionId: ['stripe_subscription_id'],
  stripeCustomerId: ['stripe_customer_id'],
  status: ['status'],
  plan: ['plan', 'tier', 'plan_id'],
  currentPeriodEnd: ['current_period_end', 'expires_at', 'ends_at'],
  createdAt: ['created_at']
}

export type ConversationPart = keyof typeof CONVERSATION_PARTS
export type MessagePart = keyof typeof MESSAGE_PARTS
export type UsagePart = keyof typeof USAGE_PARTS
export type UserPart = keyof typeof USER_PARTS
export type SubscriptionPart = keyof typeof SUBSCRIPTION_PARTS

/** The old database's tables this server can read, as found. */
export interface OldSchema {
  schema: string
  conversations: OldTable<ConversationPart>
  messages: OldTable<MessagePart>
  usage: OldTable<UsagePart> | null
  users: OldTable<UserPart> | null
  subscriptions: OldTable<SubscriptionPart> | null
  /** Tables in the schema that are none of these, so not read. */
  otherTables: string[]
}

function table<Part extends string>(name: string, columns: OldColumn[], names: Record<Part, string[]>): OldTable<Part> {
  const parts: Partial<Record<Part, OldColumn>> = {}
  const used = new Set<string>()
  for (const [part, candidates] of Object.entries(names) as [Part, string[]][]) {
    const column = candidates.map((candidate) => columns.find((c) => c.name === candidate && !used.has(c.name))).find(Boolean)
    if (column) {
      parts[part] = column
      used.add(column.name)
    }
  }
  return { name, parts, unknown: columns.filter((c) => !used.has(c.name)) }
}

/**
 * Reads the old database's layout from information_schema and says which of its columns mean what.
 * Refuses, with what it found, a database that is not the old system's: this server's own, or
 * anything without conversations and messages with their stage columns.
 */
export async function detectOldSchema(sql: Sql, schema: string): Promise<OldSchema> {
  const rows = await sql<{ table_name: string; column_name: string; data_type: string }[]>`
    select table_name, column_name, data_type from information_schema.columns
    where table_schema = ${schema} order by table_name, ordinal_position`
  const tables = new Map<string, OldColumn[]>()
  for (const row of rows) tables.set(row.table_name, [...(tables.get(row.table_name) ?? []), { name: row.column_name, type: row.data_type }])
  const found = [...tables.keys()]
  const has = (name: string, ...columns: string[]) => columns.every((column) => tables.get(name)?.some((c) => c.name === column))

  if (has('messages', 'position', 'stage1') && has('conversations', 'message_count')) {
    throw new CannotRun(
      `the database at --from is an LLM Council server database already (schema "${schema}"), not the old system's: ` +
        'set DATABASE_URL to it to use it, or copy it with pg_dump'
    )
  }
  const required: [string, string[]][] = [
    ['conversations', ['id']],
    ['messages', ['conversation_id', 'role', 'content', 'stage1_data', 'stage2_data', 'stage3_data']]
  ]
  const missing = required.flatMap(([name, columns]) =>
    !tables.has(name) ? [`no table "${name}"`] : columns.filter((c) => !has(name, c)).map((c) => `no column ${name}.${c}`)
  )
  if (missing.length > 0) {
    throw new CannotRun(
      `the database at --from is not the old llm-council PostgreSQL schema: ${missing.join(', ')} ` +
        `(schema "${schema}" has ${found.length === 0 ? 'no tables' : `tables ${found.join(', ')}`}; --schema picks another)`
    )
  }
  const optional = <Part extends string>(name: string, names: Record<Part, string[]>, needs: string[]) =>
    needs.some((column) => has(name, column)) ? table(name, tables.get(name)!, names) : null
  const usage = optional('usage', USAGE_PARTS, ['user_id'])
  const users = optional('users', USER_PARTS, ['email', 'display_name', 'name', 'full_name'])
  const subscriptions = optional('subscriptions', SUBSCRIPTION_PARTS, ['user_id'])
  const read = new Set(['conversations', 'messages', ...(usage ? ['usage'] : []), ...(users ? ['users'] : []), ...(subscriptions ? ['subscriptions'] : [])])
  return {
    schema,
    conversations: table('conversations', tables.get('conversations')!, CONVERSATION_PARTS),
    messages: table('messages', tables.get('messages')!, MESSAGE_PARTS),
    usage,
    users,
    subscriptions,
    otherTables: found.filter((name) => !read.has(name))
  }
}
