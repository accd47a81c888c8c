import { type SQL, and, desc, eq, exists, inArray, ne, not, sql } from 'drizzle-orm'
import { conversations, messages } from '../db/schema.ts'
import { isoTimestamp } from '../db/sql.ts'
import { UNTIMED, type QueryTimer } from '../db/slow-queries.ts'
import type { Db } from '../db/types.ts'
import { type RecencyCursor, decodeCursor, encodeCursor } from './cursor.ts'

/** Where a conversation matched, best first: its title, a question or final answer, a council member's answer. */
export const MATCHES = ['title', 'message', 'council'] as const
export type SearchMatch = (typeof MATCHES)[number]

export interface SnippetPart {
  text: string
  /** A matching word. */
  mark?: true
}

export interface SearchResult {
  id: string
  title: string
  updated_at: string
  starred: boolean
  match: SearchMatch
  /** The message the snippet comes from (its position); null for a title match. */
  position: number | null
  snippet: SnippetPart[]
}

/** Where a page of results ends: the match group and the last row's place in it. */
export interface SearchCursor extends RecencyCursor {
  match: number
}

export function encodeSearchCursor(match: number, row: { updated_at: string; id: string }): string {
  return `${match}.${encodeCursor(row)}`
}

/** The cursor in `value`, or null when it is not one this server wrote. */
export function decodeSearchCursor(value: string): SearchCursor | null {
  const [, match, rest] = /^([0-2])\.(.+)$/.exec(value) ?? []
  const recency = rest === undefined ? null : decodeCursor(rest)
  return recency && { match: Number(match), ...recency }
}

// ts_headline marks matches with these (private-use characters, which answers do not carry).
const START = '\uE000'
const STOP = '\uE001'
const HEADLINE_OPTIONS = `StartSel=${START}, StopSel=${STOP}, MaxWords=30, MinWords=12, MaxFragments=2, FragmentDelimiter=" … "`
const TITLE_HEADLINE_OPTIONS = `StartSel=${START}, StopSel=${STOP}, HighlightAll=true`
// ts_headline reads the whole text it is given: a long answer is cut first.
const HEADLINE_TEXT_MAX = 100_000

function snippetParts(headline: string): SnippetPart[] {
  const parts: SnippetPart[] = []
  for (const [i, piece] of headline.split(START).entries()) {
    const [marked, after] = i === 0 ? [undefined, piece] : piece.split(STOP, 2)
    if (marked) parts.push({ text: marked, mark: true })
    if (after) parts.push({ text: after.replaceAll(STOP, '') })
  }
  return parts
}

// The correlated subqueries name the outer row in full: drizzle leaves columns unqualified in a one-table select.
const outerConversationId = sql.raw('"conversations"."id"')

/**
 * Full-text search over one user's conversations (PostgreSQL's own, on the generated `search` columns
 * and their GIN indexes). Results come in three groups, best first: title matches, then question or
 * final-answer matches, then matches only in a council member's answer; most recently active first
 * within a group. Each group is read in recency order with a limit, so a common word stops at a page.
 */
export class SearchRepo {
  #db: Db
  #timer: QueryTimer
  #language: string

  constructor(db: Db, language: string, timer: QueryTimer = UNTIMED) {
    this.#db = db
    this.#language = language
    this.#timer = timer
  }

  async search(userId: string, text: string, { limit, before }: { limit: number; before?: SearchCursor }): Promise<{ results: SearchResult[]; nextCursor: string | null }> {
    const query = sql`websearch_to_tsquery(${this.#language}::regconfig, ${text})`
    const found: Array<Omit<SearchResult, 'snippet'> & { group: number }> = []
    for (let group = before?.match ?? 0; group < MATCHES.length && found.length <= limit; group++) {
      const after = before && before.match === group ? before : undefined
      const rows = await this.#timer.time(`search.${MATCHES[group]}`, this.#group(userId, query, group, after, limit + 1 - found.length))
      found.push(...rows.map((row) => ({ ...row, match: MATCHES[group]!, group })))
    }
    const page = found.slice(0, limit)
    const snippets = page.length === 0 ? new Map<string, string>() : await this.#snippets(userId, query, page)
    const results = page.map(({ group: _, ...row }) => ({ ...row, snippet: snippetParts(snippets.get(row.id) ?? row.title) }))
    const last = page.at(-1)
    return { results, nextCursor: found.length > limit && last ? encodeSearchCursor(last.group, last) : null }
  }

