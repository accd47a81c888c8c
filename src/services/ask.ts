import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../config.ts'
import type { LlmClient } from '../council/client.ts'
import { type CouncilAnswer, type CouncilEvent, CouncilFailedError, generateTitle, runCouncil } from '../council/council.ts'
import type { ModelError } from '../council/types.ts'
import { HttpError, notFound } from '../errors.ts'
import type { ConversationsRepo } from '../repos/conversations.ts'
import type { MessagesRepo } from '../repos/messages.ts'
import { type ConsumeResult, type UsageFigures, type UsageRepo, exhausted } from '../repos/usage.ts'

export type AskEvent = CouncilEvent | { type: 'title_complete'; data: { title: string } } | { type: 'complete' }

export interface AskDeps {
  conversations: ConversationsRepo
  messages: MessagesRepo
  usage: UsageRepo
  client: LlmClient
  llm: Pick<Config['llm'], 'councilModels' | 'chairmanModel' | 'titleModel' | 'timeoutMs'>
}

/** A question accepted for a conversation: its user message is stored; `finish` runs the council. */
export interface AskRun {
  finish(onEvent?: (event: AskEvent) => void): Promise<CouncilAnswer>
}

/**
 * Asking the council, for both transports: check the conversation, take a unit of the allowance,
 * store the user's message, run the three stages (no transaction is open while models think), store
 * the answer and title a first message; a question that got no answer gives its unit back.
 */
export class AskService {
  #deps: AskDeps
  #running = new Set<Promise<unknown>>()
  // Aborted when shutdown's grace period runs out: model calls stop and runs end with an error.
  #stop = new AbortController()
  #draining = false

  constructor(deps: AskDeps) {
    this.#deps = deps
  }

  /**
   * Shutdown: no new questions; runs under way may finish within `graceMs`, after which they are
   * stopped and end with "server shutting down" (their units given back). Resolves when none is left.
   */
  async drain(graceMs: number, log: FastifyBaseLogger): Promise<void> {
    this.#draining = true
    if (this.#running.size === 0) return
    log.info(`waiting up to ${graceMs} ms for ${this.#running.size} council run(s) to finish`)
    let timer: NodeJS.Timeout | undefined
    const expired = new Promise<'expired'>((resolve) => (timer = setTimeout(() => resolve('expired'), graceMs)))
    const outcome = await Promise.race([Promise.allSettled([...this.#running]), expired])
    clearTimeout(timer)
    if (outcome === 'expired') {
      log.warn(`grace period over: stopping ${this.#running.size} council run(s)`)
      this.#stop.abort()
      await Promise.allSettled([...this.#running])
    }
  }

  async start(userId: string, conversationId: string, question: string, log: FastifyBaseLogger): Promise<AskRun> {
    if (this.#draining) throw shuttingDown()
    const { conversations, messages, usage } = this.#deps
    if (!(await conversations.exists(userId, conversationId))) throw notFound('conversation not found')
    const unit = await usage.consume(userId)
    if (!unit.granted) throw limitReached(unit)
    const refund = () =>
      usage.refund(userId, unit.day).catch((error: unknown) => log.error({ err: error, userId }, 'refund failed'))

    let position: number | 'busy' | null
    try {
      position = await messages.startRun(userId, conversationId, question, this.#leaseMs)
    } catch (error) {
      await refund()
      throw error
    }
    if (position === null) {
      // Deleted between the check and the append.
      await refund()
      throw notFound('conversation not found')
    }
    if (position === 'busy') {
      await refund()
      throw new HttpError(409, 'the council is still answering the previous question in this conversation; ask again when it has answered')
    }
    const questionPosition = position
    return {
      finish: (onEvent = () => {}) => {
        const run = this.#finish(userId, conversationId, question, questionPosition, onEvent, log).catch(async (error: unknown) => {
          await Promise.all([
            refund(),
            messages.endRun(userId, conversationId).catch((endError: unknown) => log.error({ err: endError }, 'could not end the run'))
          ])
          throw this.#stop.signal.aborted ? shuttingDown() : error
        })
        this.#running.add(run)
        const forget = () => this.#running.delete(run)
        run.then(forget, forget)
        return run
      }
    }
  }

  /** How long a run holds its conversation at most: every stage's model calls timing out, the chairman's stand-in too. */
  get #leaseMs(): number {
    return this.#deps.llm.timeoutMs * 4 + 60_000
  }

  async #finish(
    userId: string,
    conversationId: string,
    question: string,
    questionPosition: number,
    onEvent: (event: AskEvent) => void,
    log: FastifyBaseLogger
  ): Promise<CouncilAnswer> {
    const { conversations, messages, client, llm } = this.#deps
    const signal = this.#stop.signal
    const title = questionPosition === 0 ? generateTitle(question, client, llm.titleModel, signal) : null
    const storeTitle = async () => {
      if (!title) return
      const { title: text, error } = await title
      if (error) logModelErrors(log, [error])
      // A rename made while the council ran wins over the generated title.
      if (await conversations.setGeneratedTitle(userId, conversationId, text)) onEvent({ type: 'title_complete', data: { title: text } })
    }

    let answer: CouncilAnswer
    try {
      // Which question this answers, in the stored answer itself (and so in stage3_complete's metadata).
      const emit = (event: AskEvent) => {
        if (event.type === 'stage3_complete') event.metadata.question_position = questionPosition
        onEvent(event)
      }
      answer = await runCouncil(question, { client, councilModels: llm.councilModels, chairmanModel: llm.chairmanModel, onEvent: emit, signal })
    } catch (error) {
      if (!(error instanceof CouncilFailedError) || signal.aborted) throw error
      logModelErrors(log, error.errors)
      await storeTitle()
      throw new HttpError(502, `The council could not answer: ${error.message}`, { body: { errors: error.errors } })
    }
    logModelErrors(log, answer.metadata.errors)
    answer.metadata.question_position = questionPosition
    const stored = await messages.appendAnswer(userId, conversationId, answer)
    if (stored === null) throw notFound('the conversation was deleted while the council answered; the answer was not stored')
    await storeTitle()
    onEvent({ type: 'complete' })
    return answer
  }
}

const shuttingDown = () => new HttpError(503, 'server shutting down', { headers: { 'retry-after': '5' } })

/** 429 with the figures and the seconds until a reset frees a unit. */
export function limitReached({ usage, now }: ConsumeResult): HttpError {
  const out = exhausted(usage)
  const monthlyOut = out?.monthly ?? false
  const resetsAt = Math.max(
    out?.daily ? Date.parse(usage.daily_resets_at) : 0,
    monthlyOut ? Date.parse(usage.monthly_resets_at) : 0
  )
  const retryAfter = Math.max(1, Math.ceil((resetsAt - Date.parse(now)) / 1000))
  return new HttpError(429, limitMessage(usage, monthlyOut), {
    headers: { 'retry-after': String(retryAfter) },
    body: { usage }
  })
}

function limitMessage(usage: UsageFigures, monthly: boolean): string {
  return monthly
    ? `monthly limit of ${usage.monthly_limit} queries reached (${usage.tier} tier); it resets at ${usage.monthly_resets_at}`
    : `daily limit of ${usage.daily_limit} queries reached (${usage.tier} tier); it resets at ${usage.daily_resets_at}`
}

function logModelErrors(log: FastifyBaseLogger, errors: ModelError[]): void {
  for (const error of errors) log.warn({ modelError: error }, `model call failed: ${error.model} (${error.stage})`)
}
