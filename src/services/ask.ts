import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../config.ts'
import type { LlmClient } from '../council/client.ts'
import { buildContext } from '../council/context.ts'
import { type CouncilAnswer, type CouncilEvent, type CouncilSettings, generateTitle, retryable, runCouncil, settingsOf } from '../council/council.ts'
import type { AssistantStages, CallUsage, ModelError } from '../council/types.ts'
import { totals } from '../council/usage.ts'
import { HttpError, notFound } from '../errors.ts'
import type { ConversationsRepo } from '../repos/conversations.ts'
import type { MessagesRepo } from '../repos/messages.ts'
import { type ConsumeResult, type UsageFigures, type UsageRepo, exhausted } from '../repos/usage.ts'
import { resolveCouncil } from './council-settings.ts'

export type AskEvent = CouncilEvent | { type: 'title_complete'; data: { title: string } } | { type: 'complete' }

export interface AskDeps {
  conversations: ConversationsRepo
  messages: MessagesRepo
  usage: UsageRepo
  client: LlmClient
  llm: Pick<
    Config['llm'],
    'titleModel' | 'timeoutMs' | 'presets' | 'allowedModels' | 'contextChars' | 'minAnswers' | 'excludeSelfVotes'
  >
}

/** A question accepted for a conversation: its user message is stored; `finish` runs the council. */
export interface AskRun {
  finish(onEvent?: (event: AskEvent) => void): Promise<CouncilAnswer>
}

/** What a run works on: a new question, or a stored answer to retry. */
interface RunPlan {
  question: string
  questionPosition: number
  /** Where the answer goes: appended after the question, or in place of the answer at this position. */
  answerPosition: number | null
  settings: CouncilSettings
  prior?: AssistantStages
}