  /** One group's matches after `after`, most recent first. */
  #group(userId: string, query: SQL, group: number, after: RecencyCursor | undefined, fetch: number) {
    const titleMatches = sql`${conversations.search} @@ ${query}`
    const messageMatch = (column: typeof messages.search | typeof messages.searchCouncil) =>
      this.#db
        .select({ position: messages.position })
        .from(messages)
        .where(and(eq(messages.conversationId, outerConversationId), sql`${column} @@ ${query}`))
    const firstPosition = (column: typeof messages.search | typeof messages.searchCouncil) => sql<number>`(${messageMatch(column).orderBy(messages.position).limit(1)})`
    const [position, where] =
      group === 0
        ? [sql<number | null>`null::int`, titleMatches]
        : group === 1
          ? [firstPosition(messages.search), and(not(titleMatches), exists(messageMatch(messages.search)))]
          : [firstPosition(messages.searchCouncil), and(not(titleMatches), not(exists(messageMatch(messages.search))), exists(messageMatch(messages.searchCouncil)))]
    return this.#db
      .select({
        id: conversations.id,
        title: conversations.title,
        updated_at: isoTimestamp(conversations.updatedAt),
        starred: conversations.starred,
        position
      })
      .from(conversations)
      .where(
        and(
          eq(conversations.userId, userId),
          where,
          after ? sql`(${conversations.updatedAt}, ${conversations.id}) < (${after.updatedAt}::timestamptz, ${after.id}::uuid)` : undefined
        )
      )
      .orderBy(desc(conversations.updatedAt), desc(conversations.id))
      .limit(fetch)
  }

  /**
   * Re-indexes up to `limit` rows of each table written under another SEARCH_LANGUAGE (the UPDATE makes
   * the database compute their `search` columns again); returns how many it changed.
   */
  async reindexBatch(limit = 500): Promise<number> {
    const language = sql`${this.#language}::regconfig`
    let changed = 0
    for (const table of [conversations, messages] as const) {
      const stale = this.#db.select({ id: table.id }).from(table).where(ne(table.searchConfig, language)).limit(limit)
      const rows = await this.#db.update(table).set({ searchConfig: language }).where(inArray(table.id, stale)).returning({ id: table.id })
      changed += rows.length
    }
    return changed
  }

  /** The highlighted passage of each result: its message's text around the matches, or its title. */
  async #snippets(userId: string, query: SQL, page: Array<Omit<SearchResult, 'snippet'>>): Promise<Map<string, string>> {
    const owned = and(eq(conversations.userId, userId), inArray(conversations.id, page.map((row) => row.id)))
    const titles = page.filter((row) => row.position === null).map((row) => row.id)
    const inMessages = page.filter((row) => row.position !== null)
    const councilText = sql`array_to_string(array(select jsonb_array_elements_text(jsonb_path_query_array(${messages.stage1}, '$[*].response'))), E'\\n\\n')`
    const text = sql`left(case when ${messages.role} = 'user' then coalesce(${messages.content}, '') else coalesce(${messages.stage3} ->> 'response', '') end, ${HEADLINE_TEXT_MAX})`
    const [titleRows, messageRows] = await this.#timer.time(
      'search.snippets',
      Promise.all([
        titles.length === 0
          ? []
          : this.#db
              .select({ id: conversations.id, headline: sql<string>`ts_headline(${this.#language}::regconfig, ${conversations.title}, ${query}, ${TITLE_HEADLINE_OPTIONS})` })
              .from(conversations)
              .where(and(owned, inArray(conversations.id, titles))),
        inMessages.length === 0
          ? []
          : this.#db
              .select({
                id: messages.conversationId,
                headline: sql<string>`ts_headline(${this.#language}::regconfig,
                  case when ${messages.search} @@ ${query} then ${text} else left(${councilText}, ${HEADLINE_TEXT_MAX}) end, ${query}, ${HEADLINE_OPTIONS})`
              })
              .from(messages)
              .innerJoin(conversations, eq(conversations.id, messages.conversationId))
              .where(
                and(owned, sql`(${messages.conversationId}, ${messages.position}) in (${sql.join(
                  inMessages.map((row) => sql`(${row.id}::uuid, ${row.position}::int)`),
                  sql`, `
                )})`)
              )
      ])
    )
    return new Map([...titleRows, ...messageRows].map((row) => [row.id, row.headline]))
  }
}
