import type { AssistantMetadata, Stage1Result, Stage2Result, Stage3Result } from '../../council/types.ts'
import { replacementCount, storable } from '../../db/json.ts'
import { DEFAULT_TIER, TITLE_MAX_LENGTH, USER_ID_MAX_LENGTH, UUID, derivedUuid, isUserId } from '../../domain.ts'
import type { ImportConversation, ImportMessage, ImportUsage, NotKept } from '../../repos/transfer.ts'
import { jsonDepth, unstorable } from '../../validation.ts'

/** llm-council's files nest five levels at most (a ranking inside a stage inside a message); some room for forks' additions. */
export const MAX_FILE_DEPTH = 64

const NAIVE = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/

/** A file that cannot be imported, with the reason a person can act on. */
export class BadFile extends Error {
  override name = 'BadFile'
}

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?/

/** Whether the calendar date and clock time written at the start of `text` exist (Date.parse rolls 2026-02-30 over to 2 March). */
function isRealDateTime(text: string): boolean {
  const match = DATE_TIME.exec(text)
  if (!match) return true // another format Date.parse understands; it checks its own fields
  const [year, month, day, hour = 0, minute = 0, second = 0] = match.slice(1).map((part) => (part === undefined ? undefined : Number(part))) as number[]
  const daysInMonth = new Date(Date.UTC(year!, month!, 0)).getUTCDate()
  return month! >= 1 && month! <= 12 && day! >= 1 && day! <= daysInMonth && hour <= 23 && minute <= 59 && second <= 59
}

