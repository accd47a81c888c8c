import { type SQL, and, eq, sql } from 'drizzle-orm'
import type { AssistantStages } from '../council/types.ts'
import { storable } from '../db/json.ts'
import { conversations, messages } from '../db/schema.ts'
import { UNTIMED, type QueryTimer } from '../db/slow-queries.ts'
import type { Db } from '../db/types.ts'

const byIdAndOwner = (userId: string, conversationId: string) => and(eq(conversations.id, conversationId), eq(conversations.userId, userId))

type NewMessage = { role: 'user'; content: string } | ({ role: 'assistant' } & AssistantStages)

/** Appends messages to a user's conversation. */
export class MessagesRepo {
  #db: Db
  #timer: QueryTimer

  constructor(db: Db, timer: QueryTimer = UNTIMED) {
    this.#db = db
    this.#timer = timer
  }

  /**
   * Starts a council run: stores the user's question and marks the conversation as running, in one
   * transaction. Its position; `busy` when another run holds the conversation (one that started less
   * than `leaseMs` ago: a run whose server died frees it after that); null when the conversation is
   * not the user's.
   */
  startRun(userId: string, conversationId: string, content: string, leaseMs: number): Promise<number | 'busy' | null> {
    // One conditional UPDATE takes the run: a concurrent one waits on the row lock, then finds the run
    // taken. Only a refusal needs a second look, to tell "busy" from "not yours".
    const free = sql`(${conversations.runStartedAt} is null or ${conversations.runStartedAt} < now() - ${leaseMs} * interval '1 millisecond')`
    return this.#timer.time(
      'messages.startRun',
      this.#db.transaction(async (tx) => {
        const position = await this.#append(tx, userId, conversationId, { role: 'user', content }, sql`now()`, free)
        if (position !== null) return position
        const [owned] = await tx.select({ id: conversations.id }).from(conversations).where(byIdAndOwner(userId, conversationId))
        return owned ? 'busy' : null
      })
    )
  }

  /** Stores the answer and ends the run; its position, or null when the conversation was deleted meanwhile. */
  appendAnswer(userId: string, conversationId: string, answer: AssistantStages): Promise<number | null> {
    const { stage1, stage2, stage3, metadata } = answer
    return this.#timer.time(
      'messages.appendAnswer',
      this.#db.transaction((tx) => this.#append(tx, userId, conversationId, { role: 'assistant', stage1, stage2, stage3, metadata }, null))
    )
  }

  /** Ends a run that stored no answer, so the conversation takes questions again. */
  async endRun(userId: string, conversationId: string): Promise<void> {
    await this.#timer.time(
      'messages.endRun',
      this.#db
        .update(conversations)
        .set({ runStartedAt: null })
        .where(byIdAndOwner(userId, conversationId))
    )
  }

  // The UPDATE takes the conversation's row lock until the transaction ends, so appends arriving
  // together get positions one at a time, never collide or reorder, and never land in a foreign conversation.
  async #append(tx: Db, userId: string, conversationId: string, message: NewMessage, runStartedAt: SQL | null, onlyIf?: SQL): Promise<number | null> {
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