/**
 * Asking the council, for both transports and for retries: check the conversation, take a unit of the
 * allowance, store the user's message (or take the conversation for a retry), run the stages (no
 * transaction is open while models think) and store the answer, failed or not. A run that produced no
 * answer gives its unit back; every call's tokens and cost go to the user's totals either way.
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
    const { messages } = this.#deps
    const { chosen, unit, refund } = await this.#admit(userId, conversationId, log)
    let position: number | 'busy' | null
    try {
      position = await messages.startRun(userId, conversationId, question, this.leaseMs)
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
      throw busy()
    }
    const plan: RunPlan = { question, questionPosition: position, answerPosition: null, settings: resolveCouncil(chosen, this.#deps.llm) }
    return { finish: (onEvent = () => {}) => this.#track(this.#finish(userId, conversationId, plan, onEvent, log), userId, conversationId, unit.day, log) }
  }

  /**
   * Runs again what failed in the answer at `position` and updates it in place: the members that did not
   * answer (and the reviews and synthesis that depend on them), else the reviewers that failed, else the
   * chairman; with the council that answer recorded. An answer with nothing in stage 1 is asked again in
   * full, by the conversation's council now. 409 when the answer has nothing to retry.
   */
  async retry(userId: string, conversationId: string, position: number, log: FastifyBaseLogger): Promise<CouncilAnswer> {
    const { messages, llm } = this.#deps
    if (this.#draining) throw shuttingDown()
    const target = await messages.retryTarget(userId, conversationId, position)
    if (!target) throw notFound(`this conversation has no answer at position ${position}`)
    if (!retryable(target.answer)) throw new HttpError(409, 'this answer is complete: there is nothing to retry')
    const { chosen, unit, refund } = await this.#admit(userId, conversationId, log)
    const taken = await messages.takeRun(userId, conversationId, this.leaseMs).catch(async (error: unknown) => {
      await refund()
      throw error
    })
    if (taken !== true) {
      await refund()
      throw taken === 'busy' ? busy() : notFound('conversation not found')
    }
    const work = async () => {
      // Read again under the run's hold: another retry may have finished since the first look.
      const held = await messages.retryTarget(userId, conversationId, position)
      if (!held || !retryable(held.answer)) throw new HttpError(409, 'this answer is complete: there is nothing to retry')
      const recorded = held.answer.metadata?.council
      const fresh = (held.answer.stage1 ?? []).length === 0 || !recorded
      const plan: RunPlan = {
        question: held.question,
        questionPosition: held.questionPosition,
        answerPosition: position,
        settings: fresh ? resolveCouncil(chosen, llm) : settingsOf(recorded),
        prior: held.answer
      }
      return this.#finish(userId, conversationId, plan, () => {}, log)
    }
    return this.#track(work(), userId, conversationId, unit.day, log)
  }

  /** The checks and the allowance every run passes first: the conversation's council, and a unit taken. */
  async #admit(userId: string, conversationId: string, log: FastifyBaseLogger) {
    if (this.#draining) throw shuttingDown()
    const { conversations, usage } = this.#deps
    const found = await conversations.council(userId, conversationId)
    if (!found) throw notFound('conversation not found')
    const unit = await usage.consume(userId)
    if (!unit.granted) throw await this.#limitReached(userId, unit)
    const refund = () =>
      usage.refund(userId, unit.day).catch((error: unknown) => log.error({ err: error, userId }, 'refund failed'))
    return { chosen: found.council, unit, refund }
  }

  /** 429 for the query limits, or for the tier's monthly cost budget when no query limit is reached. */
  async #limitReached(userId: string, unit: ConsumeResult): Promise<HttpError> {
    if (exhausted(unit.usage)) return limitReached(unit)
    const { month } = await this.#deps.usage.tokens(userId)
    const budget = this.#deps.usage.costLimit(unit.usage.tier)
    return new HttpError(
      429,
      `monthly cost budget of ${budget} reached (${unit.usage.tier} tier, ${month.cost} spent); it resets at ${unit.usage.monthly_resets_at}`,
      { headers: { 'retry-after': secondsUntil(unit.usage.monthly_resets_at, unit.now) }, body: { usage: unit.usage, code: 'COST_BUDGET_REACHED' } }
    )
  }

  /** Keeps a run for shutdown to wait on; one that fails without an answer gives its unit back and frees the conversation. */
  #track(work: Promise<CouncilAnswer>, userId: string, conversationId: string, day: string, log: FastifyBaseLogger): Promise<CouncilAnswer> {
    const { messages, usage } = this.#deps
    const run = work.catch(async (error: unknown) => {
      await Promise.all([
        usage.refund(userId, day).catch((refundError: unknown) => log.error({ err: refundError, userId }, 'refund failed')),
        messages.endRun(userId, conversationId).catch((endError: unknown) => log.error({ err: endError }, 'could not end the run'))
      ])
      throw this.#stop.signal.aborted ? shuttingDown() : error
    })
    this.#running.add(run)
    const forget = () => this.#running.delete(run)
    run.then(forget, forget)
    return run
  }

  /** How long a run holds its conversation at most: every stage's model calls timing out, the chairman's stand-ins too. */
  get leaseMs(): number {
    return this.#deps.llm.timeoutMs * 5 + 60_000
  }

  async #finish(userId: string, conversationId: string, plan: RunPlan, onEvent: (event: AskEvent) => void, log: FastifyBaseLogger): Promise<CouncilAnswer> {
    const { conversations, messages, usage, client, llm } = this.#deps
    const { question, questionPosition } = plan
    const signal = this.#stop.signal
    const calls: CallUsage[] = []
    const past = questionPosition === 0 ? [] : await messages.history(conversationId, questionPosition)
    // A conversation's first question titles it (follow-ups sent before it do not count).
    const first = plan.answerPosition === null && !past.some((message) => message.role === 'user' && message.kind === 'question')
    const title = first ? generateTitle(question, client, llm.titleModel, signal) : null
    const storeTitle = async () => {
      if (!title) return
      const { title: text, error, call } = await title
      calls.push(call)
      if (error) logModelErrors(log, [error])
      // A rename made while the council ran wins over the generated title.
      if (await conversations.setGeneratedTitle(userId, conversationId, text)) onEvent({ type: 'title_complete', data: { title: text } })
    }

    // Which question this answers, in the stored answer itself (and so in stage3_complete's metadata).
    const emit = (event: AskEvent) => {
      if (event.type === 'stage3_complete') event.metadata.question_position = questionPosition
      onEvent(event)
    }
    const context = buildContext(past, llm.contextChars)
    const answer = await runCouncil(question, { client, settings: plan.settings, context, onEvent: emit, signal }, plan.prior)
    answer.metadata.question_position = questionPosition
    const made = answer.metadata.calls.filter((call) => call.attempt === answer.metadata.attempts)
    logModelErrors(log, answer.metadata.errors.filter((error) => made.some((call) => call.failed && call.model === error.model && call.stage === error.stage)))
    calls.push(...made)

    const stored =
      plan.answerPosition === null
        ? (await messages.appendAnswer(userId, conversationId, answer)) !== null
        : await messages.replaceAnswer(userId, conversationId, plan.answerPosition, answer)
    await storeTitle()
    await usage.addTokens(userId, totals(calls)).catch((error: unknown) => log.error({ err: error, userId }, 'could not add the run\'s tokens to the user\'s totals'))
    if (!stored) throw notFound('the conversation was deleted while the council answered; the answer was not stored')
    if (answer.metadata.status === 'failed') {
      if (signal.aborted) throw shuttingDown()
      const position = plan.answerPosition ?? questionPosition + 1
      throw new HttpError(502, `The council could not answer: ${failureSummary(answer)}`, {
        body: { errors: answer.metadata.errors, position }
      })
    }
    onEvent({ type: 'complete' })
    return answer
  }
}

const busy = () =>
  new HttpError(409, 'the council is still answering the previous question in this conversation; ask again when it has answered')

function failureSummary({ stage1, metadata }: CouncilAnswer): string {
  const { models, min_answers } = metadata.council
  const reason =
    stage1.length === 0
      ? 'every council model failed'
      : stage1.length < min_answers
        ? `only ${stage1.length} of ${models.length} council models answered (at least ${min_answers} are needed)`
        : 'the chairman and its stand-ins failed'
  return `${reason}: ${metadata.errors.map((e) => `${e.model} (${e.status ?? 'no response'}: ${e.message})`).join('; ')}`
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
  return new HttpError(429, limitMessage(usage, monthlyOut), {
    headers: { 'retry-after': secondsUntil(resetsAt, now) },
    body: { usage }
  })
}

/** Retry-After: whole seconds from the database's `now` until `time`, at least 1. */
function secondsUntil(time: string | number, now: string): string {
  return String(Math.max(1, Math.ceil(((typeof time === 'number' ? time : Date.parse(time)) - Date.parse(now)) / 1000)))
}

function limitMessage(usage: UsageFigures, monthly: boolean): string {
  return monthly
    ? `monthly limit of ${usage.monthly_limit} queries reached (${usage.tier} tier); it resets at ${usage.monthly_resets_at}`
    : `daily limit of ${usage.daily_limit} queries reached (${usage.tier} tier); it resets at ${usage.daily_resets_at}`
}

function logModelErrors(log: FastifyBaseLogger, errors: ModelError[]): void {
  for (const error of errors) log.warn({ modelError: error }, `model call failed: ${error.model} (${error.stage})`)
}
