import type { Row, Sql } from 'postgres'
import { storableText } from '../../db/json.ts'
import { errorCode, isDatabaseUnavailable } from '../../db/errors.ts'
import { EMAIL_MAX_LENGTH, USER_ID_MAX_LENGTH, isUserId } from '../../domain.ts'
import type { ImportProfile, ImportSubscription, NotKept, TransferRepo } from '../../repos/transfer.ts'
import { BadFile, parseRecord, parseTimestamp } from '../import/parse.ts'
import { type ImportProgress, countNotKept } from '../import/importer.ts'
import { ImportWriter, type WriteSummary, emptyWriteSummary } from '../import/writer.ts'
import { type OldSchema, detectOldSchema } from './old-schema.ts'
import { type OldConversation, type Tx, oldConversations, oldRows, orphanMessages, parseJsonColumn, unknownColumnCounts } from './reader.ts'

export interface DbImportOptions {
  /** The old database's schema (default public). */
  schema?: string
  /** Owner of conversations when the old database has no user column. */
  defaultUser: string
  dryRun?: boolean
  onProgress?: (progress: ImportProgress) => void
}

export interface DbImportSummary extends WriteSummary {
  read: { conversations: number; messages: number; usage: number; users: number; subscriptions: number }
  profilesCreated: number
  profilesKept: number
  subscriptionsCreated: number
  subscriptionsKept: number
  replacedCharacters: number
  idMappings: { sourceId: string; id: string }[]
  /** Columns (`table.column`) with no place here: how many rows held a value in them. */
  notKept: NotKept
  /** Tables of the old schema not read, and messages whose conversation does not exist. */
  notRead: { tables: string[]; orphanMessages: number }
  stopped?: string
  dryRun: boolean
}

const text = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? storableText(value) : null)

/** Up to `max` code points of a storable text, or null. */
const cut = (value: unknown, max: number): string | null => {
  const stored = text(value)
  return stored === null ? null : [...stored].slice(0, max).join('')
}

function userId(id: unknown): string {
  if (!isUserId(id)) throw new BadFile(`user id ${JSON.stringify(String(id)).slice(0, 60)} is not 1 to ${USER_ID_MAX_LENGTH} printable characters`)
  return id
}

/** An old conversation and its message rows in llm-council's file format, for the same checks import-json makes. */
function asFileRecord({ row, messages }: OldConversation): Record<string, unknown> {
  return {
    id: row.id,
    user_id: row.userId,
    title: row.title,
    starred: row.starred,
    created_at: row.createdAt,
    updated_at: row.updatedAt,
    messages: messages.map((m, i) => {
      const at = `messages[${i}]`
      const stages = {
        stage1: parseJsonColumn(m.stage1, `${at}.stage1_data`),
        stage2: parseJsonColumn(m.stage2, `${at}.stage2_data`),
        stage3: parseJsonColumn(m.stage3, `${at}.stage3_data`),
        metadata: parseJsonColumn(m.metadata, `${at}.message_metadata`)
      }
      // A user's question with no text is an empty question, not a reason to refuse the conversation.
      const content = m.role === 'user' ? (m.content ?? '') : m.content
      return { role: m.role, content, ...(m.role === 'assistant' ? stages : {}), created_at: m.createdAt }
    })
  }
}

/** A subscription from the ids on an old usage row, one per provider that has any. */
function usageSubscriptions(row: Row, user: string): ImportSubscription[] {
  return (['razorpay', 'stripe'] as const).flatMap((provider) => {
    const customerId = cut(row[`${provider}CustomerId`], 255)
    const subscriptionId = cut(row[`${provider}SubscriptionId`], 255)
    if (customerId === null && subscriptionId === null) return []
    return [{
      userId: user,
      provider,
      customerId,
      subscriptionId,
      status: cut(row.subscriptionStatus, 64),
      plan: cut(row.tier, 64)?.toLowerCase() ?? null,
      currentPeriodEnd: parseTimestamp(row.subscriptionEnd, 'subscription_end'),
      createdAt: null
    }]
  })
}

