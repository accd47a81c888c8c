import { createHash } from 'node:crypto'
import type { AssistantMetadata, Stage1Result, Stage2Result, Stage3Result } from '../../council/types.ts'
import { replacementCount, storable } from '../../db/json.ts'
import { DEFAULT_TIER, TITLE_MAX_LENGTH, USER_ID_MAX_LENGTH, UUID, isUserId } from '../../domain.ts'
import type { ImportConversation, ImportMessage, ImportUsage } from '../../repos/transfer.ts'
import { jsonDepth, unstorable } from '../../validation.ts'

/** llm-council's files nest five levels at most (a ranking inside a stage inside a message); some room for forks' additions. */
export const MAX_FILE_DEPTH = 64

const NAIVE = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/

/** A file that cannot be imported, with the reason a person can act on. */
export class BadFile extends Error {
  override name = 'BadFile'
}

// A fixed namespace: the same file always maps to the same UUID, so re-runs stay idempotent.
const NAMESPACE = 'llm-council-server/import/v1'

/** A UUID (version 5 layout, SHA-1) derived from the owner and a non-UUID id. */
export function derivedUuid(userId: string, sourceId: string): string {
  const hash = createHash('sha1').update(`${NAMESPACE}\u0000${userId}\u0000${sourceId}`).digest()
  hash[6] = (hash[6]! & 0x0f) | 0x50
  hash[8] = (hash[8]! & 0x3f) | 0x80
  const hex = hash.subarray(0, 16).toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
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

function message(raw: unknown, index: number): ImportMessage {
  const at = `messages[${index}]`
  if (!isObject(raw)) throw new BadFile(`${at} is not an object`)
  if (raw.role === 'user') {
    if (typeof raw.content !== 'string') throw new BadFile(`${at}.content is not a string`)
    return { role: 'user', content: raw.content }
  }
  if (raw.role === 'assistant') {
    return {
      role: 'assistant',
      stage1: arrayOfObjects(raw.stage1, `${at}.stage1`) as Stage1Result[] | null,
      stage2: arrayOfObjects(raw.stage2, `${at}.stage2`) as Stage2Result[] | null,
      stage3: objectOrNull(raw.stage3, `${at}.stage3`) as Stage3Result | null,
      metadata: objectOrNull(raw.metadata, `${at}.metadata`) as AssistantMetadata | null
    }
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
  if (!isObject(raw)) throw new BadFile('not a JSON object')
  // Ids are checked as written: folding half a surrogate pair into U+FFFD would make two ids one.
  const userId = userIdFrom(raw.user_id, owner)
  const idProblem = typeof raw.id === 'string' ? unstorable(raw.id) : null
  if (idProblem) throw new BadFile(`"id" ${idProblem}`)
  const counter = { count: 0 }
  const data = storable(raw, counter)

  if (!('messages' in data) && ('daily_used' in data || 'daily_count' in data || 'total_queries' in data)) {
    if (data.tier !== undefined && (typeof data.tier !== 'string' || !/^[a-z0-9_-]{1,64}$/i.test(data.tier))) {
      throw new BadFile('tier must be a tier name')
    }
    return {
      kind: 'usage',
      userId,
      tier: typeof data.tier === 'string' ? data.tier.toLowerCase() : DEFAULT_TIER,
      dailyUsed: count(data.daily_used ?? data.daily_count, 'daily_used'),
      monthlyUsed: count(data.monthly_used ?? data.monthly_count, 'monthly_used'),
      totalQueries: count(data.total_queries, 'total_queries'),
      lastResetDaily: dateOnly(data.last_reset_daily ?? data.last_daily_reset, 'last_reset_daily'),
      lastResetMonthly: dateOnly(data.last_reset_monthly ?? data.last_monthly_reset, 'last_reset_monthly')
    }
  }

  if (typeof data.id !== 'string' || data.id.trim() === '') throw new BadFile('no "id": a conversation file needs one')
  if (!Array.isArray(data.messages)) throw new BadFile('"messages" is missing or not a list')
  if (data.title !== undefined && data.title !== null && typeof data.title !== 'string') throw new BadFile('title is not a string')
  if (data.starred !== undefined && data.starred !== null && typeof data.starred !== 'boolean') throw new BadFile('starred is not true or false')
  const isUuid = UUID.test(data.id)
  // Cut on code points, as PostgreSQL counts varchar's length: never half of a surrogate pair.
  const title = typeof data.title === 'string' ? [...data.title.trim()].slice(0, TITLE_MAX_LENGTH).join('') || null : null
  return {
    kind: 'conversation',
    id: isUuid ? data.id.toLowerCase() : derivedUuid(userId, data.id),
    sourceId: isUuid ? null : data.id,
    userId,
    title,
    starred: typeof data.starred === 'boolean' ? data.starred : null,
    createdAt: parseTimestamp(data.created_at, 'created_at'),
    messages: data.messages.map(message),
    replacedCharacters: counter.count
  }
}
