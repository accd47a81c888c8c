import { randomUUID } from 'node:crypto'
import type { Db } from '../../src/db/types.ts'
import { type ImportConversation, TransferRepo } from '../../src/repos/transfer.ts'

export interface Exchange {
  question: string
  answer?: string
  council?: string[]
}

/** Stores a conversation of `exchanges` for `userId` as an import would, updated at `updatedAt`; its id. */
export async function storeConversation(db: Db, userId: string, title: string, exchanges: Exchange[], updatedAt = new Date().toISOString()): Promise<string> {
  const id = randomUUID()
  const conversation: ImportConversation = {
    kind: 'conversation',
    id,
    sourceId: null,
    userId,
    title,
    starred: false,
    createdAt: updatedAt,
    updatedAt,
    replacedCharacters: 0,
    messages: exchanges.flatMap(({ question, answer, council }) => [
      { role: 'user' as const, content: question },
      {
        role: 'assistant' as const,
        stage1: (council ?? []).map((response, i) => ({ model: `m/${i}`, response })),
        stage2: [],
        stage3: answer === undefined ? null : { model: 'm/chair', response: answer },
        metadata: null
      }
    ])
  }
  await new TransferRepo(db).createConversation(conversation)
  return id
}