function subscriptionFrom(row: Row): ImportSubscription {
  const inferred = row.razorpaySubscriptionId || row.razorpayCustomerId ? 'razorpay' : row.stripeSubscriptionId || row.stripeCustomerId ? 'stripe' : 'unknown'
  const provider = cut(row.provider, 32)?.toLowerCase() ?? inferred
  return {
    userId: userId(row.userId),
    provider,
    customerId: cut(row.customerId ?? row[`${provider}CustomerId`], 255),
    subscriptionId: cut(row.subscriptionId ?? row[`${provider}SubscriptionId`], 255),
    status: cut(row.status, 64),
    plan: cut(row.plan, 64),
    currentPeriodEnd: parseTimestamp(row.currentPeriodEnd, 'current_period_end'),
    createdAt: parseTimestamp(row.createdAt, 'created_at')
  }
}

function profileFrom(row: Row): ImportProfile {
  return {
    userId: userId(row.userId),
    email: cut(row.email, EMAIL_MAX_LENGTH),
    displayName: cut(row.displayName, 200),
    avatarUrl: text(row.avatarUrl),
    createdAt: parseTimestamp(row.createdAt, 'created_at')
  }
}

/**
 * Imports the old system's PostgreSQL database: conversations with their messages (through the same
 * checks and writer as import-json), usage, and (where the old database has them) user profiles and
 * payment subscriptions. The old database is read in one read-only, repeatable-read transaction, so
 * it is never written and the import sees one consistent state of it. Idempotent.
 */
export async function runDbImport(source: Sql, repo: TransferRepo, options: DbImportOptions): Promise<DbImportSummary> {
  const schema = options.schema ?? 'public'
  const old = await detectOldSchema(source, schema)
  const summary: DbImportSummary = {
    ...emptyWriteSummary(),
    read: { conversations: 0, messages: 0, usage: 0, users: 0, subscriptions: 0 },
    profilesCreated: 0,
    profilesKept: 0,
    subscriptionsCreated: 0,
    subscriptionsKept: 0,
    replacedCharacters: 0,
    idMappings: [],
    notKept: {},
    notRead: { tables: old.otherTables, orphanMessages: 0 },
    dryRun: Boolean(options.dryRun)
  }
  const progress: ImportProgress = { filesDone: 0, filesTotal: 0, conversations: 0, messages: 0 }
  const settled = () => {
    progress.filesDone++
    progress.messages = summary.messagesAdded
    options.onProgress?.(progress)
  }
  const writer = new ImportWriter(repo, summary, { dryRun: options.dryRun, onSettled: settled })
  // Usage rows are few (one per user) and not counted in the progress, which follows the conversations.
  const usageWriter = new ImportWriter(repo, summary, { dryRun: options.dryRun })
  try {
    await source.begin('isolation level repeatable read read only', async (tx) => {
      await tx`set local timezone = 'UTC'`
      // A hosted database's limits are for requests: the first fetch sorts a whole table, and the
      // transaction waits between fetches while the batch is written to the new database.
      await tx`set local statement_timeout = 0`
      await tx`set local idle_in_transaction_session_timeout = 0`
      progress.filesTotal = await countConversations(tx, old)
      summary.notRead.orphanMessages = await orphanMessages(tx, old)
      for (const table of [old.conversations, old.messages, old.usage, old.users, old.subscriptions]) {
        Object.assign(summary.notKept, await unknownColumnCounts(tx, schema, table))
      }
      await importConversations(tx, old, writer, summary, progress, options.defaultUser)
      await importUsers(tx, old, repo, usageWriter, summary, options.dryRun)
    })
  } catch (error) {
    if (!isDatabaseUnavailable(error)) throw error
    summary.stopped = `a database became unavailable (${errorCode(error) ?? (error as Error).message}) after ${progress.filesDone} of ${progress.filesTotal} rows`
  }
  return summary
}

async function countConversations(tx: Tx, old: OldSchema): Promise<number> {
  const [row] = await tx`select count(*)::float8 as n from ${tx(old.schema)}.${tx(old.conversations.name)}`
  return Number(row!.n)
}

