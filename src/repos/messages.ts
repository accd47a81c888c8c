import { and, eq, sql } from 'drizzle-orm'
import type { AssistantStages } from '../council/types.ts'
import { storable } from '../db/json.ts'
import { conversations, messages } from '../db/schema.ts'
import { UNTIMED, type QueryTimer } from '../db/slow-queries.ts'
import type { Db } from '../db/types.ts'

type NewMessage = { role: 'user'; content: string } | ({ role: 'assistant' } & AssistantStages)

/** Appends messages to a user's conversation. */
export class MessagesRepo {
  #db: Db
  #timer: QueryTimer

  constructor(db: Db, timer: QueryTimer = UNTIMED) {
    this.#db = db
    this.#timer = timer
  }

  /** Stores the user's message; its position, or null when the conversation is not the user's. */
  appendUser(userId: string, conversationId: string, content: string): Promise<number | null> {
    return this.#timer.time('messages.appendUser', this.#append(userId, conversationId, { role: 'user', content }))
  }

  appendAssistant(userId: string, conversationId: string, answer: AssistantStages): Promise<number | null> {
    const { stage1, stage2, stage3, metadata } = answer
    return this.#timer.time(
      'messages.appendAssistant',
      this.#append(userId, conversationId, { role: 'assistant', stage1, stage2, stage3, metadata })
    )
  }

  // The UPDATE takes the conversation's row lock until the transaction ends, so appends arriving
  // together get positions one at a time, never collide or reorder, and never land in a foreign conversation.
  #append(userId: string, conversationId: string, message: NewMessage): Promise<number | null> {
    return this.#db.transaction(async (tx) => {
      const [slot] = await tx
        .update(conversations)
        .set({ messageCount: sql`${conversations.messageCount} + 1`, updatedAt: sql`now()` })
        .where(and(eq(conversations.id, conversationId), eq(conversations.userId, userId)))
        .returning({ position: sql<number>`${conversations.messageCount} - 1` })
      if (!slot) return null
      await tx.insert(messages).values({ ...storable(message), conversationId, position: slot.position })
      return slot.position
    })
  }
}
