import { type SQL, and, desc, eq, exists, lt, sql } from 'drizzle-orm'
import type { PastMessage } from '../council/context.ts'
import type { AssistantStages } from '../council/types.ts'
import { storable } from '../db/json.ts'
import type { CouncilRecord } from '../council/types.ts'
import { conversations, messages, runs, type RunState } from '../db/schema.ts'
import { UNTIMED, type QueryTimer } from '../db/slow-queries.ts'
import type { Db } from '../db/types.ts'

const byIdAndOwner = (userId: string, conversationId: string) => and(eq(conversations.id, conversationId), eq(conversations.userId, userId))

type NewMessage = { role: 'user'; kind?: 'follow_up'; content: string } | ({ role: 'assistant' } & AssistantStages)

// The most earlier messages a run reads for its context (a hundred exchanges): the character budget
// keeps far fewer in ordinary use, and a run never reads a whole long conversation.
const HISTORY_MESSAGES = 200

/** The run a question or a retry starts, stored with it. */
export interface NewRun {
  id: string
  council: CouncilRecord
  idempotencyKey?: string
  requestHash?: string
}

/** How a run ended, stored with its answer. */
export interface RunEnd {
  id: string
  state: Exclude<RunState, 'running'>
}

/** A run with this Idempotency-Key exists in the conversation: the caller joins it. */
export const DUPLICATE = 'duplicate' as const
class Duplicate extends Error {}

/** A stored answer a retry works on, with the question it answers. */
export interface RetryTarget {
  question: string
  questionPosition: number
  answer: AssistantStages
}

/** Appends messages to a user's conversation. */
export class MessagesRepo {
  #db: Db
  #timer: QueryTimer

  #history

  constructor(db: Db, timer: QueryTimer = UNTIMED) {
    this.#db = db
    this.#timer = timer
    // Every question after the first reads this: prepared, like the other per-request statements.
    this.#history = db
      .select({
        role: messages.role,
        kind: messages.kind,
        content: messages.content,
        final: sql<string | null>`${messages.stage3}->>'response'`,
        status: sql<string | null>`${messages.metadata}->>'status'`
      })
      .from(messages)
      .where(and(eq(messages.conversationId, sql.placeholder('conversationId')), lt(messages.position, sql.placeholder('position'))))
      .orderBy(desc(messages.position))
      .limit(HISTORY_MESSAGES)
      .prepare('messages_history')
  }

  /**
   * Starts a council run: stores the user's question and marks the conversation as running, in one
   * transaction. Its position; `busy` when another run holds the conversation (one that started less
   * than `leaseMs` ago: a run whose server died frees it after that); null when the conversation is
   * not the user's.
   */
  startRun(userId: string, conversationId: string, content: string, leaseMs: number, run: NewRun): Promise<number | 'busy' | typeof DUPLICATE | null> {
    // One conditional UPDATE takes the run: a concurrent one waits on the row lock, then finds the run
    // taken. Only a refusal needs a second look, to tell "busy" from "not yours".
    const free = this.#free(leaseMs)
    const started = this.#db
      .transaction(async (tx) => {
        const position = await this.#append(tx, userId, conversationId, { role: 'user', content }, sql`now()`, free)
        if (position === null) return this.#busyOrMissing(tx, userId, conversationId)
        await this.#insertRun(tx, conversationId, run, position, null)
        return position
      })
      .catch((error: unknown) => {
        if (error instanceof Duplicate) return DUPLICATE
        throw error
      })
    return this.#timer.time('messages.startRun', started)
  }