/** llm-council wrote naive timestamps meaning UTC; ones with an offset keep it. ISO-8601 UTC out. */
export function parseTimestamp(value: unknown, field: string): string | null {
  if (value === undefined || value === null) return null
  if (typeof value !== 'string') throw new BadFile(`${field} is not a timestamp string`)
  const text = NAIVE.test(value.trim()) ? `${value.trim().replace(' ', 'T')}Z` : value.trim()
  const time = Date.parse(text)
  if (Number.isNaN(time) || !isRealDateTime(text)) throw new BadFile(`${field} "${value.slice(0, 40)}" is not a real date and time`)
  // Keep microseconds that Date would drop.
  const micros = /\.(\d{4,6})/.exec(text)?.[1]
  const iso = new Date(time).toISOString()
  return micros ? iso.replace(/\.\d{3}Z$/, `.${micros.padEnd(6, '0')}Z`) : iso
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function arrayOfObjects(value: unknown, field: string): unknown[] | null {
  if (value === undefined || value === null) return null
  if (!Array.isArray(value) || !value.every(isObject)) throw new BadFile(`${field} is not a list of objects`)
  return value
}

function objectOrNull(value: unknown, field: string): Record<string, unknown> | null {
  if (value === undefined || value === null) return null
  if (!isObject(value)) throw new BadFile(`${field} is not an object`)
  return value
}

const CONVERSATION_FIELDS = new Set(['id', 'user_id', 'title', 'starred', 'created_at', 'updated_at', 'messages'])
const MESSAGE_TIME_FIELDS = ['created_at', 'timestamp'] as const
const USER_MESSAGE_FIELDS = new Set(['role', 'kind', 'content', ...MESSAGE_TIME_FIELDS])
const ASSISTANT_MESSAGE_FIELDS = new Set(['role', 'stage1', 'stage2', 'stage3', 'metadata', ...MESSAGE_TIME_FIELDS])
// Usage limits are known and left out on purpose: a user's limits come from their tier.
const USAGE_FIELDS = new Set([
  'user_id', 'tier', 'daily_used', 'daily_count', 'monthly_used', 'monthly_count', 'total_queries',
  'last_reset_daily', 'last_daily_reset', 'last_reset_monthly', 'last_monthly_reset', 'daily_limit', 'monthly_limit'
])

function noteUnknown(raw: Record<string, unknown>, known: Set<string>, prefix: string, notKept: NotKept): void {
  for (const key of Object.keys(raw)) {
    if (!known.has(key) && raw[key] !== null && raw[key] !== undefined) notKept[prefix + key] = (notKept[prefix + key] ?? 0) + 1
  }
}

/** A message's own time (`created_at`, or `timestamp` as some forks wrote it), if it has one. */
function messageTime(raw: Record<string, unknown>, at: string): string | null {
  for (const field of MESSAGE_TIME_FIELDS) {
    const time = parseTimestamp(raw[field], `${at}.${field}`)
    if (time) return time
  }
  return null
}

/**
 * An assistant message written the way older versions and forks did, `{role, content}` with no
 * stages: its text is the answer, so it is kept as the final stage (by `model` when the message names one).
 */
function plainAnswer(raw: Record<string, unknown>, at: string, notKept: NotKept): Stage3Result {
  if (typeof raw.content !== 'string') throw new BadFile(`${at}.content is not a string`)
  const model = typeof raw.model === 'string' && raw.model.trim() !== '' ? raw.model : 'unknown'
  noteUnknown(raw, new Set([...ASSISTANT_MESSAGE_FIELDS, 'content', 'model']), 'messages[].', notKept)
  return { model, response: raw.content }
}

function message(raw: unknown, index: number, notKept: NotKept): ImportMessage {
  const at = `messages[${index}]`
  if (!isObject(raw)) throw new BadFile(`${at} is not an object`)
  const createdAt = messageTime(raw, at)
  if (raw.role === 'user') {
    if (typeof raw.content !== 'string') throw new BadFile(`${at}.content is not a string`)
    noteUnknown(raw, USER_MESSAGE_FIELDS, 'messages[].', notKept)
    // A follow-up (facts sent without a council run), as export-json writes it; any other kind is a question.
    if (raw.kind === 'follow_up') return { role: 'user', kind: 'follow_up', content: raw.content, createdAt }
    return { role: 'user', content: raw.content, createdAt }
  }
  if (raw.role === 'assistant') {
    const stage3 = objectOrNull(raw.stage3, `${at}.stage3`) as Stage3Result | null
    const stage1 = arrayOfObjects(raw.stage1, `${at}.stage1`) as Stage1Result[] | null
    const stage2 = arrayOfObjects(raw.stage2, `${at}.stage2`) as Stage2Result[] | null
    const metadata = objectOrNull(raw.metadata, `${at}.metadata`) as AssistantMetadata | null
    if (stage3 === null && raw.content !== undefined && raw.content !== null) {
      return { role: 'assistant', stage1, stage2, stage3: plainAnswer(raw, at, notKept), metadata, createdAt }
    }
    // Some versions also wrote the final answer into `content`: that copy is kept, in stage 3.
    const known = raw.content === stage3?.response ? new Set([...ASSISTANT_MESSAGE_FIELDS, 'content']) : ASSISTANT_MESSAGE_FIELDS
    noteUnknown(raw, known, 'messages[].', notKept)
    return { role: 'assistant', stage1, stage2, stage3, metadata, createdAt }
  }
  throw new BadFile(`${at}.role must be "user" or "assistant"`)
}

function userIdFrom(value: unknown, fallback: string): string {
  if (value === undefined || value === null || value === '') return fallback
  if (!isUserId(value)) throw new BadFile(`user_id must be a string of 1 to ${USER_ID_MAX_LENGTH} printable characters of valid Unicode`)
  return value
}

function count(value: unknown, field: string): number {
  if (value === undefined || value === null) return 0
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw new BadFile(`${field} is not a whole number`)
  return value
}

function dateOnly(value: unknown, field: string): string | null {
  const iso = parseTimestamp(value, field)
  return iso ? iso.slice(0, 10) : null
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })
const lenientUtf8 = new TextDecoder('utf-8')
const REPLACEMENT_BYTES = Buffer.from('\uFFFD')

/** A file's text (a byte-order mark dropped), and how many invalid UTF-8 sequences became U+FFFD in it. */
export function decodeFile(bytes: Buffer): { text: string; invalidUtf8: number } {
  try {
    return { text: strictUtf8.decode(bytes), invalidUtf8: 0 }
  } catch {
    const text = lenientUtf8.decode(bytes)
    // Every U+FFFD in the text, less those the file itself held.
    let inFile = 0
    for (let at = bytes.indexOf(REPLACEMENT_BYTES); at !== -1; at = bytes.indexOf(REPLACEMENT_BYTES, at + REPLACEMENT_BYTES.length)) inFile++
    return { text, invalidUtf8: replacementCount(text) - inFile }
  }
}

