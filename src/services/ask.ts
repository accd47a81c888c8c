import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../config.ts'
import type { LlmClient } from '../council/client.ts'
import { type CouncilAnswer, type CouncilEvent, CouncilFailedError, generateTitle, runCouncil } from '../council/council.ts'
import type { ModelError } from '../db/stages.ts'
import { HttpError, notFound } from '../errors.ts'
import type { ConversationsRepo } from '../repos/conversations.ts'
import type { MessagesRepo } from '../repos/messages.ts'

export type AskEvent = CouncilEvent | { type: 'title_complete'; data: { title: string } } | { type: 'complete' }

export interface AskDeps {
  conversations: ConversationsRepo
  messages: MessagesRepo
  client: LlmClient
  llm: Pick<Config['llm'], 'councilModels' | 'chairmanModel' | 'titleModel'>
}

/** A question accepted for a conversation: its user message is stored; `finish` runs the council. */
export interface AskRun {
  finish(onEvent?: (event: AskEvent) => void): Promise<CouncilAnswer>
}

/**
 * Asking the council, for both transports: check the conversation, store the user's message, run the
 * three stages (no transaction is open while models think), store the answer, title a first message.
 */
export class AskService {
  #deps: AskDeps

  constructor(deps: AskDeps) {
    this.#deps = deps
  }

  async start(userId: string, conversationId: string, question: string, log: FastifyBaseLogger): Promise<AskRun> {
    const { conversations, messages } = this.#deps
    if (!(await conversations.exists(userId, conversationId))) throw notFound('conversation not found')
    const position = await messages.appendUser(userId, conversationId, question)
    // Deleted between the check and the append.
    if (position === null) throw notFound('conversation not found')
    return { finish: (onEvent = () => {}) => this.#finish(userId, conversationId, question, position === 0, onEvent, log) }
  }

  async #finish(
    userId: string,
    conversationId: string,
    question: string,
    isFirst: boolean,
    onEvent: (event: AskEvent) => void,
    log: FastifyBaseLogger
  ): Promise<CouncilAnswer> {
    const { conversations, messages, client, llm } = this.#deps
    const title = isFirst ? generateTitle(question, client, llm.titleModel) : null
    const storeTitle = async () => {
      if (!title) return
      const { title: text, error } = await title
      if (error) logModelErrors(log, [error])
      await conversations.rename(userId, conversationId, text)
      onEvent({ type: 'title_complete', data: { title: text } })
    }

    let answer: CouncilAnswer
    try {
      answer = await runCouncil(question, { client, councilModels: llm.councilModels, chairmanModel: llm.chairmanModel, onEvent })
    } catch (error) {
      if (!(error instanceof CouncilFailedError)) throw error
      logModelErrors(log, error.errors)
      await storeTitle()
      throw new HttpError(502, `The council could not answer: ${error.message}`, { body: { errors: error.errors } })
    }
    logModelErrors(log, answer.metadata.errors)
    const stored = await messages.appendAssistant(userId, conversationId, answer)
    if (stored === null) log.warn({ conversationId }, 'conversation deleted while the council ran; answer not stored')
    else await storeTitle()
    onEvent({ type: 'complete' })
    return answer
  }
}

function logModelErrors(log: FastifyBaseLogger, errors: ModelError[]): void {
  for (const error of errors) log.warn({ modelError: error }, `model call failed: ${error.model} (${error.stage})`)
}
