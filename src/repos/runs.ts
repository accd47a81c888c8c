import { and, asc, eq, gt, inArray, lt, sql } from 'drizzle-orm'
import { storable } from '../db/json.ts'
import { conversations, runEvents, runs, type RunState } from '../db/schema.ts'
import { UNTIMED, type QueryTimer } from '../db/slow-queries.ts'
import { isoTimestamp } from '../db/sql.ts'
import type { Db } from '../db/types.ts'

/** The channels instances share live runs on: new events stored (payload: run ids), and cancel requests (a run id). */
export const EVENTS_CHANNEL = 'llmc_run_events'
export const CANCEL_CHANNEL = 'llmc_run_cancel'
// A run stores a batch of events every quarter second: a read takes this many batches at most.
const BATCHES_PER_READ = 200
// NOTIFY payloads stop at 8000 bytes: run ids go in lists of at most this many (37 bytes each).
const IDS_PER_NOTIFY = 200

/** A run whose instance died, taken by this one to store what it had. */
export type StaleRun = Awaited<ReturnType<RunsRepo['claimStale']>>[number]

/** A run as the API shows it. */
export interface RunRow {
  id: string
  conversation_id: string
  state: RunState
  question_position: number
  answer_position: number | null
  started_at: string
  ended_at: string | null
}

export interface StoredEvent {
  id: number
  event: { type: string } & Record<string, unknown>
}

export interface EventBatch {
  runId: string
  firstId: number
  events: unknown[]
}

const runColumns = {
  id: runs.id,
  conversation_id: runs.conversationId,
  state: runs.state,
  question_position: runs.questionPosition,
  answer_position: runs.answerPosition,
  started_at: isoTimestamp(runs.createdAt),
  ended_at: sql<string | null>`case when ${runs.endedAt} is null then null else ${isoTimestamp(runs.endedAt)} end`
}

const owned = (userId: string, conversationId: string) =>
  sql`exists (select 1 from ${conversations} where ${conversations.id} = ${conversationId} and ${conversations.userId} = ${userId})`

/** Council runs and their stored events. Reads for a user check the conversation is theirs. */
export class RunsRepo {
  #db: Db
  #timer: QueryTimer

  constructor(db: Db, timer: QueryTimer = UNTIMED) {
    this.#db = db
    this.#timer = timer
  }