/**
 * One llm-council file, checked and normalised. A conversation needs an id and a messages list;
 * a usage file has the counters of either shape llm-council wrote. `owner` is whose it is when the
 * file does not say (its folder's user, `--user`, or the local user).
 */
export function parseFile(text: string, owner: string): ImportConversation | ImportUsage {
  // Before parsing: nothing recursive (the NUL walk, the database's JSONB) may meet a file nested without end.
  if (jsonDepth(text) > MAX_FILE_DEPTH) throw new BadFile(`nested more than ${MAX_FILE_DEPTH} levels deep: not an llm-council file`)
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (error) {
    throw new BadFile(`invalid JSON: ${(error as Error).message}`)
  }
  return parseRecord(raw, owner)
}

/**
 * One conversation or usage record in llm-council's file format, from a file or built from another
 * source's rows (import-db), checked and normalised.
 */
export function parseRecord(raw: unknown, owner: string): ImportConversation | ImportUsage {
  if (!isObject(raw)) throw new BadFile('not a JSON object')
  // Ids are checked as written: folding half a surrogate pair into U+FFFD would make two ids one.
  const userId = userIdFrom(raw.user_id, owner)
  const idProblem = typeof raw.id === 'string' ? unstorable(raw.id) : null
  if (idProblem) throw new BadFile(`"id" ${idProblem}`)
  const counter = { count: 0 }
  const data = storable(raw, counter)

  const notKept: NotKept = {}
  if (!('messages' in data) && ('daily_used' in data || 'daily_count' in data || 'total_queries' in data)) {
    if (data.tier !== undefined && (typeof data.tier !== 'string' || !/^[a-z0-9_-]{1,64}$/i.test(data.tier))) {
      throw new BadFile('tier must be a tier name')
    }
    noteUnknown(data, USAGE_FIELDS, '', notKept)
    return {
      kind: 'usage',
      userId,
      tier: typeof data.tier === 'string' ? data.tier.toLowerCase() : DEFAULT_TIER,
      dailyUsed: count(data.daily_used ?? data.daily_count, 'daily_used'),
      monthlyUsed: count(data.monthly_used ?? data.monthly_count, 'monthly_used'),
      totalQueries: count(data.total_queries, 'total_queries'),
      lastResetDaily: dateOnly(data.last_reset_daily ?? data.last_daily_reset, 'last_reset_daily'),
      lastResetMonthly: dateOnly(data.last_reset_monthly ?? data.last_monthly_reset, 'last_reset_monthly'),
      notKept
    }
  }

  if (typeof data.id !== 'string' || data.id.trim() === '') throw new BadFile('no "id": a conversation file needs one')
  if (!Array.isArray(data.messages)) throw new BadFile('"messages" is missing or not a list')
  if (data.title !== undefined && data.title !== null && typeof data.title !== 'string') throw new BadFile('title is not a string')
  if (data.starred !== undefined && data.starred !== null && typeof data.starred !== 'boolean') throw new BadFile('starred is not true or false')
  const isUuid = UUID.test(data.id)
  // Cut on code points, as PostgreSQL counts varchar's length: never half of a surrogate pair.
  const title = typeof data.title === 'string' ? [...data.title.trim()].slice(0, TITLE_MAX_LENGTH).join('') || null : null
  noteUnknown(data, CONVERSATION_FIELDS, '', notKept)
  const messages = data.messages.map((raw, index) => message(raw, index, notKept))
  return {
    kind: 'conversation',
    id: isUuid ? data.id.toLowerCase() : derivedUuid(userId, data.id),
    sourceId: isUuid ? null : data.id,
    userId,
    title,
    starred: typeof data.starred === 'boolean' ? data.starred : null,
    createdAt: parseTimestamp(data.created_at, 'created_at'),
    updatedAt: parseTimestamp(data.updated_at, 'updated_at'),
    messages,
    replacedCharacters: counter.count,
    notKept
  }
}