async function importConversations(
  tx: Tx,
  old: OldSchema,
  writer: ImportWriter,
  summary: DbImportSummary,
  progress: ImportProgress,
  defaultUser: string
): Promise<void> {
  const notKeptIn: NotKept = {}
  for await (const batch of oldConversations(tx, old)) {
    for (const item of batch) {
      summary.read.conversations++
      summary.read.messages += item.messages.length
      const label = `conversation ${String(item.row.id).slice(0, 80)}`
      let record
      try {
        record = parseRecord(asFileRecord(item), defaultUser)
      } catch (error) {
        writer.fail(label, error)
        progress.filesDone++
        continue
      }
      if (record.kind !== 'conversation') continue
      progress.conversations++
      summary.replacedCharacters += record.replacedCharacters
      countNotKept(notKeptIn, record.notKept)
      if (record.sourceId) summary.idMappings.push({ sourceId: record.sourceId, id: record.id })
      await writer.conversation(label, record)
    }
  }
  await writer.finish()
  // What a message held beside its answer (a plain-text copy that differs from it): counted by conversation.
  for (const [field, count] of Object.entries(notKeptIn)) summary.notKept[`${field.replace('messages[].', 'messages.')} (conversations)`] = count
}

async function importUsers(tx: Tx, old: OldSchema, repo: TransferRepo, writer: ImportWriter, summary: DbImportSummary, dryRun = false): Promise<void> {
  const profiles: Labelled<ImportProfile>[] = []
  const subscriptions: Labelled<ImportSubscription>[] = []
  /** Each row read on its own: a bad one is reported and the others go on. */
  const each = async (rows: Row[], what: string, use: (row: Row, label: string) => unknown) => {
    for (const row of rows) {
      const label = `${what} ${String(row.userId).slice(0, 80)}`
      try {
        await use(row, label)
      } catch (error) {
        writer.fail(label, error)
      }
    }
  }
  const usageRows = await oldRows(tx, old.schema, old.usage)
  summary.read.usage = usageRows.length
  await each(usageRows, 'usage of', async (row, label) => {
    const user = userId(row.userId)
    const record = parseRecord({
      user_id: user,
      tier: row.tier ?? undefined,
      daily_used: row.dailyUsed,
      monthly_used: row.monthlyUsed,
      total_queries: row.totalQueries,
      last_reset_daily: row.lastResetDaily,
      last_reset_monthly: row.lastResetMonthly
    }, user)
    for (const value of usageSubscriptions(row, user)) subscriptions.push({ label, value })
    if (record.kind !== 'usage') return
    const createdAt = parseTimestamp(row.createdAt, 'created_at')
    await writer.usage(label, { ...record, createdAt, updatedAt: parseTimestamp(row.updatedAt, 'updated_at') ?? createdAt })
  })
  const userRows = await oldRows(tx, old.schema, old.users)
  summary.read.users = userRows.length
  await each(userRows, 'user', (row, label) => profiles.push({ label, value: profileFrom(row) }))
  const subscriptionRows = await oldRows(tx, old.schema, old.subscriptions)
  summary.read.subscriptions = subscriptionRows.length
  await each(subscriptionRows, 'subscription of', (row, label) => subscriptions.push({ label, value: subscriptionFrom(row) }))

  const profileResult = await insertEach(profiles, (rows) => repo.createProfiles(rows, dryRun), writer)
  summary.profilesCreated = profileResult.created
  summary.profilesKept = profiles.length - profileResult.created - profileResult.failed
  const subscriptionResult = await insertEach(subscriptions, (rows) => repo.createSubscriptions(rows, dryRun), writer)
  summary.subscriptionsCreated = subscriptionResult.created
  summary.subscriptionsKept = subscriptions.length - subscriptionResult.created - subscriptionResult.failed
}

type Labelled<T> = { label: string; value: T }

// Rows per INSERT for profiles and subscriptions.
const ROWS_PER_INSERT = 500

/** Inserts in batches; a batch the database refuses is retried row by row, so a bad row is reported alone. */
async function insertEach<T>(items: Labelled<T>[], insert: (rows: T[]) => Promise<number>, writer: ImportWriter): Promise<{ created: number; failed: number }> {
  let created = 0
  let failed = 0
  for (let i = 0; i < items.length; i += ROWS_PER_INSERT) {
    const batch = items.slice(i, i + ROWS_PER_INSERT)
    try {
      created += await insert(batch.map((item) => item.value))
    } catch (error) {
      if (isDatabaseUnavailable(error)) throw error
      for (const item of batch) {
        try {
          created += await insert([item.value])
        } catch (rowError) {
          writer.fail(item.label, rowError)
          failed++
        }
      }
    }
  }
  return { created, failed }
}