  /** The run's row; a key another run of this conversation came with rolls the transaction back. */
  async #insertRun(tx: Db, conversationId: string, run: NewRun, questionPosition: number, answerPosition: number | null): Promise<void> {
    const inserted = await tx
      .insert(runs)
      .values({ id: run.id, conversationId, questionPosition, answerPosition, council: run.council, idempotencyKey: run.idempotencyKey, requestHash: run.requestHash })
      .onConflictDoNothing({ target: [runs.conversationId, runs.idempotencyKey] })
      .returning({ id: runs.id })
    if (inserted.length === 0) throw new Duplicate()
  }

  /** Marks the run ended, in the transaction that stores its answer. */
  async #endRun(tx: Db, run: RunEnd, answerPosition: number | null): Promise<void> {
    await tx
      .update(runs)
      .set({ state: run.state, endedAt: sql`now()`, ...(answerPosition === null ? {} : { answerPosition }) })
      .where(eq(runs.id, run.id))
  }

  /**
   * A retry's run, of the answer at `answerPosition`, when no other run holds the conversation: `busy`
   * when one does, null when it is not the user's.
   */
  takeRun(userId: string, conversationId: string, leaseMs: number, run: NewRun, questionPosition: number, answerPosition: number): Promise<true | 'busy' | null> {
    return this.#timer.time(
      'messages.takeRun',
      this.#db.transaction(async (tx) => {
        const [taken] = await tx
          .update(conversations)
          .set({ runStartedAt: sql`now()` })
          .where(and(byIdAndOwner(userId, conversationId), this.#free(leaseMs)))
          .returning({ id: conversations.id })
        if (!taken) return this.#busyOrMissing(tx, userId, conversationId)
        await this.#insertRun(tx, conversationId, run, questionPosition, answerPosition)
        return true as const
      })
    )
  }

  /**
   * Stores a follow-up (facts or answers for the council, no run): `busy` while a run holds the
   * conversation, so it never lands between a question and its answer; null when not the user's.
   */
  appendFollowUp(userId: string, conversationId: string, content: string, leaseMs: number): Promise<number | 'busy' | null> {
    return this.#timer.time(
      'messages.appendFollowUp',
      this.#db.transaction(async (tx) => {
        const position = await this.#append(tx, userId, conversationId, { role: 'user', kind: 'follow_up', content }, null, this.#free(leaseMs))
        return position ?? this.#busyOrMissing(tx, userId, conversationId)
      })
    )
  }

  /** The messages before `position`, as a run's context reads them: newest last, at most HISTORY_MESSAGES. */
  async history(conversationId: string, position: number): Promise<PastMessage[]> {
    const rows = await this.#timer.time('messages.history', this.#history.execute({ conversationId, position }))
    return rows.reverse().map((row): PastMessage =>
      row.role === 'user'
        ? { role: 'user', kind: row.kind ?? 'question', content: row.content ?? '' }
        : { role: 'assistant', failed: row.status === 'failed' || row.final === null, final: row.final }
    )
  }

  /** The answer at `position` and the question before it, for a retry; null when there is no such answer of the user's. */
  async retryTarget(userId: string, conversationId: string, position: number): Promise<RetryTarget | null> {
    const owned = exists(this.#db.select({ id: conversations.id }).from(conversations).where(byIdAndOwner(userId, conversationId)))
    const rows = await this.#timer.time(
      'messages.retryTarget',
      this.#db
        .select()
        .from(messages)
        .where(and(eq(messages.conversationId, conversationId), lt(messages.position, position + 1), owned))
        .orderBy(desc(messages.position))
        // The answer, then back to its question: follow-ups never sit between the two.
        .limit(2)
    )
    const [answer, question] = rows
    if (!answer || answer.position !== position || answer.role !== 'assistant' || !question || question.role !== 'user' || question.kind) return null
    return {
      question: question.content ?? '',
      questionPosition: question.position,
      answer: { stage1: answer.stage1, stage2: answer.stage2, stage3: answer.stage3, metadata: answer.metadata }
    }
  }

  /** Puts a retried answer in place of the stored one and ends the run; false when the conversation was deleted meanwhile. */
  replaceAnswer(userId: string, conversationId: string, position: number, answer: AssistantStages, run: RunEnd): Promise<boolean> {
    const { stage1, stage2, stage3, metadata } = storable(answer)
    return this.#timer.time(
      'messages.replaceAnswer',
      this.#db.transaction(async (tx) => {
        const [held] = await tx
          .update(conversations)
          .set({ runStartedAt: null })
          .where(byIdAndOwner(userId, conversationId))
          .returning({ id: conversations.id })
        if (!held) return false
        await tx
          .update(messages)
          .set({ stage1, stage2, stage3, metadata })
          .where(and(eq(messages.conversationId, conversationId), eq(messages.position, position), eq(messages.role, 'assistant')))
        await this.#endRun(tx, run, position)
        return true
      })
    )
  }

  /** Stores the answer and ends the run; its position, or null when the conversation was deleted meanwhile. */
  appendAnswer(userId: string, conversationId: string, answer: AssistantStages, run: RunEnd): Promise<number | null> {
    const { stage1, stage2, stage3, metadata } = answer
    return this.#timer.time(
      'messages.appendAnswer',
      this.#db.transaction(async (tx) => {
        const position = await this.#append(tx, userId, conversationId, { role: 'assistant', stage1, stage2, stage3, metadata }, null)
        await this.#endRun(tx, run, position)
        return position
      })
    )
  }

  /** Ends a run that stored no answer, so the conversation takes questions again. */
  async endRun(userId: string, conversationId: string, run: RunEnd): Promise<void> {
    await this.#timer.time(
      'messages.endRun',
      this.#db.transaction(async (tx) => {
        await tx.update(conversations).set({ runStartedAt: null }).where(byIdAndOwner(userId, conversationId))
        await this.#endRun(tx, run, null)
      })
    )
  }

  /** The answer stored at `position` of the user's conversation; null when there is none. */
  async answerAt(userId: string, conversationId: string, position: number): Promise<AssistantStages | null> {
    const owned = exists(this.#db.select({ id: conversations.id }).from(conversations).where(byIdAndOwner(userId, conversationId)))
    const [row] = await this.#timer.time(
      'messages.answerAt',
      this.#db
        .select({ stage1: messages.stage1, stage2: messages.stage2, stage3: messages.stage3, metadata: messages.metadata })
        .from(messages)
        .where(and(eq(messages.conversationId, conversationId), eq(messages.position, position), eq(messages.role, 'assistant'), owned))
    )
    return row ?? null
  }

  /** After a refusal to take a run: `busy` when the conversation is the user's (a run holds it), null when it is not. */
  async #busyOrMissing(db: Db, userId: string, conversationId: string): Promise<'busy' | null> {
    const [owned] = await db.select({ id: conversations.id }).from(conversations).where(byIdAndOwner(userId, conversationId))
    return owned ? 'busy' : null
  }

  /** No run holds the conversation: none started, or the one that did is older than its lease (its server died). */
  #free(leaseMs: number): SQL {
    return sql`(${conversations.runStartedAt} is null or ${conversations.runStartedAt} < now() - ${leaseMs} * interval '1 millisecond')`
  }

  // The UPDATE takes the conversation's row lock until the transaction ends, so appends arriving
  // together get positions one at a time, never collide or reorder, and never land in a foreign conversation.
  async #append(tx: Db, userId: string, conversationId: string, message: NewMessage, runStartedAt: SQL | null | undefined, onlyIf?: SQL): Promise<number | null> {
    const [slot] = await tx
      .update(conversations)
      .set({ messageCount: sql`${conversations.messageCount} + 1`, updatedAt: sql`now()`, runStartedAt })
      .where(and(byIdAndOwner(userId, conversationId), onlyIf))
      .returning({ position: sql<number>`${conversations.messageCount} - 1` })
    if (!slot) return null
    await tx.insert(messages).values({ ...storable(message), conversationId, position: slot.position })
    return slot.position
  }
}