  /** A run of the user's conversation; null when there is none. */
  async get(userId: string, conversationId: string, runId: string): Promise<RunRow | null> {
    const [row] = await this.#timer.time(
      'runs.get',
      this.#db.select(runColumns).from(runs).where(and(eq(runs.id, runId), eq(runs.conversationId, conversationId), owned(userId, conversationId)))
    )
    return row ?? null
  }

  /** A run's state and answer position, whoever's it is (for the instances following it), and how long ago it ended. */
  async state(runId: string): Promise<(Pick<RunRow, 'state' | 'answer_position'> & { ended_ms_ago: number | null }) | null> {
    const [row] = await this.#db
      .select({
        state: runs.state,
        answer_position: runs.answerPosition,
        // By the database's clock, like every other time here.
        ended_ms_ago: sql<number | null>`(extract(epoch from now() - ${runs.endedAt}) * 1000)::float8`
      })
      .from(runs)
      .where(eq(runs.id, runId))
    return row ? { ...row, ended_ms_ago: row.ended_ms_ago === null ? null : Number(row.ended_ms_ago) } : null
  }

  /** The run an Idempotency-Key started in this conversation, with the hash of the request it came with. */
  async byKey(userId: string, conversationId: string, key: string): Promise<(RunRow & { request_hash: string | null }) | null> {
    const [row] = await this.#timer.time(
      'runs.byKey',
      this.#db
        .select({ ...runColumns, request_hash: runs.requestHash })
        .from(runs)
        .where(and(eq(runs.conversationId, conversationId), eq(runs.idempotencyKey, key), owned(userId, conversationId)))
    )
    return row ?? null
  }

  /**
   * Stores batches of events (each run's next ones, numbered on from `firstId`) and tells every
   * instance listening which runs have news, in one transaction: a listener reads them committed.
   */
  async appendEvents(batches: EventBatch[]): Promise<void> {
    if (batches.length === 0) return
    // A model's text may hold what JSONB cannot (U+0000, half a surrogate pair split between pieces).
    const rows = batches.map(({ runId, firstId, events }) => ({ runId, firstId, lastId: firstId + events.length - 1, events: storable(events) }))
    const ids = [...new Set(batches.map((batch) => batch.runId))]
    await this.#timer.time(
      'runs.appendEvents',
      this.#db.transaction(async (tx) => {
        // A batch stored by an attempt whose answer was lost (a timeout after the commit) is not stored twice.
        await tx.insert(runEvents).values(rows).onConflictDoNothing({ target: [runEvents.runId, runEvents.firstId] })
        for (let i = 0; i < ids.length; i += IDS_PER_NOTIFY) {
          await tx.execute(sql`select pg_notify(${EVENTS_CHANNEL}, ${ids.slice(i, i + IDS_PER_NOTIFY).join(',')})`)
        }
      })
    )
  }

  /** A run's stored events after `after`, in order: up to `limit` stored batches; `more` when others follow. */
  async eventsAfter(runId: string, after: number, limit = BATCHES_PER_READ): Promise<{ events: StoredEvent[]; more: boolean }> {
    const rows = await this.#timer.time(
      'runs.eventsAfter',
      this.#db
        .select({ firstId: runEvents.firstId, events: runEvents.events })
        .from(runEvents)
        .where(and(eq(runEvents.runId, runId), gt(runEvents.lastId, after)))
        .orderBy(asc(runEvents.firstId))
        .limit(limit + 1)
    )
    const events = rows
      .slice(0, limit)
      .flatMap(({ firstId, events }) => events.map((event, i) => ({ id: firstId + i, event: event as StoredEvent['event'] })))
      .filter((stored) => stored.id > after)
    return { events, more: rows.length > limit }
  }

  /** Every stored event of a run, read a page at a time. */
  async allEvents(runId: string): Promise<StoredEvent[]> {
    const all: StoredEvent[] = []
    for (let more = true; more; ) {
      const page = await this.eventsAfter(runId, all.at(-1)?.id ?? 0)
      all.push(...page.events)
      more = page.more
    }
    return all
  }

  /** Keeps this instance's running runs alive; the ones asked to stop meanwhile (on any instance) are returned. */
  async heartbeat(runIds: string[]): Promise<string[]> {
    if (runIds.length === 0) return []
    const rows = await this.#timer.time(
      'runs.heartbeat',
      this.#db
        .update(runs)
        .set({ heartbeatAt: sql`now()` })
        .where(and(inArray(runs.id, runIds), eq(runs.state, 'running')))
        .returning({ id: runs.id, cancel: runs.cancelRequested })
    )
    return rows.filter((row) => row.cancel).map((row) => row.id)
  }

  /**
   * Takes runs whose heartbeat stopped more than `staleMs` ago (their instance died) and marks them
   * interrupted. Each is taken by one instance only; the caller stores what they had.
   */
  async claimStale(staleMs: number, limit = 100) {
    const stale = this.#db
      .select({ id: runs.id })
      .from(runs)
      .where(and(eq(runs.state, 'running'), lt(runs.heartbeatAt, sql`now() - ${staleMs} * interval '1 millisecond'`)))
      .limit(limit)
      .for('update', { skipLocked: true })
    return this.#timer.time(
      'runs.claimStale',
      this.#db
        .update(runs)
        .set({ state: 'interrupted', endedAt: sql`now()` })
        .where(inArray(runs.id, stale))
        .returning({
          id: runs.id,
          conversationId: runs.conversationId,
          userId: sql<string>`(select ${conversations.userId} from ${conversations} where ${conversations.id} = ${runs.conversationId})`,
          // The UTC day its unit was taken on, for a refund.
          day: sql<string>`((${runs.createdAt} at time zone 'UTC')::date)::text`,
          questionPosition: runs.questionPosition,
          answerPosition: runs.answerPosition,
          council: runs.council
        })
    )
  }

  /** Asks a running run of the user's to stop: false when it is not running (ended, or not theirs). */
  async requestCancel(userId: string, conversationId: string, runId: string): Promise<boolean> {
    const rows = await this.#timer.time(
      'runs.requestCancel',
      this.#db
        .update(runs)
        .set({ cancelRequested: true })
        .where(and(eq(runs.id, runId), eq(runs.conversationId, conversationId), eq(runs.state, 'running'), owned(userId, conversationId)))
        .returning({ id: runs.id })
    )
    if (rows.length > 0) await this.#db.execute(sql`select pg_notify(${CANCEL_CHANNEL}, ${runId})`)
    return rows.length > 0
  }

  /** Deletes the events of ended runs stored more than `keepMs` ago; the runs themselves stay. */
  async purgeEvents(keepMs: number): Promise<number> {
    const rows = await this.#timer.time(
      'runs.purgeEvents',
      this.#db
        .delete(runEvents)
        .where(
          and(
            lt(runEvents.createdAt, sql`now() - ${keepMs} * interval '1 millisecond'`),
            sql`not exists (select 1 from ${runs} where ${runs.id} = ${runEvents.runId} and ${runs.state} = 'running')`
          )
        )
        .returning({ runId: runEvents.runId })
    )
    return rows.length
  }
}
