import { sql } from 'drizzle-orm'
import { replaceNul, toJsonb } from '../db/json.ts'
import { queryRows } from '../db/sql.ts'
import type { AssistantMetadata, Stage1Result, Stage2Result, Stage3Result } from '../db/stages.ts'
import type { Db } from '../db/types.ts'

export interface AssistantContent {
  stage1: Stage1Result[]
  stage2: Stage2Result[]
  stage3: Stage3Result
  metadata: AssistantMetadata | null
}

/** Appends messages to a user's conversation. */
export class MessagesRepo {
  #db: Db

  constructor(db: Db) {
    this.#db = db
  }

  /** Stores the user's message; its position, or null when the conversation is not the user's. */
  appendUser(userId: string, conversationId: string, content: string): Promise<number | null> {
    return this.#append(userId, conversationId, sql`'user', ${replaceNul(content)}, null, null, null, null`)
  }

  appendAssistant(userId: string, conversationId: string, message: AssistantContent): Promise<number | null> {
    return this.#append(
      userId,
      conversationId,
      sql`'assistant', null, ${toJsonb(message.stage1)}::jsonb, ${toJsonb(message.stage2)}::jsonb,
        ${toJsonb(message.stage3)}::jsonb, ${toJsonb(message.metadata)}::jsonb`
    )
  }

  // One statement: the row lock taken by the UPDATE hands out positions one at a time, so appends
  // arriving together never collide or reorder, and a message never lands in a foreign conversation.
  async #append(userId: string, conversationId: string, values: ReturnType<typeof sql>): Promise<number | null> {
    const [row] = await queryRows<{ position: number }>(
      this.#db,
      sql`with slot as (
            update conversations
               set message_count = message_count + 1, updated_at = now()
             where id = ${conversationId} and user_id = ${userId}
         returning id, message_count - 1 as position
          )
          insert into messages (conversation_id, position, role, content, stage1, stage2, stage3, metadata)
          select slot.id, slot.position, ${values} from slot
          returning position`
    )
    return row ? Number(row.position) : null
  }
}
